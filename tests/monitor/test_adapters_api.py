"""Gateway JSON lines and OpenTelemetry GenAI spans → ApiRequest, including malformed lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modeltrace.monitor import ApiRequest, IngestReport, ingest
from modeltrace.monitor.report import IssueKind, Severity
from tests.monitor import samples


def run(path: Path, **kwargs: object) -> tuple[list[ApiRequest], IngestReport]:
    report = IngestReport()
    events = list(ingest([path], report=report, **kwargs))  # type: ignore[arg-type]
    assert all(isinstance(e, ApiRequest) for e in events)
    return events, report  # type: ignore[return-value]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_gateway_record_maps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "gw.jsonl"
    path.write_bytes(samples.line(samples.gateway()))
    (event,), report = run(path)
    assert report.errors == 0 and report.warnings == 0
    assert event.event_id == "gw:req_0001" and event.source == "gateway" and event.origin == f"{path}:1"
    assert event.ts == pytest.approx(1772446272.345)
    assert (event.account_id, event.key_id, event.org_id, event.end_user) == (
        "acct_4f2a9c1e",
        "key_77d1",
        "org_example",
        "end-user-17",
    )
    assert (event.source_ip, event.user_agent, event.country, event.session_id) == (
        "198.51.100.23",
        "OpenAI/Python 1.51.0",
        "DE",
        "conv_91",
    )
    assert (event.endpoint, event.model, event.response_model) == (
        "chat",
        "mt-large-2026-01",
        "mt-large-2026-01-0301",
    )
    assert (event.max_tokens, event.temperature, event.top_p, event.n, event.seed, event.stream) == (
        1024,
        0.7,
        0.9,
        2,
        42,
        False,
    )
    assert (event.logprobs, event.top_logprobs, event.has_tools) == (True, 5, True)
    assert event.has_system_prompt and event.system_prompt_hash == sha("You are a helpful assistant.")
    assert event.prompt_text == "Explain it step by step." and event.prompt_hash == sha(
        "Explain it step by step."
    )
    assert event.message_count == 4 and event.prompt_chars == len("Explain it step by step.")
    assert event.completion_text == "Step 1: …" and event.choices == 2 and event.finish_reason == "stop"
    assert (event.input_tokens, event.output_tokens, event.reasoning_tokens) == (52, 640, 128)
    assert (event.status_code, event.latency_ms) == (200, 812.0)


def test_gateway_privacy_record_with_aliases_and_hashes(tmp_path: Path) -> None:
    path = tmp_path / "gw.jsonl"
    path.write_bytes(samples.line(samples.gateway_hashed()))
    (event,), report = run(path)
    assert report.errors == report.warnings == 0
    assert event.event_id == "gw:req_hash_1" and event.ts == pytest.approx(1772446272.345)
    assert (event.account_id, event.key_id, event.source_ip) == ("acct_private", "key_p", "2001:db8:1::5")
    assert event.prompt_text is None and event.prompt_hash == "ab" * 32 and event.completion_hash == "cd" * 32
    assert (event.message_count, event.max_tokens, event.input_tokens, event.output_tokens) == (3, 256, 11, 7)


def test_gateway_other_api_shapes(tmp_path: Path) -> None:
    responses_api = {
        "time": "2026-03-02T10:00:00+02:00",
        "request_id": "r1",
        "account_id": "a",
        "path": "/v1/responses",
        "request": {"model": "m", "input": "hello", "instructions": "be brief", "max_output_tokens": 50},
        "response": {"output_text": "hi", "usage": {"input_tokens": 3, "output_tokens": 1}},
    }
    completions_api = {
        "ts": 1772446272,
        "request_id": "r2",
        "key_id": "k",
        "path": "/v1/completions?x=1",
        "request": {"model": "m", "prompt": ["once upon"], "logprobs": 5},
        "response": {"choices": [{"text": "a time", "finish_reason": "length"}]},
    }
    anthropic = {
        "timestamp": "2026-03-02T10:00:00Z",
        "request_id": "r3",
        "account_id": "a",
        "path": "/v1/messages",
        "request": {
            "model": "c",
            "system": [{"type": "text", "text": "sys"}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}],
        },
        "response": {"content": [{"type": "text", "text": "ans"}], "stop_reason": "end_turn"},
    }
    path = tmp_path / "gw.jsonl"
    path.write_bytes(b"".join(samples.line(r) for r in (responses_api, completions_api, anthropic)))
    (responses, completions, messages), report = run(path)
    assert report.errors == report.warnings == 0
    assert responses.ts == pytest.approx(1772438400.0)  # the +02:00 offset is honoured
    assert (responses.endpoint, responses.prompt_text, responses.max_tokens, responses.completion_text) == (
        "responses",
        "hello",
        50,
        "hi",
    )
    assert responses.system_prompt_hash == sha("be brief") and responses.input_tokens == 3
    assert (
        completions.endpoint,
        completions.prompt_text,
        completions.logprobs,
        completions.finish_reason,
    ) == ("text_completion", "once upon", True, "length")
    assert messages.system_prompt_hash == sha("sys") and messages.prompt_text == "q"
    assert messages.completion_text == "ans" and messages.finish_reason == "end_turn"


def test_gateway_malformed_lines_are_counted_by_line_and_kind(tmp_path: Path) -> None:
    good = samples.gateway()
    no_time = samples.gateway("r2")
    del no_time["timestamp"]
    bad_time = samples.gateway("r3", timestamp="yesterday")
    wrong_types = samples.gateway("r4")
    wrong_types["request"].update(max_tokens="lots", temperature=[1], n=-2, stream="maybe")
    wrong_types["status"] = {"code": 200}
    anonymous = samples.gateway("r5")
    del anonymous["account_id"], anonymous["api_key_id"]
    path = tmp_path / "gw.jsonl"
    path.write_bytes(
        samples.line(good)
        + samples.line(no_time)
        + samples.line(bad_time)
        + samples.line(wrong_types)
        + json.dumps(samples.gateway("r6")).encode()[:150]
        + b"\n"  # truncated
        + samples.line(anonymous)
        + b'{"request_id": "orphan"}\n'  # no recognisable format
        + samples.line({**samples.gateway("r8"), "request": "not an object"})
    )
    events, report = run(path)
    assert [e.event_id for e in events] == ["gw:req_0001", "gw:r4", "gw:r5", "gw:r8"]
    errors = [(i.line, i.kind) for i in report.issues if i.severity is Severity.ERROR]
    assert errors == [
        (2, IssueKind.MISSING_FIELD),
        (3, IssueKind.BAD_TIMESTAMP),
        (5, IssueKind.TRUNCATED),
        (7, IssueKind.UNKNOWN_FORMAT),
    ]
    warnings = [
        (i.line, i.kind, i.detail.split(":")[0]) for i in report.issues if i.severity is Severity.WARNING
    ]
    assert warnings == [
        (4, IssueKind.WRONG_TYPE, "request.max_tokens"),
        (4, IssueKind.WRONG_TYPE, "request.temperature"),
        (4, IssueKind.WRONG_TYPE, "request.n"),
        (4, IssueKind.WRONG_TYPE, "request.stream"),
        (4, IssueKind.WRONG_TYPE, "status"),
        (6, IssueKind.MISSING_FIELD, "no account_id or api_key_id"),
        (8, IssueKind.WRONG_TYPE, "request"),
    ]
    kept = events[1]
    assert kept.max_tokens is None and kept.temperature is None and kept.n is None and kept.top_p == 0.9
    assert report.errors_by_kind == {
        "missing_field": 1,
        "bad_timestamp": 1,
        "truncated": 1,
        "unknown_format": 1,
    }
    assert report.records_by_format["gateway"] == 6 and report.events_by_format["gateway"] == 4


def test_text_is_bounded_after_hashing_the_whole(tmp_path: Path) -> None:
    long_prompt = "word " * 5000
    record = samples.gateway()
    record["request"]["messages"] = [
        {"role": "user", "content": long_prompt + "\ud800"}
    ]  # and a lone surrogate
    path = tmp_path / "gw.jsonl"
    path.write_bytes(samples.line(record))
    (event,), _ = run(path)
    assert event.prompt_text is not None and len(event.prompt_text) == 8192
    assert event.prompt_chars == len(long_prompt) + 1
    assert event.prompt_hash == sha(long_prompt + "?")  # the surrogate became "?" so the text is valid UTF-8
    event.prompt_text.encode("utf-8")


def test_otlp_export_maps_genai_attributes_and_skips_other_spans(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_bytes(samples.line(samples.otlp_export()))
    (event,), report = run(path)
    assert report.errors == report.warnings == 0
    assert report.skipped_by_reason == {"otel_gen_ai_execute_tool_span": 1, "otel_span_without_gen_ai": 1}
    assert event.event_id == "otel:5b8efff798038103d269b633813fc60c/eee19b7ec3c1b174"
    assert event.origin == f"{path}:1#0" and event.ts == pytest.approx(1772446272.0)
    assert event.latency_ms == pytest.approx(1500.0)
    assert (event.account_id, event.source_ip, event.user_agent, event.session_id) == (
        "acct_eu_1",
        "203.0.113.9",
        "OpenAI/NodeJS/4.67.3",
        "conv_x",
    )
    assert (event.endpoint, event.model, event.max_tokens, event.temperature, event.n, event.seed) == (
        "chat",
        "mt-large",
        2048,
        0.0,
        4,
        7,
    )
    assert (event.input_tokens, event.output_tokens, event.reasoning_tokens, event.finish_reason) == (
        31,
        900,
        300,
        "length",
    )
    assert event.prompt_text == "Prove it." and event.completion_text == "Proof." and event.message_count == 1
    assert event.has_system_prompt and event.system_prompt_hash == sha("Be terse.")


def test_flat_exported_span_with_legacy_attribute_names(tmp_path: Path) -> None:
    path = tmp_path / "flat.json"
    path.write_bytes(samples.line(samples.otel_flat_span()))
    (event,), report = run(path)
    assert report.errors == 0
    assert event.event_id == "otel:5b8efff798038103d269b633813fc60d/051581bf3cb55c13"
    assert (event.account_id, event.prompt_text, event.input_tokens, event.output_tokens) == (
        "acct_flat",
        "Summarise this.",
        12,
        0,
    )
    assert event.status_code == 500 and event.latency_ms == pytest.approx(1250.0)


def test_one_bad_span_does_not_cost_its_batch(tmp_path: Path) -> None:
    export = samples.otlp_export()
    spans = export["resourceSpans"][0]["scopeSpans"][0]["spans"]
    broken = samples.clone(spans[0])
    broken["startTimeUnixNano"] = "soon"
    broken["spanId"] = "BAD1"
    missing = samples.clone(spans[0])
    del missing["startTimeUnixNano"]
    spans[1:1] = [broken, "not a span", missing]
    lines = [samples.line(export), b'{"resourceSpans": [{"scopeSpans": [{"spans": [\n']
    path = tmp_path / "spans.jsonl"
    path.write_bytes(b"".join(lines))
    events, report = run(path)
    assert [e.event_id.split("/")[1] for e in events] == ["eee19b7ec3c1b174"]
    errors = [(i.line, i.index, i.kind) for i in report.issues]
    assert errors == [
        (1, 1, IssueKind.BAD_TIMESTAMP),
        (1, 2, IssueKind.NOT_AN_OBJECT),
        (1, 3, IssueKind.MISSING_FIELD),
        (2, None, IssueKind.TRUNCATED),
    ]


def test_values_that_used_to_crash_the_reader_are_reported_instead(tmp_path: Path) -> None:
    # found by fuzzing: a superscript digit passes str.isdigit() but not float(); an integer literal
    # longer than any double overflows float(); an OTel operation that is a list is unhashable
    superscript = samples.gateway("req_sup", timestamp="1772446272\u00b2")
    huge = samples.gateway("req_huge", latency_ms=10**400)
    huge_ts = samples.gateway("req_huge_ts", timestamp=10**400)
    span = samples.otel_flat_span()
    span["attributes"]["gen_ai.operation.name"] = ["chat"]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"".join(samples.line(r) for r in (superscript, huge, huge_ts, span, samples.gateway())))
    events, report = run(path)
    assert [e.event_id for e in events] == ["gw:req_huge", "gw:req_0001"]
    assert events[0].latency_ms is None
    kinds = [(i.line, i.kind, i.severity) for i in report.issues]
    assert kinds == [
        (1, IssueKind.BAD_TIMESTAMP, Severity.ERROR),
        (2, IssueKind.WRONG_TYPE, Severity.WARNING),
        (3, IssueKind.BAD_TIMESTAMP, Severity.ERROR),
        (4, IssueKind.WRONG_TYPE, Severity.ERROR),
    ]
