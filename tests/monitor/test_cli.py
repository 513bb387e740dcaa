"""``monitor ingest`` as a script uses it: tables, --json, --issues, --events, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modeltrace.monitor import event_from_dict
from modeltrace.monitor.adapters import FORMATS
from modeltrace.monitor.cli import LogFormat, Scale, app
from modeltrace.monitor.simulate import SCALES, simulate
from tests.monitor import samples


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "gw.jsonl").write_bytes(
        samples.line(samples.gateway()) + b"{broken\n" + samples.line(samples.gateway("r2")) + b'{"x": 1}\n'
    )
    (folder / "trail.json").write_text(json.dumps({"Records": [samples.cloudtrail_get_object()]}))
    (folder / "audit.log").write_bytes(samples.line(samples.k8s_exec()))
    return folder


def test_ingest_prints_a_report_and_exits_zero(logs: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(logs)])
    assert result.exit_code == 0, result.output
    for text in ("gateway", "cloudtrail", "k8s_audit", "invalid_json", "unknown_format", "gw.jsonl:2"):
        assert text in result.stdout


def test_ingest_json_issues_and_events_files(logs: Path, tmp_path: Path) -> None:
    issues, events = tmp_path / "issues.jsonl", tmp_path / "events.jsonl"
    result = CliRunner().invoke(
        app, ["ingest", str(logs), "--json", "--issues", str(issues), "--events", str(events)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["events"] == 4 and report["errors"] == 2
    assert report["errors_by_kind"] == {"invalid_json": 1, "unknown_format": 1}
    assert [(i["line"], i["kind"]) for i in map(json.loads, issues.read_text().splitlines())] == [
        (2, "invalid_json"),
        (4, "unknown_format"),
    ]
    parsed = [event_from_dict(json.loads(line)) for line in events.read_text().splitlines()]
    assert sorted(e.source for e in parsed) == ["cloudtrail", "gateway", "gateway", "k8s_audit"]


def test_exit_codes(logs: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", "--strict", str(logs)]).exit_code == 1
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(samples.line(samples.gateway()))
    assert runner.invoke(app, ["ingest", "--strict", str(clean)]).exit_code == 0
    assert runner.invoke(app, ["ingest", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(app, ["ingest", "--format", "syslog", str(clean)]).exit_code == 2
    forced = runner.invoke(app, ["ingest", "--format", "k8s_audit", "--json", str(clean)])
    assert forced.exit_code == 0 and json.loads(forced.stdout)["errors_by_kind"] == {"missing_field": 1}


def test_cli_choices_match_the_library() -> None:
    assert {f.value for f in LogFormat} == set(FORMATS)
    assert {s.value for s in Scale} == set(SCALES)


def test_run_prints_each_alert_with_the_members_it_brings_to_its_campaign(tmp_path: Path) -> None:
    simulate(tmp_path / "sim", "ci", 2)
    alerts = tmp_path / "alerts.jsonl"
    result = CliRunner().invoke(app, ["run", str(tmp_path / "sim" / "logs"), "--alerts", str(alerts)])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in alerts.read_text().splitlines()]
    grew = [a for a in written if a["claimed"]]
    assert grew and all(
        set(a["claimed"]) <= set(a.get("accounts", [])) | {"principal:" + p for p in a.get("principals", [])}
        for a in grew
    )
    one = grew[0]
    n = len(one["claimed"])
    assert f"{one['campaign']} (+{n} member{'s' * (n != 1)})" in result.output
    # an alert naming other campaigns' members says its priority is below its score
    weaker = [a for a in written if a["priority"] < a["score"]]
    assert weaker and all(0 <= a["priority"] <= a["score"] for a in written)
    shown = " ".join(result.output.split())  # the terminal wraps long lines
    weak = next(a for a in weaker if not a["claimed"])
    assert f"{weak['campaign']} (priority {weak['priority']:.2f})" in shown
