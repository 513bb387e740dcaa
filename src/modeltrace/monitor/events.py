"""The normalised event schema every monitor adapter produces and every detector consumes (version 1.0).

Two event types cover what extraction and exfiltration leave behind:

* :class:`ApiRequest` — one model request seen at an API gateway or in a GenAI span.
* :class:`InfraEvent` — one action on infrastructure: a sign-in, a credential use, an object-store
  read or copy, a Kubernetes API call.

``Event = ApiRequest | InfraEvent``. Adapters yield events one at a time (see
:func:`modeltrace.monitor.ingest.ingest`), in the order of each input file; nothing is loaded whole.
Every field except the four common ones may be ``None``: logs omit things, and a detector must treat
``None`` as *unknown*, never as *false* or *zero*. Text is bounded (see ``IngestLimits``) and always valid
Unicode; hashes are of the full text even when the kept text was truncated.

Common fields (both types)
--------------------------
``event_id``
    Stable identity of the event, the same on every ingest of the same log: ``<prefix>:<native id>``
    where the log has an id (``gw:`` gateway ``request_id``, ``otel:<traceId>/<spanId>``,
    ``ct:`` CloudTrail ``eventID``, ``k8s:`` audit ``auditID``, plus ``:<stage>`` for stages other
    than ``ResponseComplete``), else ``<prefix>:sha:<first 32 hex of SHA-256 of the canonical JSON of
    the record>``. Labels, alerts and evidence refer to events by this id.
``ts``
    Time of the event, float seconds since the Unix epoch, UTC (the request's start, or CloudTrail's
    ``eventTime``, or the audit event's ``requestReceivedTimestamp``). Not corrected for clock skew.
``source``
    The adapter that produced it: ``gateway``, ``otel``, ``cloudtrail`` or ``k8s_audit``.
``origin``
    ``"<file>:<line>"`` or ``"<file>:<line>#<index>"`` (index inside a ``Records``/``items``/
    ``resourceSpans`` array): where to find the raw record again.

ApiRequest
----------
Identity and network:

``account_id``
    The billing account (customer) that made the request.
``key_id``
    The API key (its id or hash, never the secret).
``org_id``
    Organisation or project the account belongs to, if the log carries one.
``end_user``
    The end-user identifier a reseller or application passes through (OpenAI's ``user`` field,
    OTel ``enduser.pseudo.id``); distinguishes the customers *behind* a reseller's key.
``source_ip``
    Client address as the gateway saw it (IPv4 or IPv6 text).
``user_agent``
    The HTTP ``User-Agent`` (SDK name and version, browser, script).
``country``
    ISO 3166-1 alpha-2 country of ``source_ip`` when the log or an enrichment supplied it.
``asn``
    Autonomous system number of ``source_ip`` when known.
``network_type``
    Kind of network behind ``source_ip`` when known: ``residential``, ``mobile``, ``cloud``,
    ``hosting`` (VPNs and proxies live here), ``education``, ``corporate``.
``session_id``
    Conversation or session id, when the client or gateway sets one.

Request:

``endpoint``
    Operation: ``chat``, ``text_completion``, ``responses``, ``embeddings``, ``generate_content`` …
``model``
    Model requested (``response_model`` is the one that answered, when different).
``max_tokens``, ``temperature``, ``top_p``, ``n``, ``seed``, ``stream``
    Sampling parameters as sent (``n`` is the number of choices requested). Unset stays ``None``.
``logprobs``, ``top_logprobs``
    Whether log-probabilities were requested, and how many alternatives per token.
``has_tools``, ``tools_hash``
    Whether tool/function definitions were sent, and SHA-256 of their canonical JSON.
``has_system_prompt``, ``system_prompt_hash``
    Whether a system (or developer) prompt was sent, and SHA-256 of its text.
``message_count``
    Messages in the request (1 for single-turn; grows along a conversation).
``prompt_text``, ``prompt_hash``
    The prompt: the last user message's text (text parts joined by newlines), or the completion
    API's ``prompt``. Text is kept up to ``IngestLimits.max_prompt_chars``; the hash (SHA-256 hex of
    its UTF-8) is of the whole text, or copied from the log when it only logs hashes.
``prompt_chars``
    Length of the whole prompt in characters (``None`` when only a hash was logged).

Response:

``completion_text``, ``completion_hash``
    First choice's text (bounded by ``max_completion_chars``) and SHA-256 of all of it.
``choices``
    Number of choices returned.
``input_tokens``, ``output_tokens``, ``reasoning_tokens``
    Usage as reported (reasoning tokens are part of output tokens, as in OpenAI and OTel usage).
``status_code``
    HTTP status of the request (``None`` when unknown; spans map error status to ``500``).
``finish_reason``
    Why the first choice stopped (``stop``, ``length``, ``tool_calls`` …).
``latency_ms``
    End-to-end latency in milliseconds.
``response_model``
    Model that produced the response, when the log says.

InfraEvent
----------
``provider``
    ``aws`` or ``kubernetes``.
``action``
    Native action, namespaced: ``s3:GetObject``, ``signin:ConsoleLogin``, ``iam:CreateAccessKey``,
    ``k8s:create pods/exec``.
``category``
    The action's place in an exfiltration story (:class:`InfraCategory`): ``login``,
    ``credential``, ``list``, ``read``, ``write``, ``copy``, ``delete``, ``share``, ``exec``,
    ``logging``, ``other``.
``principal``
    Who acted, as logged: an IAM ARN (for assumed roles the full session ARN), a Kubernetes user or
    service-account name.
``principal_type``
    ``IAMUser``, ``AssumedRole``, ``Root``, ``AWSService``, ``FederatedUser`` (CloudTrail), or
    ``user``, ``serviceaccount``, ``node`` (Kubernetes).
``role``
    For assumed roles, the role's ARN (one identity across many sessions); else ``None``.
``credential_id``
    The credential used: an AWS access key id, a Kubernetes credential id (token JTI, certificate
    hash).
``cloud_account``
    The cloud account (AWS account id) the action was recorded in.
``region``
    Cloud region of the call.
``source_ip``, ``user_agent``, ``country``, ``asn``, ``network_type``
    As for :class:`ApiRequest`. ``source_ip`` may be a service name (``s3.amazonaws.com``) when AWS
    acted on the principal's behalf.
``session_id``
    Session name of an assumed-role session, when there is one.
``mfa``
    Whether the sign-in or session used MFA.
``resource``
    What was acted on: ``s3://bucket/key`` (for listings ``s3://bucket/prefix``), a Kubernetes object
    ``k8s://namespace/resource/name[/subresource]``, or an ARN. For copies, the *source* (what was read).
``target``
    For copies, the destination (``s3://bucket/key``); else ``None``.
``bytes_out``, ``bytes_in``
    Bytes sent to and received from the principal, when logged (S3 data events log both).
``result``
    ``success``, ``failure`` or ``denied`` (:class:`Result`).
``error_code``
    The log's error code (``AccessDenied``, ``NoSuchKey``, an HTTP status as text) when not success.
``status_code``
    HTTP status when logged (Kubernetes).
``auth_method``
    How the request was authenticated when logged: S3's ``AuthHeader`` or ``QueryString``
    (a presigned URL).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

SCHEMA_VERSION = "1.0"


class InfraCategory(StrEnum):
    """Where an action sits in the usual theft sequence (new credential → list → read → copy out)."""

    LOGIN = "login"
    CREDENTIAL = "credential"
    LIST = "list"
    READ = "read"
    WRITE = "write"
    COPY = "copy"
    DELETE = "delete"
    SHARE = "share"
    EXEC = "exec"
    LOGGING = "logging"
    OTHER = "other"


class Result(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


# slots and no freezing: a frozen dataclass costs a second __setattr__ per field, and ingestion builds
# millions of these. Treat events as immutable anyway; detectors share them.
@dataclass(slots=True, kw_only=True)
class ApiRequest:
    """One model API request (see the module docstring for every field's meaning)."""

    kind: ClassVar[str] = "api"

    event_id: str
    ts: float
    source: str
    origin: str
    account_id: str | None = None
    key_id: str | None = None
    org_id: str | None = None
    end_user: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    country: str | None = None
    asn: int | None = None
    network_type: str | None = None
    session_id: str | None = None
    endpoint: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    seed: int | None = None
    stream: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    has_tools: bool | None = None
    tools_hash: str | None = None
    has_system_prompt: bool | None = None
    system_prompt_hash: str | None = None
    message_count: int | None = None
    prompt_text: str | None = None
    prompt_hash: str | None = None
    prompt_chars: int | None = None
    completion_text: str | None = None
    completion_hash: str | None = None
    choices: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    status_code: int | None = None
    finish_reason: str | None = None
    latency_ms: float | None = None
    response_model: str | None = None


@dataclass(slots=True, kw_only=True)
class InfraEvent:
    """One infrastructure action (see the module docstring for every field's meaning)."""

    kind: ClassVar[str] = "infra"

    event_id: str
    ts: float
    source: str
    origin: str
    provider: str
    action: str
    category: InfraCategory
    principal: str
    principal_type: str | None = None
    role: str | None = None
    credential_id: str | None = None
    cloud_account: str | None = None
    region: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    country: str | None = None
    asn: int | None = None
    network_type: str | None = None
    session_id: str | None = None
    mfa: bool | None = None
    resource: str | None = None
    target: str | None = None
    bytes_out: int | None = None
    bytes_in: int | None = None
    result: Result = Result.SUCCESS
    error_code: str | None = None
    status_code: int | None = None
    auth_method: str | None = None


Event = ApiRequest | InfraEvent

_API_FIELDS = {f.name for f in dataclasses.fields(ApiRequest)}
_INFRA_FIELDS = {f.name for f in dataclasses.fields(InfraEvent)}


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with ``schema`` and ``kind`` keys; ``None`` fields are left out to keep it small."""
    out: dict[str, Any] = {"schema": SCHEMA_VERSION, "kind": event.kind}
    for name in _API_FIELDS if isinstance(event, ApiRequest) else _INFRA_FIELDS:
        value = getattr(event, name)
        if value is not None:
            out[name] = str(value) if isinstance(value, StrEnum) else value
    return out


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of :func:`event_to_dict` (for events this version wrote; unknown keys are an error)."""
    if data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"event schema {data.get('schema')!r} is not {SCHEMA_VERSION!r}")
    fields = {k: v for k, v in data.items() if k not in ("schema", "kind")}
    if data.get("kind") == ApiRequest.kind:
        return ApiRequest(**fields)
    if data.get("kind") == InfraEvent.kind:
        fields["category"] = InfraCategory(fields["category"])
        if "result" in fields:
            fields["result"] = Result(fields["result"])
        return InfraEvent(**fields)
    raise ValueError(f"unknown event kind {data.get('kind')!r}")
