"""The zoo note's real pairs (shared/notes/zoo.md §4) through ``compare``."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from modeltrace.lineage import DERIVED, INCONCLUSIVE, INDEPENDENT, compare

pytestmark = pytest.mark.real_model
ZooFolder = Callable[[str], Path]


def test_z1_byte_identical_copy(zoo_folder: ZooFolder) -> None:
    report = compare(zoo_folder("minilm6"), zoo_folder("minilm6-gt"))
    assert report.verdict == DERIVED and report.log10_p == -math.inf
    assert len(report.exact_copies) == 103


def test_z2_int8_onnx_export_is_derived(zoo_folder: ZooFolder) -> None:
    report = compare(zoo_folder("minilm6"), zoo_folder("minilm6-int8") / "model.onnx")
    assert report.verdict == DERIVED, report.reason
    assert report.log10_p < -100
    assert report.layer_map == {i: i for i in range(6)}
    assert all(p.mlp_agreement is not None and p.mlp_agreement > 0.99 for p in report.layers)
    assert any("matched by index" in note for note in report.notes)  # the ONNX ships no tokenizer


def test_z3_vocabulary_pruning_is_verbatim_with_rows_by_token(zoo_folder: ZooFolder) -> None:
    report = compare(zoo_folder("me5-small"), zoo_folder("me5-enpt"))
    assert report.verdict == DERIVED and report.log10_p == -math.inf
    assert report.exact_copies[0].startswith("embed.tokens.weight (rows")
    assert report.alignment is not None and report.alignment.shared_tokens == 47279


@pytest.mark.parametrize(
    "a,b,tokenizer_b", [("me5-small", "minilm6", None), ("me5-enpt", "minilm6-int8", "minilm6")]
)
def test_z4_z5_independent_encoders(a: str, b: str, tokenizer_b: str | None, zoo_folder: ZooFolder) -> None:
    suspect = zoo_folder(b) / ("model.onnx" if b.endswith("int8") else "")
    report = compare(zoo_folder(a), suspect, tokenizer_b=zoo_folder(tokenizer_b) if tokenizer_b else None)
    assert report.verdict == INDEPENDENT, report.reason
    assert report.log10_p > math.log10(0.05)
    assert report.exact_copies == []


def test_z6_smollm2_vs_gemma3_is_not_derived(zoo_folder: ZooFolder) -> None:
    report = compare(zoo_folder("smollm2"), zoo_folder("gemma3"))
    assert report.verdict in (INDEPENDENT, INCONCLUSIVE), report.reason
    assert report.reason


def test_z7_same_weights_other_converter(zoo_folder: ZooFolder) -> None:
    report = compare(zoo_folder("whisper-gp"), zoo_folder("whisper-sfy"))
    assert report.verdict == DERIVED and report.log10_p == -math.inf
    assert len(report.exact_copies) >= 200
