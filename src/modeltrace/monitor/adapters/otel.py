"""OpenTelemetry GenAI spans exported as JSON → :class:`~modeltrace.monitor.events.ApiRequest`.

Reads both shapes spans are exported in:

* **OTLP/JSON** (the collector's file exporter, ``otlp-json`` files, one ``ExportTraceServiceRequest``
  per line): ``{"resourceSpans": [{"resource": {"attributes": [...]}, "scopeSpans": [{"spans": [...]}]}]}``,
  attributes as ``[{"key": …, "value": {"stringValue" | "intValue" | "doubleValue" | "boolValue" |
  "arrayValue" | "kvlistValue": …}}]``, 64-bit integers as strings, times in ``*UnixNano``.
* **Flat spans** (SDK console/JSON exporters): ``{"name", "context": {"trace_id", "span_id"},
  "start_time", "end_time", "attributes": {…}, "events": [...], "resource": {"attributes": {…}}}``.

Only inference spans become events: ``gen_ai.operation.name`` in ``chat``, ``text_completion``,
``generate_content``, ``embeddings`` (or no operation but a ``gen_ai.request.model``). Other spans —
tool executions, agent invocations, HTTP spans — are counted as skipped, by reason.

Attribute mapping (semantic conventions for GenAI, development status; older names accepted):

=========================  ===========================================================================
field                      attributes (span first, then resource)
=========================  ===========================================================================
model, response_model      ``gen_ai.request.model``, ``gen_ai.response.model``
endpoint                   ``gen_ai.operation.name``
max_tokens …               ``gen_ai.request.max_tokens``, ``.temperature``, ``.top_p``, ``.seed``,
                           ``.stream``, ``.choice.count`` (→ n)
tokens                     ``gen_ai.usage.input_tokens`` / ``output_tokens`` (old: ``prompt_tokens`` /
                           ``completion_tokens``), ``gen_ai.usage.reasoning.output_tokens``
prompt, completion         ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (structured or JSON
                           text); old ``gen_ai.prompt`` / ``gen_ai.completion`` attributes or span
                           events ``gen_ai.content.prompt`` / ``gen_ai.content.completion``
system prompt, tools       ``gen_ai.system_instructions``, ``gen_ai.tool.definitions``
finish_reason              ``gen_ai.response.finish_reasons[0]``
session_id                 ``gen_ai.conversation.id``, ``session.id``
source_ip, user_agent      ``client.address``, ``user_agent.original``
country                    ``geo.country.iso_code``
account_id                 ``modeltrace.account.id``, then ``user.id``, then ``enduser.id``
key_id, org_id             ``modeltrace.api_key.id``, ``modeltrace.org.id`` (no convention exists)
end_user                   ``enduser.pseudo.id``
logprobs, top_logprobs     ``modeltrace.request.logprobs``, ``modeltrace.request.top_logprobs``
hashes only                ``modeltrace.prompt.sha256``, ``modeltrace.completion.sha256``
status_code                ``http.response.status_code``; else 500 when the span status is ERROR
=========================  ===========================================================================

``event_id`` is ``otel:<traceId>/<spanId>``; a span's ``origin`` index is its position among the
spans of its line.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from modeltrace.monitor.adapters import fields as f
from modeltrace.monitor.adapters.base import ParseContext
from modeltrace.monitor.adapters.messages import (
    bounded,
    content_text,
    last_user_text,
    maybe_json,
    message_text,
    plain_bounded,
    system_text,
    tools_digest,
)
from modeltrace.monitor.events import ApiRequest, Event
from modeltrace.monitor.records import RawRecord
from modeltrace.monitor.report import IssueKind

INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_ERROR_STATUS = (2, "STATUS_CODE_ERROR", "ERROR")
_MAX_ATTRIBUTES = 512  # per span: real GenAI spans carry a few dozen


def _otlp_value(value: Any) -> Any:
    """An OTLP/JSON ``AnyValue`` as a plain Python value."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        raw = value["intValue"]
        if isinstance(raw, str) and len(raw) <= 24:
            try:
                return int(raw)
            except ValueError:
                return raw
        return raw
    if "arrayValue" in value:
        items = f.as_dict(value["arrayValue"]).get("values")
        return [_otlp_value(v) for v in items] if isinstance(items, list) else []
    if "kvlistValue" in value:
        return _attributes(f.as_dict(value["kvlistValue"]).get("values"))
    if "bytesValue" in value:
        try:
            return base64.b64decode(str(value["bytesValue"]), validate=True).hex()
        except ValueError:
            return None
    return None


