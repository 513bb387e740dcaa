"""Hand-written SYNTHETIC log records in the real formats (no real customer, account or address).

Each function returns one well-formed record as a dict, shaped like what the real system writes:
an LLM gateway's request log, an OTLP/JSON export of GenAI spans, CloudTrail management and S3 data
events, and a Kubernetes audit event. Tests mutate them to make malformed lines.
"""

from __future__ import annotations

import copy
import json
from typing import Any


def gateway(request_id: str = "req_0001", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "timestamp": "2026-03-02T10:11:12.345Z",
        "request_id": request_id,
        "account_id": "acct_4f2a9c1e",
        "api_key_id": "key_77d1",
        "org_id": "org_example",
        "client_ip": "198.51.100.23",
        "user_agent": "OpenAI/Python 1.51.0",
        "country": "DE",
        "method": "POST",
        "path": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 812,
        "session_id": "conv_91",
        "request": {
            "model": "mt-large-2026-01",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is a monad?"},
                {"role": "assistant", "content": "A design pattern."},
                {"role": "user", "content": [{"type": "text", "text": "Explain it step by step."}]},
            ],
            "max_tokens": 1024,
            "temperature": 0.7,
            "top_p": 0.9,
            "n": 2,
            "seed": 42,
            "stream": False,
            "logprobs": True,
            "top_logprobs": 5,
            "tools": [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}],
            "user": "end-user-17",
        },
        "response": {
            "id": "chatcmpl-1",
            "model": "mt-large-2026-01-0301",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Step 1: …"},
                    "finish_reason": "stop",
                },
                {
                    "index": 1,
                    "message": {"role": "assistant", "content": "First, …"},
                    "finish_reason": "length",
                },
            ],
            "usage": {
                "prompt_tokens": 52,
                "completion_tokens": 640,
                "completion_tokens_details": {"reasoning_tokens": 128},
            },
        },
    }
    record.update(overrides)
    return record


def gateway_hashed() -> dict[str, Any]:
    """A zero-retention organisation's record: hashes and counts, no text."""
    return {
        "ts": 1772446272345,
        "id": "req_hash_1",
        "account": "acct_private",
        "key_id": "key_p",
        "ip": "2001:db8:1::5",
        "status": 200,
        "message_count": 3,
        "prompt_sha256": "sha256:" + "AB" * 32,
        "completion_sha256": "cd" * 32,
        "request": {"model": "mt-small", "max_completion_tokens": 256},
        "usage": {"input_tokens": 11, "output_tokens": 7},
    }


def otlp_export() -> dict[str, Any]:
    """One ExportTraceServiceRequest as the collector's file exporter writes it (one per line)."""

    def attr(key: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"key": key, "value": value}

    chat = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "name": "chat mt-large",
        "kind": 3,
        "startTimeUnixNano": "1772446272000000000",
        "endTimeUnixNano": "1772446273500000000",
        "attributes": [
            attr("gen_ai.operation.name", {"stringValue": "chat"}),
            attr("gen_ai.provider.name", {"stringValue": "openai"}),
            attr("gen_ai.request.model", {"stringValue": "mt-large"}),
            attr("gen_ai.request.max_tokens", {"intValue": "2048"}),
            attr("gen_ai.request.temperature", {"doubleValue": 0.0}),
            attr("gen_ai.request.choice.count", {"intValue": "4"}),
            attr("gen_ai.request.seed", {"intValue": 7}),
            attr("gen_ai.usage.input_tokens", {"intValue": "31"}),
            attr("gen_ai.usage.output_tokens", {"intValue": "900"}),
            attr("gen_ai.usage.reasoning.output_tokens", {"intValue": "300"}),
            attr("gen_ai.response.finish_reasons", {"arrayValue": {"values": [{"stringValue": "length"}]}}),
            attr("user.id", {"stringValue": "acct_eu_1"}),
            attr("client.address", {"stringValue": "203.0.113.9"}),
            attr("user_agent.original", {"stringValue": "OpenAI/NodeJS/4.67.3"}),
            attr("gen_ai.conversation.id", {"stringValue": "conv_x"}),
            attr(
                "gen_ai.input.messages",
                {
                    "stringValue": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": "Prove it."}]}]
                    )
                },
            ),
            attr(
                "gen_ai.output.messages",
                {
                    "stringValue": json.dumps(
                        [{"role": "assistant", "parts": [{"type": "text", "content": "Proof."}]}]
                    )
                },
            ),
            attr(
                "gen_ai.system_instructions",
                {"stringValue": json.dumps([{"type": "text", "content": "Be terse."}])},
            ),
        ],
        "status": {},
    }
    tool = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "00000000000000A1",
        "name": "execute_tool search",
        "startTimeUnixNano": "1772446272100000000",
        "attributes": [attr("gen_ai.operation.name", {"stringValue": "execute_tool"})],
    }
    http = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "00000000000000A2",
        "name": "POST /v1/chat",
        "startTimeUnixNano": "1772446272000000000",
        "attributes": [attr("http.request.method", {"stringValue": "POST"})],
    }
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", {"stringValue": "llm-gateway"})]},
                "scopeSpans": [
                    {"scope": {"name": "opentelemetry.instrumentation.openai"}, "spans": [chat, tool, http]}
                ],
            }
        ]
    }


