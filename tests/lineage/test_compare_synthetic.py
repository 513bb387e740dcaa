"""``compare`` on SYNTHETIC llama checkpoints with known lineage and function-preserving disguises.

Random-weight models stand in for what no real model can show here: exact control of the attack.
The disguise folds the norm gains, rotates the residual stream by a random orthogonal matrix and
permutes the MLP neurons — the model computes the same function, and every weight index-wise looks
unrelated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modeltrace.lineage import DERIVED, INDEPENDENT, compare
from tests.weights import synth

Tensors = dict[str, np.ndarray]


def disguise(tensors: Tensors, seed: int = 5, noise_db: float | None = None) -> Tensors:
    rng = np.random.default_rng(seed)
    d = synth.H
    rotation, _ = np.linalg.qr(rng.standard_normal((d, d)))
    rotation = rotation.astype(np.float32)
    out = {k: v.copy() for k, v in tensors.items()}
    layers = sorted({int(k.split(".")[2]) for k in out if k.startswith("model.layers.")})
    for i in layers:
        p = f"model.layers.{i}."
        g_attn = out.pop(p + "input_layernorm.weight")
        g_mlp = out.pop(p + "post_attention_layernorm.weight")
        out[p + "input_layernorm.weight"] = np.ones(d, np.float32)
        out[p + "post_attention_layernorm.weight"] = np.ones(d, np.float32)
        perm = rng.permutation(out[p + "mlp.up_proj.weight"].shape[0])
        for name, gain in (
            ("self_attn.q_proj", g_attn),
            ("self_attn.k_proj", g_attn),
            ("self_attn.v_proj", g_attn),
            ("mlp.gate_proj", g_mlp),
            ("mlp.up_proj", g_mlp),
        ):
            out[p + name + ".weight"] = (out[p + name + ".weight"] * gain[None, :]) @ rotation
        out[p + "mlp.gate_proj.weight"] = out[p + "mlp.gate_proj.weight"][perm]
        out[p + "mlp.up_proj.weight"] = out[p + "mlp.up_proj.weight"][perm]
        out[p + "mlp.down_proj.weight"] = rotation.T @ out[p + "mlp.down_proj.weight"][:, perm]
        out[p + "self_attn.o_proj.weight"] = rotation.T @ out[p + "self_attn.o_proj.weight"]
    final = out.pop("model.norm.weight")
    out["model.norm.weight"] = np.ones(d, np.float32)
    out["model.embed_tokens.weight"] = out["model.embed_tokens.weight"] @ rotation
    out["lm_head.weight"] = (out["lm_head.weight"] * final[None, :]) @ rotation
    if noise_db is not None:
        for name, value in out.items():
            if value.ndim == 2:
                scale = np.sqrt(np.mean(value**2) / 10 ** (noise_db / 10))
                out[name] = (value + rng.standard_normal(value.shape) * scale).astype(np.float32)
    return out


@pytest.fixture(scope="module", autouse=True)
def enough_tokens() -> Iterator[None]:
    """The residual alignment needs ≥ 1000 shared tokens: give the synthetic models 2048."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synth, "VOCAB", 2048)
        yield


@pytest.fixture(scope="module")
def base(
    tmp_path_factory: pytest.TempPathFactory, enough_tokens: None
) -> tuple[Path, Tensors, dict[str, object]]:
    tensors, config = synth.architecture("llama", seed=11)
    folder = synth.write_hf(tmp_path_factory.mktemp("base"), tensors, config)
    return folder, tensors, config


def test_disguised_copy_is_derived(base: tuple[Path, Tensors, dict[str, object]], tmp_path: Path) -> None:
    folder, tensors, config = base
    suspect = synth.write_hf(tmp_path / "disguised", disguise(tensors), config)
    report = compare(folder, suspect)
    assert report.verdict == DERIVED, report.reason
    assert report.log10_p < -6
    assert report.layer_map == {0: 0, 1: 1}
    assert all(p.mlp_agreement is not None and p.mlp_agreement > 0.95 for p in report.layers)
    assert report.alignment is not None and report.alignment.heldout_correlation > 0.99
    # Index-wise nothing survives the disguise: no exact copies are claimed.
    assert not [n for n in report.exact_copies if n.startswith("layers.")]


def test_noisy_disguised_copy_is_still_derived(
    base: tuple[Path, Tensors, dict[str, object]], tmp_path: Path
) -> None:
    folder, tensors, config = base
    suspect = synth.write_hf(tmp_path / "noisy", disguise(tensors, noise_db=10.0), config)
    report = compare(folder, suspect)
    assert report.verdict == DERIVED, report.reason
    assert report.log10_p < -6


