"""API gateway request logs as JSON lines → :class:`~modeltrace.monitor.events.ApiRequest`.

There is no standard gateway log, so this adapter reads the shape LLM gateways commonly write (one
object per request, the OpenAI-compatible request and response bodies embedded) and accepts the
usual aliases for each top-level field::

    {"timestamp": "2026-03-02T10:11:12.345Z",          # or ts, time, @timestamp, start_time (ISO or epoch)
     "request_id": "req_8f…",                          # or id, requestId
     "account_id": "acct_…", "api_key_id": "key_…",    # or account / customer_id / user_id; key_id
     "org_id": "org_…",                                # or organization_id, project_id
     "client_ip": "203.0.113.7", "user_agent": "…",    # or source_ip, remote_addr, ip; ua
     "country": "DE", "asn": 3320,                     # optional geo from the edge (e.g. a CDN header)
     "method": "POST", "path": "/v1/chat/completions", "status": 200, "latency_ms": 812,
     "session_id": "…",                                # or conversation_id
     "request":  {"model": …, "messages": [...], "max_tokens": …, "temperature": …, "top_p": …,
                  "n": …, "seed": …, "stream": …, "logprobs": …, "top_logprobs": …, "tools": [...],
                  "user": "end-user id"},
     "response": {"model": …, "choices": [{"message": {"content": …}, "finish_reason": …}],
                  "usage": {"prompt_tokens": …, "completion_tokens": …,
                            "completion_tokens_details": {"reasoning_tokens": …}}}}

Also read: the completions API (``prompt``), the Responses API (``input``, ``instructions``,
``max_output_tokens``, ``output_text``, ``usage.input_tokens``/``output_tokens``), Anthropic
messages (``system``, content blocks), a top-level ``usage``, and privacy-mode logs that carry
``prompt_sha256`` / ``completion_sha256`` / ``system_prompt_sha256`` / ``tools_sha256`` instead of
text. Required: a parseable timestamp. A record without account and key is kept, with a warning.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from modeltrace.monitor.adapters import fields as f
from modeltrace.monitor.adapters.base import ParseContext, RecordRejectedError
from modeltrace.monitor.adapters.messages import (
    bounded,
    content_text,
    last_user_text,
    plain_bounded,
    system_text,
    tools_digest,
)
from modeltrace.monitor.events import ApiRequest, Event
from modeltrace.monitor.records import RawRecord
from modeltrace.monitor.report import IssueKind

TIME_KEYS = ("timestamp", "ts", "time", "@timestamp", "start_time", "created_at")
ID_KEYS = ("request_id", "id", "requestId")
ACCOUNT_KEYS = ("account_id", "account", "customer_id", "user_id")
KEY_KEYS = ("api_key_id", "key_id", "api_key_hash")
ORG_KEYS = ("org_id", "organization_id", "project_id", "organization")
IP_KEYS = ("client_ip", "source_ip", "remote_addr", "ip")
_SIGNATURE = ("request", "account_id", "api_key_id", "key_id", "account", "customer_id", "prompt_sha256")

_ENDPOINTS = {
    "chat/completions": "chat",
    "completions": "text_completion",
    "responses": "responses",
    "embeddings": "embeddings",
    "messages": "chat",
}


def _endpoint(path: str | None) -> str | None:
    if path is None:
        return None
    trimmed = path.split("?", 1)[0].strip("/")
    for suffix, name in _ENDPOINTS.items():
        if trimmed.endswith(suffix):
            return name
    return trimmed.rsplit("/", 1)[-1][:64] or None


# The fast path's _endpoint: a gateway serves a handful of paths, so most records repeat one.
_cached_endpoint = functools.lru_cache(maxsize=1024)(_endpoint)


def _prompt_source(request: dict[str, Any]) -> tuple[str | None, str | None, int | None]:
    """(prompt text, system text, message count) from whichever request API shape this is."""
    messages = request.get("messages")
    system = None
    if isinstance(messages, list):
        prompt, system, count = last_user_text(messages), system_text(messages), len(messages)
    else:
        prompt, count = None, None
        value = request.get("input", request.get("prompt"))
        if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
            prompt, system, count = last_user_text(value), system_text(value), len(value)
        elif isinstance(value, list) and value:
            prompt, count = content_text(value[0]), 1
        elif isinstance(value, str):
            prompt, count = value, 1
    extra_system = request.get("system", request.get("instructions"))
    if extra_system is not None:
        extra = content_text(extra_system)
        if extra is not None:
            system = extra if system is None else f"{extra}\n{system}"
    return prompt, system, count


def _completion(response: dict[str, Any]) -> tuple[str | None, str | None, int | None]:
    """(first choice text, its finish reason, number of choices)."""
    choices = response.get("choices")
    if isinstance(choices, list) and choices:
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message")
        value = content_text(message.get("content")) if isinstance(message, dict) else None
        if value is None:
            value = content_text(choice.get("text"))
        reason = choice.get("finish_reason")
        return value, reason if isinstance(reason, str) else None, len(choices)
    if isinstance(response.get("output_text"), str):
        return response["output_text"], None, 1
    if isinstance(response.get("content"), list):  # Anthropic messages
        reason = response.get("stop_reason")
        return content_text(response["content"]), reason if isinstance(reason, str) else None, 1
    return None, None, None


def _logprobs(value: Any, ctx: ParseContext) -> bool | None:
    if type(value) is int:  # the completions API sends the number of alternatives
        return value > 0
    return f.flag(value, ctx, "request.logprobs")


class GatewayAdapter:
    name = "gateway"

    def matches(self, record: RawRecord) -> bool:
        obj = record.obj
        return record.wrapper is None and (
            "request" in obj or "account_id" in obj or any(key in obj for key in _SIGNATURE)
        )

    def parse(self, record: RawRecord, ctx: ParseContext) -> Iterator[Event]:
        yield self.event(record, ctx)

    def event(self, record: RawRecord, ctx: ParseContext) -> ApiRequest:
        """The record's one event (what ``parse`` yields), without a generator per record."""
        try:
            return _typical_event(record, ctx)
        except f.AtypicalError:
            return self.parse_general(record, ctx)

    def parse_general(self, record: RawRecord, ctx: ParseContext) -> ApiRequest:
        """The event of any record, reporting every field it drops (``parse`` tries a fast path first)."""
        obj = record.obj
        raw_ts = obj.get("timestamp")
        if raw_ts is None:
            raw_ts = f.first(obj, TIME_KEYS)
        if raw_ts is None:
            raise RecordRejectedError(
                IssueKind.MISSING_FIELD, "no timestamp (timestamp, ts, time, @timestamp, start_time)"
            )
        ts = f.parse_timestamp(raw_ts)
        if ts is None:
            raise RecordRejectedError(IssueKind.BAD_TIMESTAMP, f"unusable timestamp {str(raw_ts)[:60]!r}")
        request = f.sub(obj, "request", ctx)
        response = f.sub(obj, "response", ctx)
        limits = ctx.limits

        account = f.text(f.first(obj, ACCOUNT_KEYS), ctx, "account_id")
        key = f.text(f.first(obj, KEY_KEYS), ctx, "api_key_id")
        if account is None and key is None:
            ctx.warn(IssueKind.MISSING_FIELD, "no account_id or api_key_id")
        native_id = f.text(f.first(obj, ID_KEYS), ctx, "request_id", 200)
        event_id = f"gw:{native_id}" if native_id else f"gw:sha:{f.canonical_digest(obj)}"

        prompt, system, message_count = _prompt_source(request)
        prompt_text = prompt_hash = None
        prompt_chars = None
        if prompt is not None:
            prompt_text, prompt_hash, prompt_chars = bounded(prompt, limits.max_prompt_chars)
        else:
            prompt_hash = f.digest_field(obj.get("prompt_sha256"), ctx, "prompt_sha256")
        system_hash = (
            bounded(system, 0)[1]
            if system is not None
            else f.digest_field(obj.get("system_prompt_sha256"), ctx, "system_prompt_sha256")
        )
        has_system = True if system_hash else (False if "messages" in request else None)
        tools = request.get("tools", request.get("functions"))
        if isinstance(tools, list):
            tools_hash = tools_digest(tools) if tools else None
        else:
            tools_hash = f.digest_field(obj.get("tools_sha256"), ctx, "tools_sha256")
        has_tools = True if tools_hash else (False if isinstance(tools, list) else None)

        completion, finish_reason, choices = _completion(response)
        completion_text = completion_hash = None
        if completion is not None:
            completion_text, completion_hash, _ = bounded(completion, limits.max_completion_chars)
        else:
            completion_hash = f.digest_field(obj.get("completion_sha256"), ctx, "completion_sha256")
        usage = f.as_dict(response.get("usage")) or f.sub(obj, "usage", ctx)
        details = usage.get("completion_tokens_details", usage.get("output_tokens_details"))
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None

        return ApiRequest(
            event_id=event_id,
            ts=ts,
            source=self.name,
            origin=ctx.origin(),
            account_id=account,
            key_id=key,
            org_id=f.text(f.first(obj, ORG_KEYS), ctx, "org_id"),
            end_user=f.text(request.get("user", request.get("safety_identifier")), ctx, "request.user"),
            source_ip=f.text(f.first(obj, IP_KEYS), ctx, "client_ip", 64),
            user_agent=f.text(obj.get("user_agent", obj.get("ua")), ctx, "user_agent"),
            country=f.text(obj.get("country", obj.get("geo_country")), ctx, "country", 8),
            asn=f.integer(obj.get("asn"), ctx, "asn"),
            session_id=f.text(obj.get("session_id", obj.get("conversation_id")), ctx, "session_id"),
            endpoint=f.text(obj.get("endpoint"), ctx, "endpoint", 64)
            or _endpoint(f.text(obj.get("path"), ctx, "path")),
            model=f.text(request.get("model", obj.get("model")), ctx, "request.model", 200),
            max_tokens=f.count(
                f.first(request, ("max_tokens", "max_completion_tokens", "max_output_tokens")),
                ctx,
                "request.max_tokens",
            ),
            temperature=f.number(request.get("temperature"), ctx, "request.temperature"),
            top_p=f.number(request.get("top_p"), ctx, "request.top_p"),
            n=f.count(request.get("n"), ctx, "request.n"),
            seed=f.integer(request.get("seed"), ctx, "request.seed"),
            stream=f.flag(request.get("stream"), ctx, "request.stream"),
            logprobs=_logprobs(request.get("logprobs"), ctx),
            top_logprobs=f.count(request.get("top_logprobs"), ctx, "request.top_logprobs"),
            has_tools=has_tools,
            tools_hash=tools_hash,
            has_system_prompt=has_system,
            system_prompt_hash=system_hash,
            message_count=message_count
            if message_count is not None
            else f.count(obj.get("message_count"), ctx, "message_count"),
            prompt_text=prompt_text,
            prompt_hash=prompt_hash,
            prompt_chars=prompt_chars,
            completion_text=completion_text,
            completion_hash=completion_hash,
            choices=choices,
            input_tokens=f.count(
                f.first(usage, ("prompt_tokens", "input_tokens")), ctx, "usage.prompt_tokens"
            ),
            output_tokens=f.count(
                f.first(usage, ("completion_tokens", "output_tokens")), ctx, "usage.completion_tokens"
            ),
            reasoning_tokens=f.count(reasoning, ctx, "usage.reasoning_tokens"),
            status_code=f.integer(obj.get("status", obj.get("status_code")), ctx, "status"),
            finish_reason=f.text(finish_reason, ctx, "finish_reason", 64),
            latency_ms=f.number(obj.get("latency_ms"), ctx, "latency_ms"),
            response_model=f.text(response.get("model"), ctx, "response.model", 200),
        )


