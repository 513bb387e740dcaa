"""The adapters' fast paths against their general paths: the same event, or a fallback.

A fast path (``gateway._typical_event``, ``otel._typical_span``) must either return exactly the event
the general path returns, with nothing to report, or raise ``AtypicalError`` so the general path runs.
Records here are the samples with one top-level or nested value replaced by a hostile one.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest

from modeltrace.monitor.adapters import fields as f
from modeltrace.monitor.adapters.base import ParseContext
from modeltrace.monitor.adapters.gateway import GatewayAdapter, _typical_event
from modeltrace.monitor.adapters.messages import maybe_json
from modeltrace.monitor.adapters.otel import OtelAdapter, _attributes, _typical_span
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.limits import DEFAULT_LIMITS, IngestLimits
from modeltrace.monitor.records import RawRecord
from modeltrace.monitor.report import IngestReport
from tests.monitor import samples

HOSTILE: list[Any] = [
    None, True, False, 0, 1, -1, 2.5, -0.0, 1e300, float("nan"), float("inf"), 10**30, 10**400,
    "", " ", "12", "-3", "1.5", "true", "yes", "x" * 2000, "é", "\ud800", [], [1], {}, {"a": 1},
    "sha256:ABCDEF0123", "DEADBEEF", "not hex", "2026-03-02T10:11:12Z", "2026-03-02T25:11:12Z",
    1772446272345, '[{"role": "user", "content": "hi"}]', "[1, 2", "chat", "execute_tool",
    {"stringValue": "s"}, {"intValue": "12"}, {"arrayValue": {"values": [{"stringValue": "a"}]}},
]  # fmt: skip
SMALL = IngestLimits(max_field_chars=8, max_prompt_chars=5, max_completion_chars=3)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj[:4]):
            out += _paths(value, (*prefix, index))
    return out


def _mutants(record: dict[str, Any], seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    paths = _paths(record)
    out = [record]
    for _ in range(count):
        mutant = json.loads(json.dumps(record))
        for path in rng.sample(paths, rng.choice((1, 1, 2, 3))):
            parent = mutant
            try:
                for key in path[:-1]:
                    parent = parent[key]
                if rng.random() < 0.2 and isinstance(parent, dict):
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = rng.choice(HOSTILE)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier replacement removed this path
        out.append(mutant)
    return out


def _context(record: RawRecord, limits: IngestLimits) -> ParseContext:
    ctx = ParseContext("f.jsonl", limits, IngestReport())
    ctx.record = record
    return ctx


def _same_or_fallback(fast: Any, general: Any, report: IngestReport) -> bool:
    """True when the fast path fell back; else asserts it matched the general path exactly."""
    try:
        event = fast()
    except f.AtypicalError:
        return True
    expected = general()
    assert dataclasses.astuple(event) == dataclasses.astuple(expected)  # astuple: every slot is set
    assert repr(event) == repr(expected)
    assert not report.issues and not report.skipped_by_reason
    return False


GATEWAY_RECORDS = [samples.gateway(), samples.gateway_hashed(), samples.gateway(path="/v1/embeddings")]


@pytest.mark.parametrize("limits", [DEFAULT_LIMITS, SMALL])
@pytest.mark.parametrize("base", range(len(GATEWAY_RECORDS)))
def test_gateway_fast_path_matches_the_general_path(base: int, limits: IngestLimits) -> None:
    fell_back = 0
    mutants = _mutants(GATEWAY_RECORDS[base], base, 300)
    for obj in mutants:
        record = RawRecord(obj, 3)
        ctx = _context(record, limits)
        try:
            general_event: ApiRequest | None = GatewayAdapter().parse_general(
                record, _context(record, limits)
            )
        except Exception:  # rejected or crashing: the fast path must not produce an event
            general_event = None
        if general_event is None:
            with pytest.raises(Exception):  # noqa: B017 -- whichever the general path raised
                _typical_event(record, ctx)
            continue
        report = IngestReport()
        reference = ParseContext("f.jsonl", limits, report)
        reference.record = record
        fell_back += _same_or_fallback(
            lambda: _typical_event(record, ctx),  # noqa: B023
            lambda: GatewayAdapter().parse_general(record, reference),  # noqa: B023
            report,
        )
    assert 0 < fell_back < len(mutants)  # both paths exercised


def _otel_spans() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    export = samples.otlp_export()
    out = []
    for resource_spans in export["resourceSpans"]:
        resource = resource_spans.get("resource", {})
        for scope in resource_spans["scopeSpans"]:
            out += [(resource, span) for span in scope["spans"]]
    flat = samples.otel_flat_span()
    out.append((flat.get("resource", {}), flat))
    return out


@pytest.mark.parametrize("index", range(len(_otel_spans())))
def test_otel_fast_path_matches_the_general_path(index: int) -> None:
    resource_obj, span = _otel_spans()[index]
    compared = 0
    for obj in _mutants(span, index, 200):
        resource = _attributes(resource_obj.get("attributes"))
        record = RawRecord(obj, 2)
        report = IngestReport()
        reference = ParseContext("f.jsonl", DEFAULT_LIMITS, report)
        reference.record = record
        adapter = OtelAdapter()
        try:
            expected = adapter._span(obj, resource, reference)
        except TypeError:  # an unhashable operation name: a known crash of the general path
            continue
        if expected is None or report.issues:
            continue  # skipped, rejected or warned: _span never returns the fast path's event here
        attrs = {**resource, **_attributes(obj.get("attributes"))}
        ctx = _context(record, DEFAULT_LIMITS)
        try:
            event = _typical_span(obj, attrs, attrs.get("gen_ai.operation.name"), ctx)
        except f.AtypicalError:
            continue
        assert dataclasses.astuple(event) == dataclasses.astuple(expected)
        compared += 1
    inference = OtelAdapter()._span(
        span, _attributes(resource_obj.get("attributes")), _context(RawRecord(span, 2), DEFAULT_LIMITS)
    )
    assert compared or inference is None  # a tool or HTTP span is skipped before the fast path


@pytest.mark.parametrize(
    "text",
    ["[1, 2]  ", "[1,2] x", '{"a": 1}', "[", '{"a": NaN}', "[1]\n", "x", "[1e400]", "[1]\u00a0", "{}{}"],
)
def test_maybe_json_is_json_loads_or_the_text(text: str) -> None:
    try:
        expected = json.loads(text) if text[:1] in "[{" else text
    except ValueError:
        expected = text
    assert repr(maybe_json(text)) == repr(expected)
