"""Format detection, folder walking, the report's bookkeeping, the schema round trip and IP enrichment."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from modeltrace.monitor import (
    ApiRequest,
    InfraEvent,
    IngestIssue,
    IngestReport,
    IpInfo,
    IpIntel,
    IpIntelError,
    enrich,
    event_from_dict,
    event_to_dict,
    ingest,
    ingest_in_time_order,
)
from modeltrace.monitor.report import IssueKind
from tests.monitor import samples


def test_a_mixed_file_is_read_record_by_record(tmp_path: Path) -> None:
    path = tmp_path / "siem-export.jsonl"
    path.write_bytes(
        samples.line(samples.gateway())
        + samples.line(samples.cloudtrail_get_object())
        + samples.line(samples.k8s_exec())
        + samples.line(samples.otlp_export())
        + samples.line(samples.gateway("r2"))
    )
    report = IngestReport()
    events = list(ingest([path], report=report))
    assert [e.source for e in events] == ["gateway", "cloudtrail", "k8s_audit", "otel", "gateway"]
    assert report.records_by_format == {"gateway": 2, "cloudtrail": 1, "k8s_audit": 1, "otel": 1}


def test_forcing_a_format_turns_other_records_into_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(samples.line(samples.cloudtrail_get_object()) + samples.line(samples.gateway()))
    report = IngestReport()
    events = list(ingest([path], report=report, format="cloudtrail"))
    assert len(events) == 1 and report.errors_by_kind == {"missing_field": 1}
    with pytest.raises(ValueError, match="unknown log format"):
        list(ingest([path], format="syslog"))


def test_folders_are_walked_in_order_skipping_hidden_and_non_log_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b" / "2.jsonl").write_bytes(samples.line(samples.gateway("r2")))
    (tmp_path / "1.log").write_bytes(samples.line(samples.gateway("r1")))
    with gzip.open(tmp_path / "b" / "3.json.gz", "wb") as handle:
        handle.write(samples.line(samples.gateway("r3")))
    (tmp_path / ".hidden" / "x.jsonl").write_bytes(samples.line(samples.gateway("hidden")))
    (tmp_path / "notes.csv").write_text("a,b\n")
    report = IngestReport()
    events = list(ingest([tmp_path], report=report))
    assert [e.event_id for e in events] == ["gw:r1", "gw:r2", "gw:r3"]
    assert report.files == 3 and report.files_skipped == [str(tmp_path / "notes.csv")]


def test_issue_listing_is_bounded_but_counts_and_callback_are_complete(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"oops\n" * 50 + samples.line(samples.gateway()))
    seen: list[IngestIssue] = []
    report = IngestReport(max_listed=10)
    events = list(ingest([path], report=report, on_issue=seen.append))
    assert len(events) == 1
    assert report.errors == 50 and len(report.issues) == 10 and report.issues_not_listed == 40
    assert [i.line for i in seen] == list(range(1, 51)) and {i.kind for i in seen} == {IssueKind.INVALID_JSON}
    assert json.loads(json.dumps(report.to_dict()))["errors_by_kind"] == {"invalid_json": 50}


def test_unreadable_paths_are_reported(tmp_path: Path) -> None:
    report = IngestReport()
    assert list(ingest([tmp_path / "missing.jsonl"], report=report)) == []
    assert report.errors_by_kind == {"unreadable_file": 1}


def test_events_round_trip_through_their_dict_form(tmp_path: Path) -> None:
    path = tmp_path / "all.jsonl"
    path.write_bytes(
        samples.line(samples.gateway())
        + samples.line(samples.cloudtrail_copy_object())
        + samples.line(samples.k8s_exec())
    )
    events = list(ingest([path]))
    assert {type(e) for e in events} == {ApiRequest, InfraEvent}
    for event in events:
        data = json.loads(json.dumps(event_to_dict(event)))
        assert data["schema"] == "1.0"
        assert event_from_dict(data) == event
    with pytest.raises(ValueError, match="schema"):
        event_from_dict({"schema": "0.1", "kind": "api"})


def test_ip_table_lookup_and_enrichment(tmp_path: Path) -> None:
    table = tmp_path / "ip.csv"
    table.write_text(
        "network,country,asn,as_org,network_type\n"
        "198.51.100.0/24,DE,64512,Example Home,residential\n"
        "192.0.2.0/25,NL,64513,Example Hosting,hosting\n"
        "2001:db8:1::/48,JP,64514,Example Mobile,mobile\n"
    )
    intel = IpIntel.from_csv(table)
    assert intel.lookup("192.0.2.127") == IpInfo("NL", 64513, "Example Hosting", "hosting")
    assert intel.lookup("192.0.2.128") is None and intel.lookup("not an ip") is None
    assert intel.lookup("2001:db8:1::5") == IpInfo("JP", 64514, "Example Mobile", "mobile")
    path = tmp_path / "x.jsonl"
    path.write_bytes(samples.line(samples.gateway()) + samples.line(samples.gateway_hashed()))
    first, second = list(enrich(ingest([path]), intel))
    assert (first.country, first.asn, first.network_type) == (
        "DE",
        64512,
        "residential",
    )  # the log's country stays
    assert (second.country, second.asn, second.network_type) == ("JP", 64514, "mobile")
    table.write_text(
        "network,country,asn,as_org,network_type\n10.0.0.0/8,,,,private\n10.1.0.0/16,,,,private\n"
    )
    with pytest.raises(IpIntelError, match="overlapping"):
        IpIntel.from_csv(table)


def test_files_can_be_merged_into_one_time_ordered_stream(tmp_path: Path) -> None:
    def at(minute: int, request_id: str) -> bytes:
        return samples.line(samples.gateway(request_id, timestamp=f"2026-03-02T10:{minute:02d}:00Z"))

    (tmp_path / "a.jsonl").write_bytes(at(1, "a1") + at(4, "a4") + at(5, "a5"))
    (tmp_path / "b.jsonl").write_bytes(at(2, "b2") + at(3, "b3") + b"junk\n" + at(6, "b6"))
    report = IngestReport()
    merged = [e.event_id for e in ingest_in_time_order([tmp_path], report=report)]
    assert merged == ["gw:a1", "gw:b2", "gw:b3", "gw:a4", "gw:a5", "gw:b6"]
    assert report.files == 2 and report.errors == 1
