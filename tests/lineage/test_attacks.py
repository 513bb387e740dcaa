"""Attacks on SYNTHETIC tiny models: preserving ones keep the function, and ``compare`` sees through them.

Every model here is random (tiny llama: 2 layers, 64 wide, 4 query / 2 KV heads, MLP 96, a 2048-token
synthetic vocabulary so the residual alignment has enough shared tokens; tiny BERT for the post-LN
family). Real SmolLM2 and MiniLM runs belong to ``benchmarks/lineage_eval.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from modeltrace.lineage import DERIVED, INDEPENDENT, compare
from modeltrace.lineage.attacks import (
    FUNCTION_PRESERVING,
    TokenList,
    add_noise,
    average_with,
    disguise,
    drop_layers,
    extend_vocabulary,
    fold_and_rotate,
    fold_norms,
    gguf_round_trip,
    int4_round_trip,
    int8_round_trip,
    magnitude_prune,
    merge_lora,
    permute_heads,
    preserving_attacks,
    prune_mlp_width,
    prune_vocabulary,
    quantize_q4_k,
    random_like,
    scale_mlp_neurons,
    transplant_embeddings,
    write_gguf_llama,
    write_hf_bert,
    write_hf_llama,
)
from modeltrace.lineage.forward import (
    BERT,
    ForwardSpec,
    Tensors,
    canonical_tensors,
    max_output_change,
    outputs,
)
from modeltrace.lineage.zoo_models import LlamaShape, init_llama
from modeltrace.weights.model import open_model

SHAPE = LlamaShape(vocab=2048, hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, mlp=96, rope_base=1e4)
SPEC = SHAPE.spec()
IDS = np.random.default_rng(99).integers(0, SHAPE.vocab, size=(2, 12))
TOKENS = TokenList([f"tok{i}" for i in range(SHAPE.vocab)], [1] * SHAPE.vocab)
TOLERANCE = 1e-3


def tiny_llama(seed: int) -> Tensors:
    """SYNTHETIC random llama, weights std 0.1 and random norm gains (so folding has work to do)."""
    rng = np.random.default_rng(seed + 1000)
    tensors = init_llama(SHAPE, seed, std=0.1)
    for name, value in tensors.items():
        if name.endswith("norm.weight"):
            tensors[name] = (1 + 0.3 * rng.standard_normal(value.shape)).astype(np.float32)
    return tensors


@pytest.fixture(scope="module")
def base() -> Tensors:
    return tiny_llama(0)


@pytest.fixture(scope="module")
def base_path(base: Tensors, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gguf_llama(tmp_path_factory.mktemp("base") / "base.gguf", base, SPEC, TOKENS)


def derived_check(base_path: Path, attacked: Tensors, folder: Path, vocab: TokenList = TOKENS) -> float:
    report = compare(base_path, write_gguf_llama(folder / "suspect.gguf", attacked, SPEC, vocab))
    assert report.verdict == DERIVED, report.reason
    assert report.log10_p < -6
    return report.log10_p


@pytest.mark.parametrize("name", sorted(FUNCTION_PRESERVING))
def test_preserving_attack_keeps_logits_and_is_detected(
    name: str, base: Tensors, base_path: Path, tmp_path: Path
) -> None:
    attacked = FUNCTION_PRESERVING[name](base, SPEC, np.random.default_rng(1))
    assert max_output_change(base, attacked, SPEC, IDS) < TOLERANCE
    assert max_output_change(base, attacked, SPEC, IDS, double=True) < 1e-4  # float64 arithmetic: tighter
    # The attack did change the weights (not a no-op): some matrix moved by far more than the tolerance.
    assert (
        max(float(np.abs(attacked[k] - base[k]).max()) for k in base if attacked[k].shape == base[k].shape)
        > 0.05
    )
    derived_check(base_path, attacked, tmp_path)


def test_full_disguise_keeps_logits_and_is_detected(base: Tensors, base_path: Path, tmp_path: Path) -> None:
    attacked = disguise(base, SPEC, np.random.default_rng(2))
    assert max_output_change(base, attacked, SPEC, IDS) < TOLERANCE
    assert np.abs(outputs(base, SPEC, IDS)).max() > 1.0  # logits are not trivially small
    derived_check(base_path, attacked, tmp_path)


@pytest.mark.parametrize(
    "lossy",
    [
        "noise_10db",
        "int4",
        "q4_k",
        "prune_half",
        "lora",
        "prune_mlp",
    ],
)
def test_disguise_combined_with_lossy_is_detected(
    lossy: str, base: Tensors, base_path: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    attacked = {
        "noise_10db": lambda t: add_noise(t, 10.0, rng),
        "int4": int4_round_trip,
        "q4_k": lambda t: gguf_round_trip(t, "Q4_K"),
        "prune_half": magnitude_prune,
        "lora": lambda t: merge_lora(t, rng),
        "prune_mlp": prune_mlp_width,
    }[lossy](disguise(base, SPEC, rng))
    assert max_output_change(base, attacked, SPEC, IDS) > TOLERANCE  # lossy: the function did change
    derived_check(base_path, attacked, tmp_path)


def test_independent_tiny_model_is_not_derived(base_path: Path, tmp_path: Path) -> None:
    other = write_gguf_llama(tmp_path / "other.gguf", tiny_llama(1), SPEC, TOKENS)
    report = compare(base_path, other)
    assert report.verdict == INDEPENDENT, report.reason
    assert report.log10_p > np.log10(0.01)


def test_surgery_attacks_shapes(base: Tensors) -> None:
    rng = np.random.default_rng(4)
    assert sorted({k.split(".")[1] for k in drop_layers(base) if k.startswith("layers.")}) == ["0"]
    assert prune_mlp_width(base)["layers.0.mlp.down.weight"].shape == (64, 72)
    extended, vocab = extend_vocabulary(base, TOKENS, 1000, rng)
    assert extended["embed.tokens.weight"].shape == (3048, 64) and len(vocab.tokens) == 3048
    pruned, small = prune_vocabulary(base, TOKENS, list(range(0, 2048, 2)))
    assert pruned["embed.tokens.weight"].shape == (1024, 64) and small.tokens[1] == "tok2"
    assert np.array_equal(pruned["embed.tokens.weight"][1], base["embed.tokens.weight"][2])
    sparse = magnitude_prune(base)["layers.0.mlp.up.weight"]
    assert abs(float(np.mean(sparse == 0)) - 0.5) < 0.01
    other = random_like(base, rng)
    mixed = average_with(base, other)["layers.1.attn.q.weight"]
    assert np.allclose(2 * mixed - base["layers.1.attn.q.weight"], other["layers.1.attn.q.weight"], atol=1e-5)
    fresh = transplant_embeddings(base, tiny_llama(7))
    assert fresh["embed.tokens.weight"] is base["embed.tokens.weight"]
    assert not np.array_equal(fresh["layers.0.mlp.up.weight"], base["layers.0.mlp.up.weight"])


def test_vocabulary_surgery_is_detected(base: Tensors, base_path: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    extended, vocab = extend_vocabulary(disguise(base, SPEC, rng), TOKENS, 1000, rng)
    derived_check(base_path, extended, tmp_path, vocab)
    keep = np.sort(rng.choice(SHAPE.vocab, size=1500, replace=False))
    pruned, vocab = prune_vocabulary(int8_round_trip(disguise(base, SPEC, rng)), TOKENS, keep)
    derived_check(base_path, pruned, tmp_path, vocab)


def test_dropped_layers_map_to_every_second(tmp_path: Path) -> None:
    deep = LlamaShape(**{**SHAPE.__dict__, "layers": 6})
    tensors = init_llama(deep, 21, std=0.1)
    base = write_gguf_llama(tmp_path / "deep.gguf", tensors, SPEC, TOKENS)
    suspect = write_gguf_llama(
        tmp_path / "half.gguf", drop_layers(disguise(tensors, SPEC, np.random.default_rng(6))), SPEC, TOKENS
    )
    report = compare(base, suspect)
    assert report.verdict == DERIVED and report.log10_p < -6
    assert report.layer_map == {0: 0, 1: 2, 2: 4}


def test_writers_round_trip_exactly(base: Tensors, tmp_path: Path) -> None:
    attacked = fold_and_rotate(base, SPEC, np.random.default_rng(7))  # untied head, unit gains
    for path in (
        write_gguf_llama(tmp_path / "a.gguf", attacked, SPEC, TOKENS),
        write_hf_llama(tmp_path / "hf", attacked, SPEC, TOKENS),
    ):
        with open_model(path) as model:
            back = canonical_tensors(model)
            assert sorted(back) == sorted(attacked)
            assert all(np.array_equal(back[k], attacked[k]) for k in attacked)
            assert model.vocabulary is not None and model.vocabulary.tokens[5] == "tok5"


def test_q4_k_blocks_decode_with_gguf() -> None:
    from gguf import GGMLQuantizationType
    from gguf import quants as gguf_quants

    rows = np.random.default_rng(8).standard_normal((3, 512)).astype(np.float32)
    blocks = quantize_q4_k(rows)
    assert blocks.shape == (3, 2 * 144)
    back = np.asarray(gguf_quants.dequantize(blocks, GGMLQuantizationType.Q4_K)).reshape(rows.shape)
    # A wrong nibble or scale layout scrambles values (relative error ~1.4); a right one is 4-bit-like.
    assert np.sqrt(np.mean((back - rows) ** 2) / np.mean(rows**2)) < 0.12
    assert np.allclose(gguf_round_trip({"w": rows})["w"], back)


def test_refusals_for_non_preserving_families(base: Tensors) -> None:
    bert = ForwardSpec(BERT, 4, 4, 16)
    with pytest.raises(ValueError, match="not function-preserving"):
        fold_norms(base, bert)
    with pytest.raises(ValueError, match="not function-preserving"):
        scale_mlp_neurons(base, bert, np.random.default_rng(0))
    assert sorted(preserving_attacks(bert)) == [
        "permute_heads",
        "permute_mlp_neurons",
        "scale_qk_pairs",
        "scale_vo_heads",
    ]
    with pytest.raises(ValueError, match="renumber"):
        write_gguf_llama(
            Path("/nonexistent.gguf"),
            {k: v for k, v in base.items() if not k.startswith("layers.0.")},
            SPEC,
            TOKENS,
        )


def tiny_bert(seed: int) -> Tensors:
    """SYNTHETIC random BERT (2 layers, 64 wide, 4 heads, MLP 96, 2048 tokens), biases everywhere."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int, scale: float = 0.1) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    d, ff = 64, 96
    t: Tensors = {
        "embed.tokens.weight": normal(SHAPE.vocab, d),
        "embed.positions.weight": normal(32, d),
        "embed.token_types.weight": normal(2, d),
        "embed.norm.weight": 1 + normal(d),
        "embed.norm.bias": normal(d),
    }
    for i in range(2):
        p = f"layers.{i}."
        for r in "qkvo":
            t[p + f"attn.{r}.weight"], t[p + f"attn.{r}.bias"] = normal(d, d), normal(d)
        t[p + "mlp.up.weight"], t[p + "mlp.up.bias"] = normal(ff, d), normal(ff)
        t[p + "mlp.down.weight"], t[p + "mlp.down.bias"] = normal(d, ff), normal(d)
        for norm in ("attn_residual_norm", "mlp_residual_norm"):
            t[p + norm + ".weight"], t[p + norm + ".bias"] = 1 + normal(d), normal(d)
    return t


def test_bert_preserving_attacks_keep_hidden_states_and_are_detected(tmp_path: Path) -> None:
    spec = ForwardSpec(BERT, 4, 4, 16, norm_eps=1e-12)
    tensors = tiny_bert(0)
    words = TokenList([f"w{i}" for i in range(SHAPE.vocab)], [1] * SHAPE.vocab, model="bert")
    config = {
        "model_type": "bert",
        "hidden_size": 64,
        "num_attention_heads": 4,
        "max_position_embeddings": 32,
    }
    base = write_hf_bert(tmp_path / "base", tensors, spec, words, config)
    rng = np.random.default_rng(9)
    for attack in preserving_attacks(spec).values():
        attacked = attack(tensors, spec, rng)
        assert max_output_change(tensors, attacked, spec, IDS) < TOLERANCE
    attacked = permute_heads(disguise(tensors, spec, rng), spec, rng)
    report = compare(base, write_hf_bert(tmp_path / "suspect", attacked, spec, words, config))
    assert report.verdict == DERIVED and report.log10_p < -6, report.reason
