"""llama.cpp GGUF naming for each architecture family, on SYNTHETIC GGUF files written by the test."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from modeltrace import open_model

H, FF, VOCAB, HEADS, KV, EXPERTS = 64, 96, 50, 4, 2, 3
HD = H // HEADS


def _layer(arch: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    def w(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    t: dict[str, np.ndarray] = {}
    if arch in ("qwen3", "llama"):
        t |= {
            "attn_q": w(HEADS * HD, H),
            "attn_k": w(KV * HD, H),
            "attn_v": w(KV * HD, H),
            "attn_output": w(H, H),
            "attn_norm": w(H),
            "ffn_norm": w(H),
            "ffn_gate": w(FF, H),
            "ffn_up": w(FF, H),
            "ffn_down": w(H, FF),
        }
        if arch == "qwen3":
            t |= {"attn_q_norm": w(HD), "attn_k_norm": w(HD)}
    elif arch == "phi3":
        t |= {
            "attn_qkv": w((HEADS + 2 * KV) * HD, H),
            "attn_output": w(H, H),
            "attn_norm": w(H),
            "ffn_norm": w(H),
            "ffn_up": w(2 * FF, H),
            "ffn_down": w(H, FF),
        }
    elif arch == "gpt2":
        t |= {
            "attn_qkv": w(3 * H, H),
            "attn_output": w(H, H),
            "attn_norm": w(H),
            "ffn_norm": w(H),
            "ffn_up": w(FF, H),
            "ffn_down": w(H, FF),
        }
    elif arch in ("bert", "nomic-bert"):
        attn = (
            {"attn_qkv": w(3 * H, H)}
            if arch == "nomic-bert"
            else {"attn_q": w(H, H), "attn_k": w(H, H), "attn_v": w(H, H)}
        )
        t |= attn | {
            "attn_output": w(H, H),
            "attn_output_norm": w(H),
            "ffn_up": w(FF, H),
            "ffn_down": w(H, FF),
            "layer_output_norm": w(H),
        }
        if arch == "nomic-bert":
            t["ffn_gate"] = w(FF, H)
    elif arch == "qwen2moe":
        t |= {
            "attn_q": w(H, H),
            "attn_k": w(H, H),
            "attn_v": w(H, H),
            "attn_output": w(H, H),
            "attn_norm": w(H),
            "ffn_norm": w(H),
            "ffn_gate_inp": w(EXPERTS, H),
            "ffn_gate_exps": w(EXPERTS, FF, H),
            "ffn_up_exps": w(EXPERTS, FF, H),
            "ffn_down_exps": w(EXPERTS, H, FF),
        }
    return t


GLOBALS = {
    "qwen3": ("token_embd", "output_norm"),
    "llama": ("token_embd", "output_norm", "output"),
    "phi3": ("token_embd", "output_norm", "output"),
    "gpt2": ("token_embd", "position_embd", "output_norm"),
    "bert": ("token_embd", "token_types", "position_embd", "token_embd_norm"),
    "nomic-bert": ("token_embd", "token_types", "token_embd_norm"),
    "qwen2moe": ("token_embd", "output_norm", "output"),
}
EXPECTED = {
    "qwen3": {
        "attn.q",
        "attn.k",
        "attn.v",
        "attn.o",
        "attn.q_norm",
        "attn.k_norm",
        "attn_norm",
        "mlp_norm",
        "mlp.gate",
        "mlp.up",
        "mlp.down",
    },
    "llama": {
        "attn.q",
        "attn.k",
        "attn.v",
        "attn.o",
        "attn_norm",
        "mlp_norm",
        "mlp.gate",
        "mlp.up",
        "mlp.down",
    },
    "phi3": {
        "attn.q",
        "attn.k",
        "attn.v",
        "attn.o",
        "attn_norm",
        "mlp_norm",
        "mlp.gate",
        "mlp.up",
        "mlp.down",
    },
    "gpt2": {"attn.q", "attn.k", "attn.v", "attn.o", "attn_norm", "mlp_norm", "mlp.up", "mlp.down"},
    "bert": {
        "attn.q",
        "attn.k",
        "attn.v",
        "attn.o",
        "attn_residual_norm",
        "mlp.up",
        "mlp.down",
        "mlp_residual_norm",
    },
    "nomic-bert": {
        "attn.q",
        "attn.k",
        "attn.v",
        "attn.o",
        "attn_residual_norm",
        "mlp.gate",
        "mlp.up",
        "mlp.down",
        "mlp_residual_norm",
    },
    "qwen2moe": {"attn.q", "attn.k", "attn.v", "attn.o", "attn_norm", "mlp_norm", "moe.router"}
    | {f"moe.experts.{e}.{p}" for e in range(EXPERTS) for p in ("gate", "up", "down")},
}


def _write(path: Path, arch: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(2)
    writer.add_embedding_length(H)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV if arch in ("qwen3", "llama", "phi3") else HEADS)
    writer.add_feed_forward_length(FF)
    stored: dict[str, np.ndarray] = {}
    shapes = {"token_embd": (VOCAB, H), "output": (VOCAB, H), "position_embd": (32, H), "token_types": (2, H)}
    for name in GLOBALS[arch]:
        stored[f"{name}.weight"] = rng.standard_normal(shapes.get(name, (H,))).astype(np.float32)
    for layer in range(2):
        for name, value in _layer(arch, rng).items():
            stored[f"blk.{layer}.{name}.weight"] = value
    for name, value in stored.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return stored


@pytest.mark.parametrize("arch", sorted(EXPECTED))
def test_gguf_names_map_to_roles(arch: str, tmp_path: Path) -> None:
    stored = _write(tmp_path / f"{arch}.gguf", arch)
    with open_model(tmp_path / f"{arch}.gguf") as model:
        assert model.roles.unassigned == {}
        assert not model.roles.guessed
        for layer in range(2):
            assert {b.role for b in model.layer_roles(layer).values()} == EXPECTED[arch]
        if arch == "phi3":
            fused = stored["blk.1.ffn_up.weight"]
            np.testing.assert_array_equal(model.tensor("layers.1.mlp.gate.weight"), fused[:FF])
            np.testing.assert_array_equal(model.tensor("layers.1.mlp.up.weight"), fused[FF:])
        if arch == "qwen2moe":
            np.testing.assert_array_equal(
                model.tensor("layers.0.moe.experts.2.down.weight"), stored["blk.0.ffn_down_exps.weight"][2]
            )
            assert model.config.n_experts == EXPERTS
        if arch == "llama":
            # llama GGUF q/k rows are un-permuted; other architectures are left as stored.
            assert model.binding("layers.0.attn.q.weight").unpermute_heads == HEADS
        else:
            assert all(b.unpermute_heads is None for b in model.roles.bindings.values())
