"""End to end: run_probe and the typer command over loopback servers, with a transcript."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from modeltrace.blackbox import Endpoint, ProbeConfig, Transcript, run_probe, verify_transcript
from modeltrace.blackbox.cli import app

from .toy import toy_tensors, toy_tokenizer, write_hf_folder

SMALL = ProbeConfig(
    budget=400,
    lineage_batch=20,
    lineage_max_prompts=40,
    lineage_tokens=6,
    identity_prompts=("Once upon a time", "My favourite food is", "The old house", "Yesterday I went to"),
    identity_samples=6,
    identity_tokens=10,
    permutations=300,
    slope_units=(" the", "東京", " west"),
)


def test_probe_derived_copy(toy_servers: dict[str, str], tmp_path: Path) -> None:
    ep = {k: Endpoint(u, k) for k, u in toy_servers.items()}
    path = tmp_path / "t.jsonl"
    report = run_probe(ep["light"], ep["base"], [ep["other"]], config=SMALL, transcript=Transcript(path))
    assert report["verdicts"]["lineage"] == "derived"
    assert report["tests"]["lineage"]["diagnostics"]["prompts"] == 20  # stopped at the first look
    assert not report["tests"]["tokenizer"]["rejected"]
    assert report["queries_total"] <= SMALL.budget
    n = verify_transcript(path)
    again = run_probe(ep["light"], ep["base"], [ep["other"]], config=SMALL, transcript=Transcript(path))
    assert again["tests"] == report["tests"]
    assert sum(q["sent"] for q in again["queries"].values()) == 0  # all answers reused
    assert verify_transcript(path) == n


def test_probe_other_tokenizer_stops_early(toy_servers: dict[str, str], tmp_path: Path) -> None:
    ep = {k: Endpoint(u, k) for k, u in toy_servers.items()}
    report = run_probe(
        ep["othertok"], ep["base"], [ep["other"]], config=SMALL, transcript=Transcript(tmp_path / "t")
    )
    assert report["stopped"] == "tokenizer mismatch"
    assert "tokenizer differs" in report["verdicts"]["lineage"]
    assert report["queries_total"] == 2 * 3 * 4


def test_cli_probe_local_checkpoints_json(tmp_path: Path) -> None:
    tok = toy_tokenizer()
    base = toy_tensors(len(tok), seed=0)
    ref = write_hf_folder(tmp_path / "ref", base, tok)
    other = write_hf_folder(tmp_path / "other", toy_tensors(len(tok), seed=1), tok)
    result = CliRunner().invoke(
        app,
        [
            "probe",
            str(ref),
            "--reference",
            str(ref),
            "--baseline",
            str(other),
            "--budget",
            "150",
            "--json",
            "--transcript",
            str(tmp_path / "t.jsonl"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["verdicts"]["lineage"] == "derived"  # the reference itself is its own derivative
    assert report["queries_total"] <= 150
