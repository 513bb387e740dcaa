"""Simulated calls → log records in the real formats the adapters read.

* API calls of accounts served by the main gateway → gateway JSON lines (OpenAI-compatible request and
  response bodies; zero-retention organisations get hashes instead of text).
* API calls of the EU deployment → OpenTelemetry GenAI spans in OTLP/JSON, one export request per
  line, batched as a collector would, with a few non-inference spans (health checks, tool
  executions) that adapters must skip.
* Infrastructure → CloudTrail records (management events in ``Records`` files, S3 data events one per
  line) and Kubernetes ``audit.k8s.io/v1`` events.

Each writer returns the event id an adapter will assign, so labels and logs cannot drift apart.
Metadata noise is part of the format: one gateway node's clock runs a few seconds fast, user agents
are sometimes missing, addresses are sometimes IPv6.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from typing import Any

from modeltrace.monitor.sim.clock import iso
from modeltrace.monitor.sim.estate import ACCOUNT_ID
from modeltrace.monitor.sim.world import ApiCall, InfraCall, hex_id

_PATHS = {"chat": "/v1/chat/completions", "embeddings": "/v1/embeddings"}
_SKEWED_NODE_SECONDS = 2.7  # one of eight gateway nodes runs fast


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _tokens(text: str) -> int:
    return len(text) // 4 + 1


def _messages(call: ApiCall) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if call.system is not None:
        messages.append({"role": "system", "content": call.system})
    for i, text in enumerate(call.history):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    messages.append({"role": "user", "content": call.prompt})
    return messages


def _tools(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": f"{name.replace('_', ' ')} tool",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
        for name in names
    ]


def input_tokens(call: ApiCall) -> int:
    return (
        _tokens(call.prompt)
        + sum(map(_tokens, call.history))
        + (_tokens(call.system) if call.system else 0)
        + 7
    )


def _finish(call: ApiCall) -> str:
    if call.tools and call.completion.startswith("Calling"):
        return "tool_calls"
    return "length" if call.max_tokens and call.output_tokens >= call.max_tokens else "stop"


def gateway_line(call: ApiCall, rng: random.Random) -> tuple[str, str]:
    request_id = f"req_{hex_id(rng, 96)}"
    skew = _SKEWED_NODE_SECONDS if rng.random() < 0.125 else 0.0
    account = call.account
    record: dict[str, Any] = {
        "timestamp": iso(call.ts + skew),
        "request_id": request_id,
        "account_id": account.account_id,
        "api_key_id": call.key_id,
    }
    if account.org_id:
        record["org_id"] = account.org_id
    record["client_ip"] = call.ip
    if call.user_agent is not None:
        record["user_agent"] = call.user_agent
    record.update(
        method="POST",
        path=_PATHS.get(call.endpoint, "/v1/chat/completions"),
        status=call.status,
        latency_ms=call.latency_ms,
    )
    if call.session:
        record["session_id"] = call.session
    request: dict[str, Any] = {"model": call.model}
    if call.endpoint == "embeddings":
        request["input"] = call.prompt if not account.privacy else None
    elif not account.privacy:
        request["messages"] = _messages(call)
    for name in ("max_tokens", "temperature", "top_p", "n", "seed", "stream", "logprobs", "top_logprobs"):
        value = getattr(call, name)
        if value is not None:
            request[name] = value
    if call.tools:
        if account.privacy:
            record["tools_sha256"] = _sha(json.dumps(_tools(call.tools), sort_keys=True))
        else:
            request["tools"] = _tools(call.tools)
    if call.end_user:
        request["user"] = call.end_user
    record["request"] = {k: v for k, v in request.items() if v is not None}
    if account.privacy:  # zero-retention: the gateway keeps hashes and counts, not text
        record["prompt_sha256"] = _sha(call.prompt)
        record["message_count"] = len(call.history) + 1 + (1 if call.system else 0)
        if call.system:
            record["system_prompt_sha256"] = _sha(call.system)
    prompt_tokens = input_tokens(call)
    if call.status == 429:
        record["response"] = {
            "error": {"type": "rate_limit_exceeded", "message": "Daily request limit reached."}
        }
    elif call.status >= 500:
        record["response"] = {"error": {"type": "server_error", "message": "The server had an error."}}
    elif call.endpoint == "embeddings":
        record["response"] = {
            "model": call.model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    else:
        n = call.n or 1
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": None if account.privacy else call.completion},
                "finish_reason": _finish(call),
            }
            for i in range(n)
        ]
        completion = call.output_tokens * n + call.reasoning_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }
        if call.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": call.reasoning_tokens}
        record["response"] = {
            "id": f"chatcmpl-{hex_id(rng, 64)}",
            "model": call.model,
            "choices": choices,
            "usage": usage,
        }
        if account.privacy:
            record["completion_sha256"] = _sha(call.completion)
    return f"gw:{request_id}", json.dumps(record, ensure_ascii=False, separators=(",", ":"))


# -- OpenTelemetry -------------------------------------------------------------------------------------


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}  # OTLP/JSON encodes int64 as a string
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": str(v)} for v in value]}}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "content": text}]


def otel_span(call: ApiCall, rng: random.Random) -> tuple[str, dict[str, Any]]:
    trace, span_id = hex_id(rng, 128), hex_id(rng, 64)
    account = call.account
    operation = "embeddings" if call.endpoint == "embeddings" else "chat"
    attrs: list[dict[str, Any]] = [
        _attr("gen_ai.operation.name", operation),
        _attr("gen_ai.provider.name", "modeltrace"),
        _attr("gen_ai.request.model", call.model),
        _attr("modeltrace.account.id", account.account_id),
        _attr("modeltrace.api_key.id", call.key_id),
        _attr("client.address", call.ip),
    ]
    if account.org_id:
        attrs.append(_attr("modeltrace.org.id", account.org_id))
    if call.user_agent is not None:
        attrs.append(_attr("user_agent.original", call.user_agent))
    if call.end_user:
        attrs.append(_attr("enduser.pseudo.id", call.end_user))
    if call.session:
        attrs.append(_attr("gen_ai.conversation.id", call.session))
    for name, key in (
        ("max_tokens", "gen_ai.request.max_tokens"),
        ("temperature", "gen_ai.request.temperature"),
        ("top_p", "gen_ai.request.top_p"),
        ("n", "gen_ai.request.choice.count"),
        ("seed", "gen_ai.request.seed"),
        ("stream", "gen_ai.request.stream"),
        ("logprobs", "modeltrace.request.logprobs"),
        ("top_logprobs", "modeltrace.request.top_logprobs"),
    ):
        value = getattr(call, name)
        if value is not None:
            attrs.append(_attr(key, value))
    if account.privacy:
        attrs.append(_attr("modeltrace.prompt.sha256", _sha(call.prompt)))
    else:
        messages = [
            {"role": "user" if i % 2 == 0 else "assistant", "parts": _parts(t)}
            for i, t in enumerate(call.history)
        ]
        messages.append({"role": "user", "parts": _parts(call.prompt)})
        attrs.append(_attr("gen_ai.input.messages", json.dumps(messages, ensure_ascii=False)))
        if call.system:
            attrs.append(
                _attr("gen_ai.system_instructions", json.dumps(_parts(call.system), ensure_ascii=False))
            )
    if call.tools:
        attrs.append(_attr("gen_ai.tool.definitions", json.dumps(_tools(call.tools))))
    attrs.append(_attr("gen_ai.usage.input_tokens", input_tokens(call)))
    attrs.append(_attr("http.response.status_code", call.status))
    status: dict[str, Any] = {}
    if call.status >= 400:
        status = {"code": 2, "message": "rate limited" if call.status == 429 else "server error"}
    elif operation == "chat":
        n = call.n or 1
        attrs.append(_attr("gen_ai.usage.output_tokens", call.output_tokens * n + call.reasoning_tokens))
        if call.reasoning_tokens:
            attrs.append(_attr("gen_ai.usage.reasoning.output_tokens", call.reasoning_tokens))
        attrs.append(_attr("gen_ai.response.model", call.model))
        attrs.append(_attr("gen_ai.response.finish_reasons", [_finish(call)] * n))
        if account.privacy:
            attrs.append(_attr("modeltrace.completion.sha256", _sha(call.completion)))
        else:
            outputs = [
                {"role": "assistant", "parts": _parts(call.completion), "finish_reason": _finish(call)}
            ] * n
            attrs.append(_attr("gen_ai.output.messages", json.dumps(outputs, ensure_ascii=False)))
    start = int(call.ts * 1e9)
    span = {
        "traceId": trace,
        "spanId": span_id,
        "name": f"{operation} {call.model}",
        "kind": 2,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + call.latency_ms * 1_000_000),
        "attributes": attrs,
        "status": status,
    }
    return f"otel:{trace}/{span_id}", span


def otel_noise_span(rng: random.Random, ts: float) -> dict[str, Any]:
    """A span the monitor must skip: a health check, or a tool execution inside an agent."""
    start = int(ts * 1e9)
    if rng.random() < 0.5:
        attrs = [
            _attr("http.request.method", "GET"),
            _attr("url.path", "/healthz"),
            _attr("http.response.status_code", 200),
        ]
        name = "GET /healthz"
    else:
        attrs = [_attr("gen_ai.operation.name", "execute_tool"), _attr("gen_ai.tool.name", "search_docs")]
        name = "execute_tool search_docs"
    return {
        "traceId": hex_id(rng, 128),
        "spanId": hex_id(rng, 64),
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 2_000_000),
        "attributes": attrs,
    }


def otel_line(spans: list[dict[str, Any]]) -> str:
    export = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        _attr("service.name", "llm-gateway-eu"),
                        _attr("deployment.environment", "prod"),
                        _attr("cloud.region", "eu-central-1"),
                    ]
                },
                "scopeSpans": [{"scope": {"name": "modeltrace.gateway", "version": "3.4.0"}, "spans": spans}],
            }
        ]
    }
    return json.dumps(export, ensure_ascii=False, separators=(",", ":"))


# -- CloudTrail ----------------------------------------------------------------------------------------

_DATA_EVENTS = frozenset(
    {"GetObject", "PutObject", "CopyObject", "ListObjects", "HeadObject", "PutObjectAcl", "DeleteObject"}
)
_READ_ONLY = frozenset({"GetObject", "ListObjects", "ListBuckets", "HeadObject", "GetCallerIdentity"})


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _identity(call: InfraCall) -> dict[str, Any]:
    who = call.principal
    if who.kind == "role":
        session = call.session_name or "session"
        digest = hashlib.blake2b(session.encode(), digest_size=8).hexdigest().upper()
        return {
            "type": "AssumedRole",
            "principalId": f"AROA{digest[:12]}:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{who.name}/{session}",
            "accountId": ACCOUNT_ID,
            "accessKeyId": f"ASIA{digest}",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": f"AROA{digest[:12]}",
                    "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{who.name}",
                    "accountId": ACCOUNT_ID,
                    "userName": who.name,
                },
                "attributes": {"creationDate": iso(call.ts - 60, millis=False), "mfaAuthenticated": "false"},
            },
        }
    identity: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": "AIDA" + hashlib.blake2b(who.name.encode(), digest_size=8).hexdigest().upper(),
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/{who.name}",
        "accountId": ACCOUNT_ID,
        "userName": who.name,
    }
    if call.service != "signin" and call.access_key:
        identity["accessKeyId"] = call.access_key
    return identity


def cloudtrail_record(call: InfraCall, rng: random.Random) -> tuple[str, dict[str, Any], bool]:
    """(event id, record, whether it is an S3 data event) for one infrastructure call."""
    event_id = _uuid(rng)
    source = f"{call.service}.amazonaws.com"
    params: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    resources: list[dict[str, Any]] | None = None
    if call.service == "s3":
        if call.bucket is not None:
            params = {"bucketName": call.bucket, "Host": f"{call.bucket}.s3.{call.region}.amazonaws.com"}
            if call.action == "ListObjects":
                params.update({"list-type": "2", "prefix": call.key or "", "delimiter": "/"})
            elif call.key is not None:
                params["key"] = call.key
            if call.copy_source is not None:
                params["x-amz-copy-source"] = call.copy_source
            if call.action == "PutBucketLogging":
                params["BucketLoggingStatus"] = {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}
            if call.action == "PutObjectAcl":
                params["x-amz-acl"] = "public-read"
            resources = [
                {
                    "type": "AWS::S3::Bucket",
                    "ARN": f"arn:aws:s3:::{call.bucket}",
                    "accountId": str(call.extra.get("outside_account", ACCOUNT_ID)),
                }
            ]
            if call.key is not None and call.action != "ListObjects":
                resources.insert(
                    0, {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{call.bucket}/{call.key}"}
                )
        else:
            params = {"Host": f"s3.{call.region}.amazonaws.com"}
        if call.action in _DATA_EVENTS:
            extra = {
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0,
                "bytesTransferredOut": call.bytes_out or 0,
                "AuthenticationMethod": call.auth_method or "AuthHeader",
                "x-amz-id-2": hex_id(rng, 128),
            }
    elif call.service == "signin":
        response = {"ConsoleLogin": "Failure" if call.error else "Success"}
        extra = {
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": "Yes" if call.mfa else "No",
        }
    elif call.action == "CreateAccessKey":
        params = {"userName": call.principal.name}
        response = {
            "accessKey": {
                "accessKeyId": str(call.extra.get("new_key")),
                "status": "Active",
                "userName": call.principal.name,
                "createDate": iso(call.ts, millis=False),
            }
        }
    data = call.action in _DATA_EVENTS
    record: dict[str, Any] = {
        "eventVersion": "1.10" if data else "1.09",
        "userIdentity": _identity(call),
        "eventTime": iso(call.ts, millis=False),
        "eventSource": source,
        "eventName": call.action,
        "awsRegion": call.region,
        "sourceIPAddress": call.ip,
        "userAgent": call.user_agent,
        "requestParameters": params,
        "responseElements": response,
    }
    if extra is not None:
        record["additionalEventData"] = extra
    if call.error and call.service != "signin":
        record["errorCode"] = call.error
    if call.error and call.service == "signin":
        record["errorMessage"] = call.error
    record.update(requestID=hex_id(rng, 64).upper(), eventID=event_id, readOnly=call.action in _READ_ONLY)
    if resources is not None:
        record["resources"] = resources
    record.update(
        eventType="AwsConsoleSignIn" if call.service == "signin" else "AwsApiCall",
        managementEvent=not data,
        recipientAccountId=ACCOUNT_ID,
        eventCategory="Data" if data else "Management",
    )
    if data:
        record["tlsDetails"] = {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{call.bucket}.s3.{call.region}.amazonaws.com",
        }
    return f"ct:{event_id}", record, data


# -- Kubernetes audit ----------------------------------------------------------------------------------


def k8s_event(call: InfraCall, rng: random.Random) -> tuple[str, dict[str, Any]]:
    audit_id = _uuid(rng)
    parts = (call.k8s_resource or "_cluster/unknown").split("/")
    namespace = None if parts[0] == "_cluster" else parts[0]
    ref: dict[str, Any] = {"resource": parts[1], "apiVersion": "v1"}
    if namespace:
        ref["namespace"] = namespace
    if len(parts) > 2:
        ref["name"] = parts[2]
    if len(parts) > 3:
        ref["subresource"] = parts[3]
    uri = "/api/v1/" + (f"namespaces/{namespace}/" if namespace else "") + "/".join(parts[1:])
    who = call.principal
    user: dict[str, Any] = {"username": who.k8s_user, "groups": ["system:authenticated"]}
    if who.kind == "role":
        user["uid"] = hashlib.blake2b(who.k8s_user.encode(), digest_size=16).hexdigest()
        user["groups"] = ["system:serviceaccounts", "system:serviceaccounts:training", "system:authenticated"]
    else:
        user["groups"] = [f"{who.role}s", "system:authenticated"]
        credential = hashlib.blake2b(
            f"{who.k8s_user}/{call.ip if call.label.attack else ''}".encode(), digest_size=16
        ).hexdigest()
        user["extra"] = {"authentication.kubernetes.io/credential-id": [f"JTI={credential}"]}
    received = iso(call.ts).replace("Z", "000Z")
    event = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": audit_id,
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": call.action,
        "user": user,
        "sourceIPs": [call.ip],
        "userAgent": call.user_agent,
        "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": call.k8s_code},
        "requestReceivedTimestamp": received,
        "stageTimestamp": iso(call.ts + rng.uniform(0.005, 0.2)).replace("Z", "000Z"),
        "annotations": {"authorization.k8s.io/decision": "forbid" if call.k8s_code == 403 else "allow"},
    }
    return f"k8s:{audit_id}", event