def _attributes(raw: Any) -> dict[str, Any]:
    """OTLP's ``[{"key", "value"}]`` list or a flat exporter's plain dict, as a dict (bounded)."""
    if isinstance(raw, dict):
        return raw if len(raw) <= _MAX_ATTRIBUTES else dict(list(raw.items())[:_MAX_ATTRIBUTES])
    out: dict[str, Any] = {}
    if isinstance(raw, list):
        for item in raw[:_MAX_ATTRIBUTES] if len(raw) > _MAX_ATTRIBUTES else raw:
            if isinstance(item, dict):
                key = item.get("key")
                if isinstance(key, str):
                    value = item.get("value")
                    # most attributes are strings: _otlp_value's first answer, without the call
                    if isinstance(value, dict) and "stringValue" in value:
                        out[key] = value["stringValue"]
                    else:
                        out[key] = _otlp_value(value)
    return out


def _hex_id(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= 66:
        return value.lower().removeprefix("0x")
    return None


def _event_text(events: Any, name: str, attribute: str) -> str | None:
    if not isinstance(events, list):
        return None
    for event in events[:64]:
        if isinstance(event, dict) and event.get("name") == name:
            value = _attributes(event.get("attributes")).get(attribute)
            if isinstance(value, str):
                return value
    return None


class OtelAdapter:
    name = "otel"

    def __init__(self) -> None:
        # spans are numbered per line; a line's resourceSpans elements arrive as separate records
        self._line: tuple[str, int] = ("", 0)
        self._ordinal = 0

    def matches(self, record: RawRecord) -> bool:
        obj = record.obj
        if record.wrapper == "resourceSpans" or "scopeSpans" in obj or "instrumentationLibrarySpans" in obj:
            return True
        return "attributes" in obj and ("context" in obj or "spanId" in obj or "span_id" in obj)

    def parse(self, record: RawRecord, ctx: ParseContext) -> Iterator[Event]:
        obj = record.obj
        line = (ctx.file, record.line)
        if line != self._line:
            self._line, self._ordinal = line, 0
        if "scopeSpans" in obj or "instrumentationLibrarySpans" in obj:
            resource = _attributes(f.sub(obj, "resource", ctx).get("attributes"))
            scopes = obj.get("scopeSpans", obj.get("instrumentationLibrarySpans"))
            for scope in scopes if isinstance(scopes, list) else []:
                spans = scope.get("spans") if isinstance(scope, dict) else None
                for span in spans if isinstance(spans, list) else []:
                    ctx.item = self._ordinal
                    self._ordinal += 1
                    try:
                        event = self._span(span, resource, ctx)
                    finally:
                        ctx.item = None
                    if event is not None:
                        yield event
        else:
            resource = _attributes(f.sub(obj, "resource", ctx).get("attributes"))
            event = self._span(obj, resource, ctx)
            if event is not None:
                yield event

    def _span(self, span: Any, resource: dict[str, Any], ctx: ParseContext) -> ApiRequest | None:
        if not isinstance(span, dict):
            ctx.error(IssueKind.NOT_AN_OBJECT, "span is not an object")
            return None
        attrs = {**resource, **_attributes(span.get("attributes"))}
        operation = attrs.get("gen_ai.operation.name")
        if operation is None and "gen_ai.request.model" not in attrs:
            ctx.skip("otel_span_without_gen_ai")
            return None
        if operation is not None and not isinstance(operation, str):
            # a list or object here is a broken exporter, not an operation we do not monitor
            ctx.error(
                IssueKind.WRONG_TYPE, f"gen_ai.operation.name: expected a string, got {str(operation)[:40]!r}"
            )
            return None
        if operation is not None and operation not in INFERENCE_OPERATIONS:
            ctx.skip(f"otel_gen_ai_{operation[:32]}_span")
            return None
        try:
            return _typical_span(span, attrs, operation, ctx)
        except f.AtypicalError:
            pass
        context = f.as_dict(span.get("context"))
        start_raw = span.get("startTimeUnixNano", span.get("start_time"))
        start = f.parse_timestamp(start_raw)
        if start is None:
            kind = IssueKind.MISSING_FIELD if start_raw is None else IssueKind.BAD_TIMESTAMP
            ctx.error(kind, f"span start time unusable: {str(start_raw)[:60]!r}")
            return None
        end = f.parse_timestamp(span.get("endTimeUnixNano", span.get("end_time")))
        trace = _hex_id(span.get("traceId", context.get("trace_id")))
        span_id = _hex_id(span.get("spanId", context.get("span_id")))
        event_id = f"otel:{trace}/{span_id}" if trace and span_id else f"otel:sha:{f.canonical_digest(span)}"
        limits = ctx.limits

        account = f.text(f.first(attrs, ("modeltrace.account.id", "user.id", "enduser.id")), ctx, "user.id")
        key = f.text(attrs.get("modeltrace.api_key.id"), ctx, "modeltrace.api_key.id")
        if account is None and key is None:
            ctx.warn(IssueKind.MISSING_FIELD, "span has no user.id, enduser.id or modeltrace.account.id")

        prompt, system, message_count, listed = _prompt_parts(span, attrs)
        prompt_text = prompt_hash = None
        prompt_chars = None
        if prompt is not None:
            prompt_text, prompt_hash, prompt_chars = bounded(prompt, limits.max_prompt_chars)
        else:
            prompt_hash = f.digest_field(
                attrs.get("modeltrace.prompt.sha256"), ctx, "modeltrace.prompt.sha256"
            )

        completion, choices = _completion_parts(span, attrs)
        completion_text = completion_hash = None
        if completion is not None:
            completion_text, completion_hash, _ = bounded(completion, limits.max_completion_chars)
        else:
            completion_hash = f.digest_field(
                attrs.get("modeltrace.completion.sha256"), ctx, "modeltrace.completion.sha256"
            )

        tools = maybe_json(attrs.get("gen_ai.tool.definitions"))
        reasons = attrs.get("gen_ai.response.finish_reasons")
        finish = reasons[0] if isinstance(reasons, list) and reasons else reasons
        status = f.as_dict(span.get("status"))
        status_code = f.integer(attrs.get("http.response.status_code"), ctx, "http.response.status_code")
        if status_code is None and status.get("code", status.get("status_code")) in _ERROR_STATUS:
            status_code = 500

        return ApiRequest(
            event_id=event_id,
            ts=start,
            source=self.name,
            origin=ctx.origin(),
            account_id=account,
            key_id=key,
            org_id=f.text(attrs.get("modeltrace.org.id"), ctx, "modeltrace.org.id"),
            end_user=f.text(attrs.get("enduser.pseudo.id"), ctx, "enduser.pseudo.id"),
            source_ip=f.text(attrs.get("client.address"), ctx, "client.address", 64),
            user_agent=f.text(attrs.get("user_agent.original"), ctx, "user_agent.original"),
            country=f.text(attrs.get("geo.country.iso_code"), ctx, "geo.country.iso_code", 8),
            session_id=f.text(
                f.first(attrs, ("gen_ai.conversation.id", "session.id")), ctx, "gen_ai.conversation.id"
            ),
            endpoint=f.text(operation, ctx, "gen_ai.operation.name", 64) or "chat",
            model=f.text(attrs.get("gen_ai.request.model"), ctx, "gen_ai.request.model", 200),
            max_tokens=f.count(attrs.get("gen_ai.request.max_tokens"), ctx, "gen_ai.request.max_tokens"),
            temperature=f.number(attrs.get("gen_ai.request.temperature"), ctx, "gen_ai.request.temperature"),
            top_p=f.number(attrs.get("gen_ai.request.top_p"), ctx, "gen_ai.request.top_p"),
            n=f.count(attrs.get("gen_ai.request.choice.count"), ctx, "gen_ai.request.choice.count"),
            seed=f.integer(attrs.get("gen_ai.request.seed"), ctx, "gen_ai.request.seed"),
            stream=f.flag(attrs.get("gen_ai.request.stream"), ctx, "gen_ai.request.stream"),
            logprobs=f.flag(attrs.get("modeltrace.request.logprobs"), ctx, "modeltrace.request.logprobs"),
            top_logprobs=f.count(
                attrs.get("modeltrace.request.top_logprobs"), ctx, "modeltrace.request.top_logprobs"
            ),
            has_tools=bool(tools) if tools is not None else None,
            tools_hash=tools_digest(tools) if tools else None,
            has_system_prompt=True if system is not None else (False if listed else None),
            system_prompt_hash=bounded(system, 0)[1] if system is not None else None,
            message_count=message_count,
            prompt_text=prompt_text,
            prompt_hash=prompt_hash,
            prompt_chars=prompt_chars,
            completion_text=completion_text,
            completion_hash=completion_hash,
            choices=choices,
            input_tokens=f.count(
                f.first(attrs, ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")),
                ctx,
                "gen_ai.usage.input_tokens",
            ),
            output_tokens=f.count(
                f.first(attrs, ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")),
                ctx,
                "gen_ai.usage.output_tokens",
            ),
            reasoning_tokens=f.count(
                attrs.get("gen_ai.usage.reasoning.output_tokens"), ctx, "gen_ai.usage.reasoning.output_tokens"
            ),
            status_code=status_code,
            finish_reason=f.text(finish, ctx, "gen_ai.response.finish_reasons", 64),
            latency_ms=(end - start) * 1000.0 if end is not None and end >= start else None,
            response_model=f.text(attrs.get("gen_ai.response.model"), ctx, "gen_ai.response.model", 200),
        )


def _prompt_parts(
    span: dict[str, Any], attrs: dict[str, Any]
) -> tuple[str | None, str | None, int | None, bool]:
    """(prompt text, system text, message count, whether input messages were listed) from the current
    input-messages attribute, else the legacy prompt attribute or span event; system instructions
    override the messages' system text."""
    inputs = maybe_json(attrs.get("gen_ai.input.messages"))
    prompt = system = None
    message_count = None
    if isinstance(inputs, list):
        prompt, system, message_count = last_user_text(inputs), system_text(inputs), len(inputs)
    else:
        legacy = maybe_json(
            attrs.get("gen_ai.prompt")
            or _event_text(span.get("events"), "gen_ai.content.prompt", "gen_ai.prompt")
        )
        if isinstance(legacy, list):
            prompt, system, message_count = last_user_text(legacy), system_text(legacy), len(legacy)
        elif isinstance(legacy, str):
            prompt, message_count = legacy, 1
    instructions = maybe_json(attrs.get("gen_ai.system_instructions"))
    if instructions is not None:
        system = content_text(instructions) or system
    return prompt, system, message_count, isinstance(inputs, list)


def _completion_parts(span: dict[str, Any], attrs: dict[str, Any]) -> tuple[str | None, int | None]:
    """(first choice's text, number of choices) from the output-messages attribute, else the legacy
    completion attribute or span event."""
    outputs = maybe_json(attrs.get("gen_ai.output.messages"))
    if isinstance(outputs, list) and outputs:
        return message_text(outputs[0]), len(outputs)
    legacy = maybe_json(
        attrs.get("gen_ai.completion")
        or _event_text(span.get("events"), "gen_ai.content.completion", "gen_ai.completion")
    )
    if isinstance(legacy, list) and legacy:
        return message_text(legacy[0]), len(legacy)
    if isinstance(legacy, str):
        return legacy, 1
    return None, None


def _typical_span(
    span: dict[str, Any], attrs: dict[str, Any], operation: Any, ctx: ParseContext
) -> ApiRequest:
    """The rest of ``_span`` for an inference span with nothing to report, without a helper call per field.

    As :func:`~.gateway._typical_event`: the general path's expressions with ``fields.plain_*`` in place of
    the helpers that could warn or report; :class:`~.fields.AtypicalError`, before any side effect, sends
    the span down the general path; digests of whole JSON values come last.
    """
    context = f.as_dict(span.get("context"))
    start = f.parse_timestamp(span.get("startTimeUnixNano", span.get("start_time")))
    if start is None:
        raise f.AtypicalError  # an error
    end = f.parse_timestamp(span.get("endTimeUnixNano", span.get("end_time")))
    trace = _hex_id(span.get("traceId", context.get("trace_id")))
    span_id = _hex_id(span.get("spanId", context.get("span_id")))
    limits = ctx.limits
    field_chars = limits.max_field_chars

    account = f.plain_text(f.first(attrs, ("modeltrace.account.id", "user.id", "enduser.id")), field_chars)
    key = f.plain_text(attrs.get("modeltrace.api_key.id"), field_chars)
    if account is None and key is None:
        raise f.AtypicalError  # a warning

    prompt, system, message_count, listed = _prompt_parts(span, attrs)
    prompt_text, prompt_hash, prompt_chars = plain_bounded(
        prompt, limits.max_prompt_chars, attrs.get("modeltrace.prompt.sha256")
    )

    completion, choices = _completion_parts(span, attrs)
    completion_text, completion_hash, _ = plain_bounded(
        completion, limits.max_completion_chars, attrs.get("modeltrace.completion.sha256")
    )

    tools = maybe_json(attrs.get("gen_ai.tool.definitions"))
    reasons = attrs.get("gen_ai.response.finish_reasons")
    finish = reasons[0] if isinstance(reasons, list) and reasons else reasons
    status = f.as_dict(span.get("status"))
    status_code = f.plain_integer(attrs.get("http.response.status_code"))
    if status_code is None and status.get("code", status.get("status_code")) in _ERROR_STATUS:
        status_code = 500

    # Slots assigned one by one: a keyword call with 43 arguments costs more than all of this.
    event = object.__new__(ApiRequest)
    event.ts = start
    event.source = OtelAdapter.name
    event.origin = ctx.origin()
    event.account_id = account
    event.key_id = key
    event.org_id = f.plain_text(attrs.get("modeltrace.org.id"), field_chars)
    event.end_user = f.plain_text(attrs.get("enduser.pseudo.id"), field_chars)
    event.source_ip = f.plain_text(attrs.get("client.address"), 64)
    event.user_agent = f.plain_text(attrs.get("user_agent.original"), field_chars)
    event.country = f.plain_text(attrs.get("geo.country.iso_code"), 8)
    event.asn = None
    event.network_type = None
    event.session_id = f.plain_text(f.first(attrs, ("gen_ai.conversation.id", "session.id")), field_chars)
    event.endpoint = f.plain_text(operation, 64) or "chat"
    event.model = f.plain_text(attrs.get("gen_ai.request.model"), 200)
    event.max_tokens = f.plain_count(attrs.get("gen_ai.request.max_tokens"))
    event.temperature = f.plain_number(attrs.get("gen_ai.request.temperature"))
    event.top_p = f.plain_number(attrs.get("gen_ai.request.top_p"))
    event.n = f.plain_count(attrs.get("gen_ai.request.choice.count"))
    event.seed = f.plain_integer(attrs.get("gen_ai.request.seed"))
    event.stream = f.plain_flag(attrs.get("gen_ai.request.stream"))
    event.logprobs = f.plain_flag(attrs.get("modeltrace.request.logprobs"))
    event.top_logprobs = f.plain_count(attrs.get("modeltrace.request.top_logprobs"))
    event.has_tools = bool(tools) if tools is not None else None
    event.has_system_prompt = True if system is not None else (False if listed else None)
    event.system_prompt_hash = bounded(system, 0)[1] if system is not None else None
    event.message_count = message_count
    event.prompt_text = prompt_text
    event.prompt_hash = prompt_hash
    event.prompt_chars = prompt_chars
    event.completion_text = completion_text
    event.completion_hash = completion_hash
    event.choices = choices
    event.input_tokens = f.plain_count(
        f.first(attrs, ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"))
    )
    event.output_tokens = f.plain_count(
        f.first(attrs, ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"))
    )
    event.reasoning_tokens = f.plain_count(attrs.get("gen_ai.usage.reasoning.output_tokens"))
    event.status_code = status_code
    event.finish_reason = f.plain_text(finish, 64)
    event.latency_ms = (end - start) * 1000.0 if end is not None and end >= start else None
    event.response_model = f.plain_text(attrs.get("gen_ai.response.model"), 200)

    event.tools_hash = tools_digest(tools) if tools else None
    event.event_id = (
        f"otel:{trace}/{span_id}" if trace and span_id else f"otel:sha:{f.canonical_digest(span)}"
    )
    return event
