"""End to end: run_probe and the typer command over loopback servers, with a transcript."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modeltrace.blackbox import (
    Endpoint,
    ProbeConfig,
    RetriesExhaustedError,
    Transcript,
    run_probe,
    verify_transcript,
)
from modeltrace.blackbox.cli import app
from modeltrace.blackbox.report_html import write_report
from modeltrace.blackbox.serve import LocalModel, running_server
from modeltrace.blackbox.toyzoo import PROBE_CONFIG as TOY
from modeltrace.blackbox.toyzoo import proxy_app

from .conftest import Gate, gate_app
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
            "300",
            "--json",
            "--transcript",
            str(tmp_path / "t.jsonl"),
            "--report",
            str(tmp_path / "out" / "report.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["verdicts"]["lineage"] == "derived"  # the reference itself is its own derivative
    assert report["verdicts"]["identity"].startswith("not distinguishable")
    assert report["queries_total"] <= 300
    page = (tmp_path / "out" / "report.html").read_text()
    embedded = page[page.index('id="report-json">') + len('id="report-json">') : page.index("</script>")]
    assert json.loads(embedded) == report  # the page shows what the JSON holds
    assert "derived" in page and report["tests"]["lineage"]["null"].replace("'", "&#x27;") in page


def test_probe_without_usage_skips_tokenizer_test_and_goes_on(
    toy_zoo: dict[str, str], toy_zoo_models: dict[str, LocalModel]
) -> None:
    with running_server(proxy_app(toy_zoo["ft"], "drop-usage")) as url:
        report = run_probe(
            Endpoint(url, "ft"),
            Endpoint(toy_zoo["base"], "base"),
            [Endpoint(toy_zoo["baseline1"], "b1")],
            config=replace(TOY, agreement_prompts=10, identity_prompts=()),
        )
    assert "tokenizer" not in report["tests"]
    assert any("tokenizer test skipped" in n and "usage" in n for n in report["notes"])
    assert report["verdicts"]["lineage"] == "derived"


def test_probe_endpoint_down_mid_run_stops_clearly_then_resumes(
    toy_zoo: dict[str, str], tmp_path: Path
) -> None:
    cfg = replace(TOY, agreement_prompts=10, identity_prompts=("Once upon a time", "The object"))
    path = tmp_path / "t.jsonl"
    gate = Gate(open_for=40)  # the suspect's API dies during the lineage look
    with running_server(gate_app(toy_zoo["q8"], gate)) as url:
        suspect, ref = Endpoint(url, "q8"), Endpoint(toy_zoo["base"], "base")
        baselines = [Endpoint(toy_zoo["baseline1"], "b1")]
        fast = {"backoff": 0.001, "max_retries": 2}
        with pytest.raises(RetriesExhaustedError, match="resumes without repeating"):
            run_probe(suspect, ref, baselines, config=cfg, transcript=Transcript(path), client_options=fast)
        assert gate.passed == 40
        gate.open_for = 10**6  # the API is back
        report = run_probe(suspect, ref, baselines, config=cfg, transcript=Transcript(path))
    assert report["queries"]["suspect"]["reused"] == 40  # nothing paid twice
    assert gate.passed == report["queries"]["suspect"]["answered"]
    assert report["verdicts"]["lineage"] == "derived" and report["verdicts"]["identity"].startswith(
        "different"
    )
    verify_transcript(path)
    clean = run_probe(Endpoint(toy_zoo["q8"], "q8"), ref, baselines, config=cfg)
    assert clean["verdicts"] == report["verdicts"]


def test_report_page_escapes_what_endpoints_say(tmp_path: Path) -> None:
    hostile = '</script><script>alert("x")</script><b>'
    report = {
        "verdicts": {"identity": "different (test)", "lineage": "derived"},
        "tests": {
            "lineage": {
                "name": "lineage",
                "null": "H0 <b>",
                "statistic": "inf",
                "pvalue": 1e-12,
                "log10_pvalue": -12.0,
                "effect_size": 0.5,
                "effect_size_name": "x",
                "queries": 10,
                "rejected": True,
                "alpha": 0.05,
                "diagnostics": {"a": [1, 2]},
            },
        },
        "examples": {"lineage": [{"prompt": "p", "suspect": hostile, "reference": "r"}]},
        "endpoints": {"suspect": {"base_url": "http://127.0.0.1:1/v1", "model": hostile}},
        "queries": {"suspect": {"answered": 10, "reused": 0, "sent": 10}},
        "notes": [hostile],
        "config": {"budget": 100},
        "budget": 100,
        "queries_total": 10,
        "stopped": "done",
    }
    page = write_report(report, tmp_path / "r.html").read_text()
    assert "<script>alert" not in page and "<b>" not in page.replace("<b>Is", "")
    assert page.count("</script>") == 1  # only the embedded JSON's own end tag
    assert "10<sup>-12.0</sup>" in page and 'class="verdict derived"' in page
    embedded = page[page.index('id="report-json">') + len('id="report-json">') : page.index("</script>")]
    assert json.loads(embedded) == report
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temporary file
