"""The reference forward pass (:mod:`modeltrace.lineage.forward`) against independent numpy arithmetic.

``transformers`` is not a dependency, so the torch pass is checked against a second implementation
written here in plain numpy from the published definitions (RMSNorm, RoPE as rotations of the pairs
(i, i + d/2), grouped-query attention head by head, SwiGLU; BERT's post-LN block with erf-GELU), on
SYNTHETIC tiny models. One real-model test runs SmolLM2 (dequantised from the zoo's GGUF) on English
text and checks it predicts the next token far above chance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modeltrace.lineage.forward import (  # noqa: E402
    BERT,
    LLAMA,
    ForwardSpec,
    Tensors,
    bert_forward,
    canonical_tensors,
    layer_indices,
    max_output_change,
    outputs,
    spec_from_model,
)
from modeltrace.lineage.zoo_models import LlamaShape, gguf_tokenizer, init_llama, next_token_accuracy  # noqa: E402
from modeltrace.weights.model import open_model  # noqa: E402

SHAPE = LlamaShape(vocab=50, hidden=24, layers=2, heads=6, kv_heads=2, head_dim=4, mlp=40, rope_base=500.0)


def tiny_llama(seed: int = 0, tied: bool = True) -> Tensors:
    """SYNTHETIC: random weights (std 0.3, so attention is far from uniform) and random norm gains."""
    rng = np.random.default_rng(seed)
    tensors = init_llama(LlamaShape(**{**SHAPE.__dict__, "tied": tied}), seed, std=0.3)
    for name, value in tensors.items():
        if name.endswith("norm.weight"):
            tensors[name] = (1 + 0.3 * rng.standard_normal(value.shape)).astype(np.float32)
    return tensors


# ---------------------------------------------------------------------------------------------------
# numpy reference (written from the definitions, sharing no code with the module under test)
# ---------------------------------------------------------------------------------------------------


def np_rms(x: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * g


def np_rope(vec: np.ndarray, pos: int, base: float) -> np.ndarray:
    """Rotate the pair (i, i + d/2) of one head vector by pos·base^(−2i/d)."""
    d = len(vec)
    out = vec.copy()
    for i in range(d // 2):
        angle = pos * base ** (-2 * i / d)
        a, b = vec[i], vec[i + d // 2]
        out[i] = a * math.cos(angle) - b * math.sin(angle)
        out[i + d // 2] = a * math.sin(angle) + b * math.cos(angle)
    return out


def np_llama(t: Tensors, spec: ForwardSpec, ids: list[int]) -> np.ndarray:
    x = t["embed.tokens.weight"][ids].astype(np.float64)
    hd, group, n = spec.head_dim, spec.n_heads // spec.n_kv_heads, len(ids)
    for layer in layer_indices(t):
        p = f"layers.{layer}."
        h = np_rms(x, t[p + "attn_norm.weight"], spec.norm_eps)
        q, k, v = (h @ t[p + f"attn.{r}.weight"].T for r in "qkv")
        heads_out = []
        for head in range(spec.n_heads):
            kv = head // group
            qh = np.stack([np_rope(q[i, head * hd : (head + 1) * hd], i, spec.rope_base) for i in range(n)])
            kh = np.stack([np_rope(k[i, kv * hd : (kv + 1) * hd], i, spec.rope_base) for i in range(n)])
            scores = qh @ kh.T / math.sqrt(hd)
            scores[np.triu_indices(n, 1)] = -np.inf
            weights = np.exp(scores - scores.max(1, keepdims=True))
            weights /= weights.sum(1, keepdims=True)
            heads_out.append(weights @ v[:, kv * hd : (kv + 1) * hd])
        x = x + np.concatenate(heads_out, 1) @ t[p + "attn.o.weight"].T
        h = np_rms(x, t[p + "mlp_norm.weight"], spec.norm_eps)
        gate, up = h @ t[p + "mlp.gate.weight"].T, h @ t[p + "mlp.up.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ t[p + "mlp.down.weight"].T
    head = t.get("lm_head.weight", t["embed.tokens.weight"])
    return np.asarray(np_rms(x, t["final_norm.weight"], spec.norm_eps) @ head.T)


def np_layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * g + b


def np_bert(t: Tensors, spec: ForwardSpec, ids: list[int], types: list[int]) -> np.ndarray:
    erf = np.vectorize(math.erf)
    n, hd = len(ids), spec.head_dim
    x = t["embed.tokens.weight"][ids] + t["embed.positions.weight"][:n] + t["embed.token_types.weight"][types]
    x = np_layer_norm(x.astype(np.float64), t["embed.norm.weight"], t["embed.norm.bias"], spec.norm_eps)
    for layer in layer_indices(t):
        p = f"layers.{layer}."
        q, k, v = (x @ t[p + f"attn.{r}.weight"].T + t[p + f"attn.{r}.bias"] for r in "qkv")
        heads_out = []
        for head in range(spec.n_heads):
            cols = slice(head * hd, (head + 1) * hd)
            scores = q[:, cols] @ k[:, cols].T / math.sqrt(hd)
            weights = np.exp(scores - scores.max(1, keepdims=True))
            heads_out.append(weights / weights.sum(1, keepdims=True) @ v[:, cols])
        attn = np.concatenate(heads_out, 1) @ t[p + "attn.o.weight"].T + t[p + "attn.o.bias"]
        x = np_layer_norm(
            x + attn, t[p + "attn_residual_norm.weight"], t[p + "attn_residual_norm.bias"], spec.norm_eps
        )
        up = x @ t[p + "mlp.up.weight"].T + t[p + "mlp.up.bias"]
        mlp = (0.5 * up * (1 + erf(up / math.sqrt(2)))) @ t[p + "mlp.down.weight"].T + t[p + "mlp.down.bias"]
        x = np_layer_norm(
            x + mlp, t[p + "mlp_residual_norm.weight"], t[p + "mlp_residual_norm.bias"], spec.norm_eps
        )
    return np.asarray(x)


def tiny_bert(seed: int = 0) -> tuple[Tensors, ForwardSpec]:
    """SYNTHETIC: a 2-layer post-LN BERT with biases everywhere."""
    rng = np.random.default_rng(seed)
    d, ff, vocab = 24, 40, 50

    def normal(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    t: Tensors = {
        "embed.tokens.weight": normal(vocab, d),
        "embed.positions.weight": normal(16, d),
        "embed.token_types.weight": normal(2, d),
        "embed.norm.weight": 1 + normal(d, scale=0.1),
        "embed.norm.bias": normal(d, scale=0.1),
    }
    for i in range(2):
        p = f"layers.{i}."
        for r in ("q", "k", "v", "o"):
            t[p + f"attn.{r}.weight"], t[p + f"attn.{r}.bias"] = normal(d, d), normal(d, scale=0.1)
        t[p + "mlp.up.weight"], t[p + "mlp.up.bias"] = normal(ff, d), normal(ff, scale=0.1)
        t[p + "mlp.down.weight"], t[p + "mlp.down.bias"] = normal(d, ff), normal(d, scale=0.1)
        for norm in ("attn_residual_norm", "mlp_residual_norm"):
            t[p + norm + ".weight"], t[p + norm + ".bias"] = 1 + normal(d, scale=0.1), normal(d, scale=0.1)
    return t, ForwardSpec(BERT, 6, 6, 4, norm_eps=1e-12)


# ---------------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tied", [True, False])
def test_llama_matches_numpy_reference(tied: bool) -> None:
    tensors, spec = tiny_llama(tied=tied), SHAPE.spec()
    ids = [3, 17, 42, 8, 8, 1, 29]
    ours = outputs(tensors, spec, [ids])[0]
    reference = np_llama(tensors, spec, ids)
    assert np.abs(ours - reference).max() < 1e-4 * max(1.0, np.abs(reference).max())
    assert np.abs(reference).max() > 1.0  # the check is not vacuous: logits are not all near zero


def test_llama_is_causal_and_batch_independent() -> None:
    tensors, spec = tiny_llama(), SHAPE.spec()
    a, b = [5, 6, 7, 8, 9, 10], [5, 6, 7, 40, 41, 42]
    both = outputs(tensors, spec, [a, b])
    assert np.allclose(both[0, :3], both[1, :3], atol=1e-5)  # later tokens never change earlier logits
    assert not np.allclose(both[0, 3:], both[1, 3:], atol=1e-3)
    assert np.allclose(both[0], outputs(tensors, spec, [a])[0], atol=1e-5)


def test_layer_subset_runs_those_layers_only() -> None:
    tensors, spec = tiny_llama(), SHAPE.spec()
    first = {k: v for k, v in tensors.items() if not k.startswith("layers.1.")}
    ids = [1, 2, 3, 4]
    assert np.allclose(outputs(first, spec, [ids])[0], np_llama(first, spec, ids), atol=1e-4)


def test_bert_matches_numpy_reference() -> None:
    tensors, spec = tiny_bert()
    ids, types = [1, 7, 9, 22, 3], [0, 0, 1, 1, 1]
    ours = bert_forward(tensors, spec, torch.tensor([ids]), torch.tensor([types]))[0].numpy()
    assert np.abs(ours - np_bert(tensors, spec, ids, types)).max() < 1e-4


def test_bert_padding_is_masked() -> None:
    tensors, spec = tiny_bert()
    ids = torch.tensor([[1, 7, 9, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    padded = bert_forward(tensors, spec, ids, attention_mask=mask)[0, :3]
    short = bert_forward(tensors, spec, ids[:, :3])[0]
    assert torch.allclose(padded, short, atol=1e-5)


def test_spec_from_hf_folder_reads_rope_base(tmp_path: Path) -> None:
    from modeltrace.lineage.attacks import TokenList, write_hf_llama

    tensors, spec = tiny_llama(), SHAPE.spec()
    tokens = TokenList([f"t{i}" for i in range(SHAPE.vocab)], [1] * SHAPE.vocab)
    with open_model(write_hf_llama(tmp_path / "m", tensors, spec, tokens)) as model:
        assert spec_from_model(model) == spec
        assert np.allclose(
            outputs(canonical_tensors(model), spec, [[1, 2, 3]]), outputs(tensors, spec, [[1, 2, 3]])
        )


_TEXT = (
    "The quick brown fox jumps over the lazy dog. Paris is the capital of France, and Berlin is the "
    "capital of Germany. Water boils at 100 degrees Celsius at sea level. The United States declared "
    "independence in 1776. Python is a programming language that lets you work quickly and integrate "
    "systems more effectively."
)


@pytest.mark.real_model
@pytest.mark.slow
def test_smollm2_predicts_english(zoo_folder: Callable[[str], Path]) -> None:
    """REAL: SmolLM2-135M-Instruct, all 30 layers dequantised from Q4_1, on a short English text."""
    with open_model(zoo_folder("smollm2")) as model:
        spec = spec_from_model(model)
        assert spec == ForwardSpec(LLAMA, 9, 3, 64, rope_base=100000.0, norm_eps=spec.norm_eps)
        tensors = canonical_tensors(model)
        tokenizer = gguf_tokenizer(model)
    ids = np.asarray(tokenizer.encode(_TEXT))
    accuracy, loss = next_token_accuracy(tensors, spec, ids, length=len(ids) - 1, windows=1)
    # Chance is 1/49152; measured 0.52 top-1 (cross-entropy 2.76 nats).
    assert accuracy > 0.4 and loss < 3.5
    prompt = tokenizer.encode("The capital of France is")
    logits = outputs(tensors, spec, [prompt])[0, -1]
    assert tokenizer.decode([int(logits.argmax())]) == " Paris"


@pytest.mark.real_model
def test_byte_bpe_matches_hf_tokenizers(zoo_folder: Callable[[str], Path]) -> None:
    """REAL: our dependency-free BPE gives the ids Hugging Face ``tokenizers`` gives (when installed)."""
    tokenizers = pytest.importorskip("tokenizers")
    with open_model(zoo_folder("smollm2")) as model:
        meta = model.source.facts.metadata
        ours = gguf_tokenizer(model)
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    hf = tokenizers.Tokenizer(tokenizers.models.BPE({t: i for i, t in enumerate(ours.tokens)}, merges))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Sequence(
        [
            tokenizers.pre_tokenizers.Digits(individual_digits=True),
            tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    text = _TEXT + "\n\ndef f(x_1, y2=3.25):\n    return {'a': x_1 ** 2}  # it's done, isn't it?\n"
    assert ours.encode(text) == hf.encode(text).ids
    assert ours.decode(ours.encode(text)) == text


@pytest.mark.real_model
@pytest.mark.slow
def test_preserving_attacks_keep_smollm2_logits(zoo_folder: Callable[[str], Path]) -> None:
    """REAL: every function-preserving attack on SmolLM2's first 4 layers (of 30; the benchmark runs all
    30) moves no logit by 1e-3, evaluated in float32 and in float64."""
    from modeltrace.lineage.attacks import disguise, preserving_attacks

    with open_model(zoo_folder("smollm2")) as model:
        spec = spec_from_model(model)
        tensors = canonical_tensors(model, layers=range(4))
        ids = np.asarray(gguf_tokenizer(model).encode(_TEXT))[:48].reshape(2, 24)
    rng = np.random.default_rng(0)
    attacks = {**preserving_attacks(spec), "disguise": disguise}
    for name, attack in attacks.items():
        attacked = attack(tensors, spec, rng)
        assert max_output_change(tensors, attacked, spec, ids) < 1e-3, name
        assert max_output_change(tensors, attacked, spec, ids, double=True) < 1e-4, name
