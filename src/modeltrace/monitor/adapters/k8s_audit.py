"""Kubernetes audit events (``audit.k8s.io/v1`` ``Event``) → :class:`~modeltrace.monitor.events.InfraEvent`.

Reads the log backend's JSON lines and webhook ``EventList`` batches. Mapping:

* ``event_id`` ``k8s:<auditID>`` for the ``ResponseComplete`` (or ``Panic``) stage, which is one per
  request; ``k8s:<auditID>:<stage>`` for ``RequestReceived`` and ``ResponseStarted``, so a policy that
  logs several stages does not produce two events with one id.
* ``ts`` ``requestReceivedTimestamp`` (else ``stageTimestamp``; required).
* ``principal`` ``user.username`` (required); ``principal_type`` ``serviceaccount``, ``node`` or
  ``user``; when a request is impersonated, ``principal`` is the impersonated user and ``role`` the
  real one. ``credential_id`` ``user.extra["authentication.kubernetes.io/credential-id"]``.
* ``action`` ``k8s:<verb> <resource>[/<subresource>]``; ``resource``
  ``k8s://<namespace>/<resource>/<name>[/<subresource>]`` (``_cluster`` for cluster-scoped objects).
* ``category``: ``exec`` for ``exec``/``attach``/``portforward``/``proxy``; ``list`` for
  ``list``/``watch`` and ``get`` on anything but secrets; ``read`` for ``get`` on secrets;
  ``credential`` for token and certificate requests; ``share`` for (cluster) role bindings;
  ``logging`` for audit sinks and policies; ``write``/``delete`` otherwise.
* ``result`` from ``responseStatus.code``: 2xx and 101 success, 401/403 denied, else failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modeltrace.monitor.adapters import fields as f
from modeltrace.monitor.adapters.base import ParseContext, RecordRejectedError
from modeltrace.monitor.events import Event, InfraCategory, InfraEvent, Result
from modeltrace.monitor.records import RawRecord
from modeltrace.monitor.report import IssueKind

C = InfraCategory
_EXEC_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})
_CREDENTIAL_RESOURCES = frozenset({"serviceaccounts/token", "certificatesigningrequests", "tokenreviews"})
_SHARE_RESOURCES = frozenset({"rolebindings", "clusterrolebindings", "roles", "clusterroles"})
_LOGGING_RESOURCES = frozenset({"auditsinks", "auditpolicies"})
_CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


def _category(verb: str, resource: str, subresource: str | None) -> InfraCategory:
    full = f"{resource}/{subresource}" if subresource else resource
    if subresource in _EXEC_SUBRESOURCES:
        return C.EXEC
    if full in _CREDENTIAL_RESOURCES or resource in _CREDENTIAL_RESOURCES:
        return C.CREDENTIAL
    if verb in ("list", "watch"):
        return C.LIST
    if verb == "get":
        return C.READ if resource == "secrets" else C.LIST
    if resource in _SHARE_RESOURCES:
        return C.SHARE
    if resource in _LOGGING_RESOURCES:
        return C.LOGGING
    if verb in ("delete", "deletecollection"):
        return C.DELETE
    if verb in ("create", "update", "patch"):
        return C.WRITE
    return C.OTHER


def _principal_type(username: str) -> str:
    if username.startswith("system:serviceaccount:"):
        return "serviceaccount"
    if username.startswith("system:node:"):
        return "node"
    return "user"


def _credential_id(user: dict[str, Any]) -> Any:
    extra = user.get("extra")
    if isinstance(extra, dict):
        value = extra.get(_CREDENTIAL_ID)
        return value[0] if isinstance(value, list) and value else value
    return None


class K8sAuditAdapter:
    name = "k8s_audit"

    def matches(self, record: RawRecord) -> bool:
        obj = record.obj
        api_version = obj.get("apiVersion")
        if isinstance(api_version, str) and api_version.startswith("audit.k8s.io/"):
            return True
        return "auditID" in obj and "verb" in obj

    def parse(self, record: RawRecord, ctx: ParseContext) -> Iterator[Event]:
        yield self.event(record, ctx)

    def event(self, record: RawRecord, ctx: ParseContext) -> InfraEvent:
        """The record's one event (what ``parse`` yields), without a generator per record."""
        obj = record.obj
        raw_time = obj.get("requestReceivedTimestamp", obj.get("stageTimestamp"))
        if raw_time is None:
            raise RecordRejectedError(
                IssueKind.MISSING_FIELD, "no requestReceivedTimestamp or stageTimestamp"
            )
        ts = f.parse_timestamp(raw_time)
        if ts is None:
            raise RecordRejectedError(IssueKind.BAD_TIMESTAMP, f"unusable timestamp {str(raw_time)[:60]!r}")
        user = obj.get("user")
        if not isinstance(user, dict):
            raise RecordRejectedError(
                IssueKind.MISSING_FIELD if user is None else IssueKind.WRONG_TYPE, "no user object"
            )
        username = f.text(user.get("username"), ctx, "user.username")
        if not username:
            raise RecordRejectedError(IssueKind.MISSING_FIELD, "user.username missing")
        verb = f.text(obj.get("verb"), ctx, "verb", 32)
        if verb is None:
            raise RecordRejectedError(IssueKind.MISSING_FIELD, "no verb")
        impersonated = obj.get("impersonatedUser")
        role = None
        if isinstance(impersonated, dict) and isinstance(impersonated.get("username"), str):
            role, username = username, impersonated["username"][: ctx.limits.max_field_chars]

        ref = f.sub(obj, "objectRef", ctx)
        resource_kind = f.text(ref.get("resource"), ctx, "objectRef.resource", 128) or ""
        subresource = f.text(ref.get("subresource"), ctx, "objectRef.subresource", 64)
        namespace = f.text(ref.get("namespace"), ctx, "objectRef.namespace", 253) or "_cluster"
        name = f.text(ref.get("name"), ctx, "objectRef.name", 253)
        path = "/".join(p for p in (namespace, resource_kind, name, subresource) if p)
        resource = f"k8s://{path}" if resource_kind else f.text(obj.get("requestURI"), ctx, "requestURI")

        status = f.sub(obj, "responseStatus", ctx)
        code = f.integer(status.get("code"), ctx, "responseStatus.code")
        if code is None or 200 <= code < 300 or code == 101:
            result = Result.SUCCESS
        elif code in (401, 403):
            result = Result.DENIED
        else:
            result = Result.FAILURE
        source_ips = obj.get("sourceIPs")
        source_ip = source_ips[0] if isinstance(source_ips, list) and source_ips else None

        audit_id = f.text(obj.get("auditID"), ctx, "auditID", 128)
        stage = obj.get("stage")
        if not audit_id:
            event_id = f"k8s:sha:{f.canonical_digest(obj)}"
        elif stage in (None, "ResponseComplete", "Panic"):
            event_id = f"k8s:{audit_id}"
        else:
            event_id = f"k8s:{audit_id}:{str(stage)[:32]}"
        action = f"{resource_kind}/{subresource}" if subresource else resource_kind
        return InfraEvent(
            event_id=event_id,
            ts=ts,
            source=self.name,
            origin=ctx.origin(),
            provider="kubernetes",
            action=f"k8s:{verb} {action or '?'}",
            category=_category(verb, resource_kind, subresource),
            principal=username,
            principal_type=_principal_type(username),
            role=role,
            credential_id=f.text(_credential_id(user), ctx, "user.extra.credential-id", 256),
            source_ip=f.text(source_ip, ctx, "sourceIPs", 64),
            user_agent=f.text(obj.get("userAgent"), ctx, "userAgent"),
            resource=resource,
            result=result,
            error_code=str(code) if result is not Result.SUCCESS and code is not None else None,
            status_code=code,
        )