def otel_flat_span() -> dict[str, Any]:
    """A span from an SDK's console/JSON exporter (flat attributes, ISO times, legacy attribute names)."""
    return {
        "name": "chat mt-small",
        "context": {"trace_id": "0x5b8efff798038103d269b633813fc60d", "span_id": "0x051581bf3cb55c13"},
        "kind": "SpanKind.CLIENT",
        "start_time": "2026-03-02T10:11:12.000000Z",
        "end_time": "2026-03-02T10:11:13.250000Z",
        "status": {"status_code": "ERROR"},
        "attributes": {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "mt-small",
            "gen_ai.usage.prompt_tokens": 12,
            "gen_ai.usage.completion_tokens": 0,
            "gen_ai.prompt": "Summarise this.",
            "enduser.id": "acct_flat",
        },
        "resource": {"attributes": {"service.name": "app"}},
    }


def cloudtrail_get_object(event_id: str = "6d8a3f2e-0000-4000-8000-000000000001") -> dict[str, Any]:
    return {
        "eventVersion": "1.10",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/alex.ng",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLEKEY00001",
            "userName": "alex.ng",
        },
        "eventTime": "2026-03-02T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.44",
        "userAgent": "aws-cli/2.17.20",
        "requestParameters": {
            "bucketName": "ckpt-bucket",
            "Host": "ckpt-bucket.s3.us-east-1.amazonaws.com",
            "key": "models/m/v1/model-00001-of-00004.safetensors",
        },
        "responseElements": None,
        "additionalEventData": {
            "SignatureVersion": "SigV4",
            "bytesTransferredIn": 0,
            "bytesTransferredOut": 4_900_000_000,
            "AuthenticationMethod": "QueryString",
        },
        "requestID": "R1",
        "eventID": event_id,
        "readOnly": True,
        "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::ckpt-bucket/models/m/v1/x"}],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": "111122223333",
        "eventCategory": "Data",
    }


def cloudtrail_copy_object() -> dict[str, Any]:
    record = cloudtrail_get_object("6d8a3f2e-0000-4000-8000-000000000002")
    record["eventName"] = "CopyObject"
    record["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:backup-7",
        "arn": "arn:aws:sts::111122223333:assumed-role/BackupRole/backup-7",
        "accountId": "111122223333",
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/BackupRole"},
            "attributes": {"creationDate": "2026-03-02T09:59:00Z", "mfaAuthenticated": "false"},
        },
    }
    record["requestParameters"] = {
        "bucketName": "backup-bucket",
        "key": "models/m/v1/model-00002-of-00004.safetensors",
        "x-amz-copy-source": "ckpt-bucket/models%2Fm%2Fv1%2Fmodel-00002-of-00004.safetensors?versionId=abc",
    }
    record["additionalEventData"] = {"SignatureVersion": "SigV4"}
    return record


def cloudtrail_console_login(success: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/alex.ng",
            "accountId": "111122223333",
            "userName": "alex.ng",
        },
        "eventTime": "2026-03-02T08:00:00Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "Mozilla/5.0",
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success" if success else "Failure"},
        "additionalEventData": {
            "LoginTo": "https://console.aws.amazon.com/",
            "MobileVersion": "No",
            "MFAUsed": "Yes",
        },
        "eventID": "6d8a3f2e-0000-4000-8000-00000000000" + ("3" if success else "4"),
        "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "111122223333",
    }
    if not success:
        record["errorMessage"] = "Failed authentication"
    return record


def cloudtrail_list_objects() -> dict[str, Any]:
    record = cloudtrail_get_object("6d8a3f2e-0000-4000-8000-000000000005")
    record["eventName"] = "ListObjects"
    record["requestParameters"] = {"bucketName": "ckpt-bucket", "list-type": "2", "prefix": "models/m/"}
    record["errorCode"] = "AccessDenied"
    return record


def k8s_exec() -> dict[str, Any]:
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "0b1f6a52-3c8d-4a1e-9f0e-1d2c3b4a5e6f",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/training/pods/trainer-0/exec?command=sh&stdin=true",
        "verb": "create",
        "user": {
            "username": "alex.ng@corp.example",
            "groups": ["ml-engineers", "system:authenticated"],
            "extra": {"authentication.kubernetes.io/credential-id": ["JTI=7f3c"]},
        },
        "sourceIPs": ["192.0.2.44", "10.0.0.1"],
        "userAgent": "kubectl/v1.30.4 (linux/amd64)",
        "objectRef": {
            "resource": "pods",
            "namespace": "training",
            "name": "trainer-0",
            "apiVersion": "v1",
            "subresource": "exec",
        },
        "responseStatus": {"metadata": {}, "code": 101},
        "requestReceivedTimestamp": "2026-03-02T10:00:00.123456Z",
        "stageTimestamp": "2026-03-02T10:00:00.200000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }


def k8s_secret_denied() -> dict[str, Any]:
    event = k8s_exec()
    event.update(auditID="aa11", verb="get", requestURI="/api/v1/namespaces/kube-system/secrets/admin")
    event["objectRef"] = {"resource": "secrets", "namespace": "kube-system", "name": "admin"}
    event["responseStatus"] = {"code": 403}
    event["impersonatedUser"] = {"username": "system:serviceaccount:kube-system:admin"}
    return event


def line(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode() + b"\n"


def clone(record: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(record)