def test_independent_model_is_independent(
    base: tuple[Path, Tensors, dict[str, object]], tmp_path: Path
) -> None:
    folder, _, config = base
    other, _ = synth.architecture("llama", seed=12)
    report = compare(folder, synth.write_hf(tmp_path / "other", other, config))
    assert report.verdict == INDEPENDENT, report.reason
    assert report.log10_p > np.log10(0.05)
    assert report.exact_copies == []


def test_exact_copy_is_verbatim(base: tuple[Path, Tensors, dict[str, object]], tmp_path: Path) -> None:
    folder, tensors, config = base
    report = compare(folder, synth.write_hf(tmp_path / "copy", tensors, config, shards=2))
    assert report.verdict == DERIVED and report.log10_p == -np.inf
    assert "layers.1.mlp.down.weight" in report.exact_copies


def test_dropped_layers_are_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "L", 6)
    tensors, config = synth.architecture("llama", seed=13)
    config["num_hidden_layers"] = 6
    base = synth.write_hf(tmp_path / "deep", tensors, config)
    kept: Tensors = {}
    for name, value in tensors.items():
        if name.startswith("model.layers."):
            layer = int(name.split(".")[2])
            if layer % 2:
                continue
            name = name.replace(f"model.layers.{layer}.", f"model.layers.{layer // 2}.")
        kept[name] = value
    student = synth.write_hf(tmp_path / "student", kept, dict(config, num_hidden_layers=3))
    report = compare(base, student)
    assert report.verdict == DERIVED
    assert report.layer_map == {0: 0, 1: 2, 2: 4}


@pytest.fixture
def sketched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the wide-model path on the small synthetic models: rows sketched, A's neurons sampled,
    shared tokens sampled for the alignment, fewer attention probes."""
    from modeltrace.lineage import align, attention, neurons

    monkeypatch.setattr(neurons, "SKETCH_ABOVE", 8)
    monkeypatch.setattr(neurons, "SKETCH_DIMS", 24)
    monkeypatch.setattr(neurons, "MAX_NEURONS", 40)
    monkeypatch.setattr(attention, "WIDE_ABOVE", 8)
    monkeypatch.setattr(align, "_ALIGN_BUDGET", 600 * synth.H * synth.H)


def test_wide_model_path_keeps_derived_and_independent_apart(
    base: tuple[Path, Tensors, dict[str, object]], tmp_path: Path, sketched: None
) -> None:
    folder, tensors, config = base
    derived = compare(folder, synth.write_hf(tmp_path / "noisy", disguise(tensors, noise_db=10.0), config))
    assert derived.verdict == DERIVED, derived.reason
    assert all(p.neurons == 40 for p in derived.layers)  # sampled, not all of A's neurons
    assert derived.alignment is not None and derived.alignment.fitted_tokens == 300
    other, _ = synth.architecture("llama", seed=12)
    independent = compare(folder, synth.write_hf(tmp_path / "other", other, config))
    assert independent.verdict == INDEPENDENT, independent.reason


def test_a_single_changed_value_is_not_an_exact_copy(
    base: tuple[Path, Tensors, dict[str, object]], tmp_path: Path
) -> None:
    """Fingerprints sample a tensor; the exact comparison behind them must still see one changed value."""
    folder, tensors, config = base
    edited = {k: v.copy() for k, v in tensors.items()}
    down = edited["model.layers.1.mlp.down_proj.weight"]
    down.reshape(-1)[down.size // 2 + 1] += 1.0  # between the fingerprint's sampled positions
    row = edited["model.embed_tokens.weight"]
    row[1500, 3] += 1.0
    report = compare(folder, synth.write_hf(tmp_path / "edited", edited, config))
    assert "layers.1.mlp.down.weight" not in report.exact_copies
    assert "layers.1.mlp.up.weight" in report.exact_copies
    assert not any(n.startswith("embed.tokens") for n in report.exact_copies)
    assert report.verdict == DERIVED


def test_sampled_embedding_rows_still_compare_every_row(
    base: tuple[Path, Tensors, dict[str, object]], tmp_path: Path, sketched: None
) -> None:
    folder, tensors, config = base
    same = compare(folder, synth.write_hf(tmp_path / "same", tensors, config))
    assert any(n.startswith("embed.tokens") for n in same.exact_copies)
    edited = {k: v.copy() for k, v in tensors.items()}
    edited["model.embed_tokens.weight"][2047, 0] += 1.0  # one row, likely outside the 600 sampled
    report = compare(folder, synth.write_hf(tmp_path / "edited", edited, config))
    assert not any(n.startswith("embed.tokens") for n in report.exact_copies)