def _typical_event(record: RawRecord, ctx: ParseContext) -> ApiRequest:
    """``parse_general`` for a record with nothing to report, without a helper call per field.

    Each value is computed by the general path's expression, with ``fields.plain_*`` in place of the
    helper that could warn; a value those do not accept, or anything the general path would report,
    raises :class:`~.fields.AtypicalError` before any side effect, and the record takes the general path.
    The digests of whole JSON values come last, once every field is known to be typical: if one of them
    raises (nesting too deep to encode), the general path would have raised it too, having reported
    nothing before.
    """
    obj = record.obj
    ts = f.parse_timestamp(obj.get("timestamp"))  # None (absent, an alias, or unusable): general path
    request, response = obj.get("request"), obj.get("response")
    if ts is None or request.__class__ is not dict or response.__class__ is not dict:
        raise f.AtypicalError
    limits = ctx.limits
    field_chars = limits.max_field_chars

    value = obj.get("account_id")
    account = f.plain_text(value if value is not None else f.first(obj, ACCOUNT_KEYS), field_chars)
    value = obj.get("api_key_id")
    key = f.plain_text(value if value is not None else f.first(obj, KEY_KEYS), field_chars)
    if account is None and key is None:
        raise f.AtypicalError  # a warning
    value = obj.get("request_id")
    native_id = f.plain_text(value if value is not None else f.first(obj, ID_KEYS), 200)

    prompt, system, message_count = _prompt_source(request)
    prompt_text, prompt_hash, prompt_chars = plain_bounded(
        prompt, limits.max_prompt_chars, obj.get("prompt_sha256")
    )
    system_hash = (
        bounded(system, 0)[1] if system is not None else f.plain_digest(obj.get("system_prompt_sha256"))
    )
    tools = request.get("tools", request.get("functions"))
    tools_listed = isinstance(tools, list)
    tools_hash = None if tools_listed else f.plain_digest(obj.get("tools_sha256"))

    completion, finish_reason, choices = _completion(response)
    completion_text, completion_hash, _ = plain_bounded(
        completion, limits.max_completion_chars, obj.get("completion_sha256")
    )
    usage = f.as_dict(response.get("usage")) or f.plain_sub(obj.get("usage"))
    details = usage.get("completion_tokens_details", usage.get("output_tokens_details"))
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    logprobs = request.get("logprobs")

    # Slots assigned one by one: a keyword call with 43 arguments costs more than all of this.
    event = object.__new__(ApiRequest)
    event.ts = ts
    event.source = GatewayAdapter.name
    event.origin = ctx.origin()
    event.account_id = account
    event.key_id = key
    event.org_id = f.plain_text(f.first(obj, ORG_KEYS), field_chars)
    event.end_user = f.plain_text(request.get("user", request.get("safety_identifier")), field_chars)
    event.source_ip = f.plain_text(f.first(obj, IP_KEYS), 64)
    event.user_agent = f.plain_text(obj.get("user_agent", obj.get("ua")), field_chars)
    event.country = f.plain_text(obj.get("country", obj.get("geo_country")), 8)
    event.asn = f.plain_integer(obj.get("asn"))
    event.network_type = None
    event.session_id = f.plain_text(obj.get("session_id", obj.get("conversation_id")), field_chars)
    event.endpoint = f.plain_text(obj.get("endpoint"), 64) or _cached_endpoint(
        f.plain_text(obj.get("path"), field_chars)
    )
    event.model = f.plain_text(request.get("model", obj.get("model")), 200)
    event.max_tokens = f.plain_count(
        f.first(request, ("max_tokens", "max_completion_tokens", "max_output_tokens"))
    )
    event.temperature = f.plain_number(request.get("temperature"))
    event.top_p = f.plain_number(request.get("top_p"))
    event.n = f.plain_count(request.get("n"))
    event.seed = f.plain_integer(request.get("seed"))
    event.stream = f.plain_flag(request.get("stream"))
    event.logprobs = logprobs > 0 if logprobs.__class__ is int else f.plain_flag(logprobs)
    event.top_logprobs = f.plain_count(request.get("top_logprobs"))
    event.has_system_prompt = True if system_hash else (False if "messages" in request else None)
    event.system_prompt_hash = system_hash
    event.message_count = (
        message_count if message_count is not None else f.plain_count(obj.get("message_count"))
    )
    event.prompt_text = prompt_text
    event.prompt_hash = prompt_hash
    event.prompt_chars = prompt_chars
    event.completion_text = completion_text
    event.completion_hash = completion_hash
    event.choices = choices
    event.input_tokens = f.plain_count(f.first(usage, ("prompt_tokens", "input_tokens")))
    event.output_tokens = f.plain_count(f.first(usage, ("completion_tokens", "output_tokens")))
    event.reasoning_tokens = f.plain_count(reasoning)
    event.status_code = f.plain_integer(obj.get("status", obj.get("status_code")))
    event.finish_reason = f.plain_text(finish_reason, 64)
    event.latency_ms = f.plain_number(obj.get("latency_ms"))
    event.response_model = f.plain_text(response.get("model"), 200)

    if tools_listed:
        tools_hash = tools_digest(tools) if tools else None
    event.has_tools = True if tools_hash else (False if tools_listed else None)
    event.tools_hash = tools_hash
    event.event_id = f"gw:{native_id}" if native_id else f"gw:sha:{f.canonical_digest(obj)}"
    return event
