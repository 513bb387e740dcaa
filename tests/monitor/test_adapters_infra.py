"""CloudTrail (Records files and one record per line) and Kubernetes audit events → InfraEvent."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from modeltrace.monitor import InfraCategory, InfraEvent, IngestReport, Result, ingest
from modeltrace.monitor.report import IssueKind, Severity
from tests.monitor import samples


def run(*paths: Path) -> tuple[list[InfraEvent], IngestReport]:
    report = IngestReport()
    events = list(ingest(list(paths), report=report))
    assert all(isinstance(e, InfraEvent) for e in events)
    return events, report  # type: ignore[return-value]


def test_cloudtrail_data_events_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(
        samples.line(samples.cloudtrail_get_object())
        + samples.line(samples.cloudtrail_copy_object())
        + samples.line(samples.cloudtrail_list_objects())
    )
    (get, copy, listing), report = run(path)
    assert report.errors == report.warnings == 0
    assert get.event_id == "ct:6d8a3f2e-0000-4000-8000-000000000001" and get.ts == 1772445600.0
    assert (get.provider, get.action, get.category, get.result) == (
        "aws",
        "s3:GetObject",
        InfraCategory.READ,
        Result.SUCCESS,
    )
    assert (get.principal, get.principal_type, get.credential_id) == (
        "arn:aws:iam::111122223333:user/alex.ng",
        "IAMUser",
        "AKIAEXAMPLEKEY00001",
    )
    assert (
        get.resource == "s3://ckpt-bucket/models/m/v1/model-00001-of-00004.safetensors" and get.target is None
    )
    assert (get.bytes_out, get.bytes_in, get.auth_method) == (4_900_000_000, 0, "QueryString")
    assert (get.source_ip, get.user_agent, get.cloud_account, get.region) == (
        "192.0.2.44",
        "aws-cli/2.17.20",
        "111122223333",
        "us-east-1",
    )
    assert copy.category is InfraCategory.COPY
    assert (
        copy.resource == "s3://ckpt-bucket/models/m/v1/model-00002-of-00004.safetensors"
    )  # the source, decoded
    assert copy.target == "s3://backup-bucket/models/m/v1/model-00002-of-00004.safetensors"
    assert (copy.role, copy.session_id, copy.mfa) == (
        "arn:aws:iam::111122223333:role/BackupRole",
        "backup-7",
        False,
    )
    assert (listing.category, listing.resource, listing.result, listing.error_code) == (
        InfraCategory.LIST,
        "s3://ckpt-bucket/models/m/",
        Result.DENIED,
        "AccessDenied",
    )


def test_cloudtrail_records_file_gzip_with_console_logins(tmp_path: Path) -> None:
    path = tmp_path / "111122223333_CloudTrail_us-east-1_20260302T1000Z_abc.json.gz"
    records = [
        samples.cloudtrail_console_login(True),
        samples.cloudtrail_console_login(False),
        samples.cloudtrail_get_object(),
    ]
    with gzip.open(path, "wt") as handle:
        json.dump({"Records": records}, handle)
    (ok, failed, get), report = run(path)
    assert report.errors == 0 and report.records_by_format == {"cloudtrail": 3}
    assert (ok.action, ok.category, ok.mfa, ok.result) == (
        "signin:ConsoleLogin",
        InfraCategory.LOGIN,
        True,
        Result.SUCCESS,
    )
    assert (failed.result, failed.error_code) == (Result.FAILURE, "Failed authentication")
    assert [e.origin for e in (ok, failed, get)] == [f"{path}:1#0", f"{path}:1#1", f"{path}:1#2"]


def test_cloudtrail_malformed_records_inside_a_records_array(tmp_path: Path) -> None:
    no_identity = samples.cloudtrail_get_object("e2")
    del no_identity["userIdentity"]
    no_time = samples.cloudtrail_get_object("e3")
    no_time["eventTime"] = 17
    no_name = samples.cloudtrail_get_object("e4")
    no_name["eventName"] = 5
    wrong_bytes = samples.cloudtrail_get_object("e5")
    wrong_bytes["additionalEventData"]["bytesTransferredOut"] = "a lot"
    path = tmp_path / "trail.json"
    path.write_text(
        json.dumps(
            {
                "Records": [
                    samples.cloudtrail_get_object("e1"),
                    no_identity,
                    no_time,
                    no_name,
                    wrong_bytes,
                    "junk",
                ]
            },
            indent=2,
        )
    )
    events, report = run(path)
    assert [e.event_id for e in events] == ["ct:e1", "ct:e5"] and events[1].bytes_out is None
    errors = [(i.index, i.kind) for i in report.issues if i.severity is Severity.ERROR]
    assert errors == [
        (1, IssueKind.MISSING_FIELD),
        (2, IssueKind.BAD_TIMESTAMP),
        (3, IssueKind.WRONG_TYPE),
        (5, IssueKind.NOT_AN_OBJECT),
    ]
    assert [(i.index, i.kind) for i in report.issues if i.severity is Severity.WARNING] == [
        (4, IssueKind.WRONG_TYPE)
    ]


def test_k8s_audit_log_lines_and_an_eventlist(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    received = samples.k8s_exec()
    received.update(stage="RequestReceived")
    log.write_bytes(
        samples.line(samples.k8s_exec()) + samples.line(received) + samples.line(samples.k8s_secret_denied())
    )
    batch = tmp_path / "webhook.json"
    batch.write_text(
        json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [samples.k8s_exec()]})
    )
    (exec_, stage, secret, listed), report = run(log, batch)
    assert report.errors == report.warnings == 0
    assert (exec_.event_id, exec_.provider, exec_.action, exec_.category) == (
        "k8s:0b1f6a52-3c8d-4a1e-9f0e-1d2c3b4a5e6f",
        "kubernetes",
        "k8s:create pods/exec",
        InfraCategory.EXEC,
    )
    assert exec_.resource == "k8s://training/pods/trainer-0/exec" and exec_.status_code == 101
    assert (exec_.principal, exec_.principal_type, exec_.credential_id, exec_.source_ip) == (
        "alex.ng@corp.example",
        "user",
        "JTI=7f3c",
        "192.0.2.44",
    )
    assert exec_.ts == 1772445600.123456
    assert stage.event_id == exec_.event_id + ":RequestReceived"  # two stages, two ids
    assert (secret.category, secret.result, secret.error_code) == (InfraCategory.READ, Result.DENIED, "403")
    assert (secret.principal, secret.principal_type, secret.role) == (
        "system:serviceaccount:kube-system:admin",
        "serviceaccount",
        "alex.ng@corp.example",
    )
    assert listed.event_id == exec_.event_id and listed.origin == f"{batch}:1#0"


def test_k8s_malformed_events(tmp_path: Path) -> None:
    no_user = samples.k8s_exec()
    del no_user["user"]
    no_verb = samples.k8s_exec()
    del no_verb["verb"]
    bad_time = samples.k8s_exec()
    bad_time["requestReceivedTimestamp"] = "2026-13-45T99:00:00Z"
    path = tmp_path / "audit.log"
    path.write_bytes(
        samples.line(no_user)
        + samples.line(no_verb)
        + samples.line(bad_time)
        + samples.line(samples.k8s_exec())
    )
    events, report = run(path)
    assert len(events) == 1
    assert [(i.line, i.kind) for i in report.issues] == [
        (1, IssueKind.MISSING_FIELD),
        (2, IssueKind.MISSING_FIELD),
        (3, IssueKind.BAD_TIMESTAMP),
    ]
    assert report.errors_by_format == {"k8s_audit": 3}
