"""The ``modeltrace`` command as users run it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.weights import synth

CLI = [sys.executable, "-m", "modeltrace.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, check=False)


def test_help_lists_the_command_groups() -> None:
    result = run("--help")
    assert result.returncode == 0
    for group in ("inspect", "zoo"):
        assert group in result.stdout


def test_inspect_json_table_and_short(tmp_path: Path) -> None:
    tensors, config = synth.architecture("qwen3")
    folder = synth.write_hf(tmp_path / "m", tensors, config)
    result = run("inspect", "--json", str(folder))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["architecture"] == "qwen3"
    assert summary["parameters"] == sum(t.size for t in tensors.values())
    assert (summary["layers"], summary["hidden"], summary["heads"], summary["kv_heads"]) == (
        synth.L,
        synth.H,
        synth.HEADS,
        synth.KV,
    )
    assert len(summary["content_digest"]) == 64
    table = run("inspect", str(folder))
    assert (
        table.returncode == 0
        and "content digest" in table.stdout
        and summary["content_digest"] in table.stdout
    )
    short = run("inspect", "--short", str(folder))
    assert short.returncode == 0 and len(short.stdout.strip().splitlines()) == 1


def test_content_digest_ignores_layout_but_not_values(tmp_path: Path) -> None:
    tensors, config = synth.architecture("llama")
    one = synth.write_hf(tmp_path / "one", tensors, config)
    sharded = synth.write_hf(tmp_path / "sharded", tensors, config, shards=3)
    changed = dict(tensors)
    key = "model.layers.1.mlp.up_proj.weight"
    changed[key] = changed[key].copy()
    changed[key][0, 0] += 1e-3
    other = synth.write_hf(tmp_path / "changed", changed, config)
    digests = [
        json.loads(run("inspect", "--json", str(p)).stdout)["content_digest"] for p in (one, sharded, other)
    ]
    assert digests[0] == digests[1] != digests[2]


@pytest.mark.real_model
def test_inspect_real_gguf(zoo_folder: Callable[[str], Path]) -> None:
    result = run("inspect", "--json", str(zoo_folder("smollm2")))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "gguf" and summary["tokenizer"] == "byte-bpe"
    assert summary["dtypes"] == {"Q4_1": 210, "Q8_0": 1, "F32": 61}


def test_missing_path_is_a_clean_error(tmp_path: Path) -> None:
    result = run("inspect", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file or directory"


def test_compare_exit_codes_and_json(tmp_path: Path) -> None:
    tensors, config = synth.architecture("qwen2")
    a = synth.write_hf(tmp_path / "a", tensors, config)
    b = synth.write_hf(tmp_path / "b", tensors, config, shards=2)
    derived = run("compare", "--json", str(a), str(b))
    assert derived.returncode == 1, derived.stderr
    report = json.loads(derived.stdout)
    assert report["verdict"] == "derived" and report["log10_p"] is None and report["pvalue"] == 0.0
    other, _ = synth.architecture("qwen2", seed=3)
    c = synth.write_hf(tmp_path / "c", other, config)
    unaligned = run("compare", str(a), str(c))
    # 120 synthetic tokens are too few to align the residual streams: inconclusive, said why.
    assert unaligned.returncode == 4, unaligned.stdout
    assert "Inconclusive" in unaligned.stdout and "tokens" in unaligned.stdout


def test_compare_wrong_inputs_give_a_reason_never_a_traceback(
    tmp_path: Path, zoo_folder: Callable[[str], Path]
) -> None:
    tensors, config = synth.architecture("llama")
    good = synth.write_hf(tmp_path / "good", tensors, config)
    (tmp_path / "empty").mkdir()
    no_weights = run("compare", str(tmp_path / "empty"), str(good))
    assert no_weights.returncode == 2 and "Traceback" not in no_weights.stderr
    assert no_weights.stderr.startswith(f"error: {tmp_path / 'empty'}: no model weights found")

    broken = synth.write_hf(tmp_path / "broken", tensors, config, shards=2)
    shard = sorted(broken.glob("model-*-of-*.safetensors"))[-1]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    corrupt = run("compare", str(good), str(broken))
    assert corrupt.returncode == 2 and "Traceback" not in corrupt.stderr
    assert corrupt.stderr.startswith(f"error: {shard}:"), corrupt.stderr

    # Speech (Whisper, encoder-decoder) against a text encoder: a verdict with its reason.
    modalities = run("compare", "--json", str(zoo_folder("whisper-gp")), str(zoo_folder("minilm6")))
    assert modalities.returncode == 4, modalities.stderr
    report = json.loads(modalities.stdout)
    assert report["verdict"] == "inconclusive" and "not comparable" in report["reason"]
