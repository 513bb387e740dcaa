"""AWS CloudTrail records → :class:`~modeltrace.monitor.events.InfraEvent`.

Reads records from CloudTrail's S3 delivery files (``{"Records": [...]}``, usually ``.json.gz``, read
as a stream however large) and from one-record-per-line exports (CloudWatch Logs, CloudTrail Lake,
SIEM forwarders). Management events (``ConsoleLogin``, IAM and STS calls, trail changes) and S3 data
events (``GetObject``, ``ListObjects``, ``CopyObject`` …) map alike:

* ``event_id`` ``ct:<eventID>``; ``ts`` ``eventTime`` (required).
* ``action`` ``<service>:<eventName>`` (``s3:GetObject``, ``signin:ConsoleLogin``).
* ``principal`` ``userIdentity.arn`` (else ``principalId``, ``userName``, ``invokedBy``; one of them
  is required); ``role`` the session issuer's ARN for assumed roles; ``credential_id``
  ``userIdentity.accessKeyId``; ``session_id`` the assumed-role session name.
* ``resource`` ``s3://bucket/key`` (``s3://bucket/prefix`` for listings); for ``CopyObject`` and
  ``UploadPartCopy`` the *source* (``x-amz-copy-source``), with the destination in ``target``.
* ``bytes_out``/``bytes_in`` from ``additionalEventData.bytesTransferredOut``/``In``;
  ``auth_method`` ``additionalEventData.AuthenticationMethod`` (``QueryString`` = presigned URL).
* ``mfa`` ``additionalEventData.MFAUsed`` for sign-ins, else ``sessionContext.attributes.mfaAuthenticated``.
* ``result`` ``denied`` for access-denied error codes, ``failure`` for other errors or a failed
  ``ConsoleLogin``, else ``success``.

CloudTrail carries no geography: ``country``/``asn`` stay ``None`` until
:func:`modeltrace.monitor.ipintel.enrich` fills them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from modeltrace.monitor.adapters import fields as f
from modeltrace.monitor.adapters.base import ParseContext, RecordRejectedError
from modeltrace.monitor.events import Event, InfraCategory, InfraEvent, Result
from modeltrace.monitor.records import RawRecord
from modeltrace.monitor.report import IssueKind

C = InfraCategory
_CATEGORY = {
    "GetObject": C.READ,
    "GetObjectTorrent": C.READ,
    "SelectObjectContent": C.READ,
    "RestoreObject": C.READ,
    "HeadObject": C.LIST,
    "GetObjectAttributes": C.LIST,
    "ListObjects": C.LIST,
    "ListObjectsV2": C.LIST,
    "ListObjectVersions": C.LIST,
    "ListBuckets": C.LIST,
    "ListMultipartUploads": C.LIST,
    "CopyObject": C.COPY,
    "UploadPartCopy": C.COPY,
    "PutObject": C.WRITE,
    "CreateMultipartUpload": C.WRITE,
    "UploadPart": C.WRITE,
    "CompleteMultipartUpload": C.WRITE,
    "DeleteObject": C.DELETE,
    "DeleteObjects": C.DELETE,
    "ConsoleLogin": C.LOGIN,
    "CheckMfa": C.LOGIN,
    "Federate": C.LOGIN,
    "Authenticate": C.LOGIN,
    "CreateAccessKey": C.CREDENTIAL,
    "UpdateAccessKey": C.CREDENTIAL,
    "CreateLoginProfile": C.CREDENTIAL,
    "UpdateLoginProfile": C.CREDENTIAL,
    "AssumeRole": C.CREDENTIAL,
    "AssumeRoleWithSAML": C.CREDENTIAL,
    "AssumeRoleWithWebIdentity": C.CREDENTIAL,
    "GetSessionToken": C.CREDENTIAL,
    "GetFederationToken": C.CREDENTIAL,
    "GetCallerIdentity": C.CREDENTIAL,
    "CreateServiceSpecificCredential": C.CREDENTIAL,
    "PutBucketPolicy": C.SHARE,
    "DeleteBucketPolicy": C.SHARE,
    "PutBucketAcl": C.SHARE,
    "PutObjectAcl": C.SHARE,
    "PutPublicAccessBlock": C.SHARE,
    "DeletePublicAccessBlock": C.SHARE,
    "PutBucketReplication": C.SHARE,
    "StopLogging": C.LOGGING,
    "DeleteTrail": C.LOGGING,
    "UpdateTrail": C.LOGGING,
    "PutEventSelectors": C.LOGGING,
    "PutBucketLogging": C.LOGGING,
    "DeleteFlowLogs": C.LOGGING,
    "StartSession": C.EXEC,
}
_DENIED_CODES = ("AccessDenied", "UnauthorizedOperation", "Client.UnauthorizedOperation", "Forbidden")


def _category(name: str) -> InfraCategory:
    known = _CATEGORY.get(name)
    if known is not None:
        return known
    if name.startswith(("List", "Describe", "Get", "Head")):
        return C.LIST
    if name.startswith("Delete"):
        return C.DELETE
    if name.startswith(("Create", "Put", "Update", "Attach", "Modify")):
        return C.WRITE
    return C.OTHER


def _copy_source(value: Any) -> str | None:
    """``x-amz-copy-source`` ("bucket/key", maybe URL-encoded, maybe with a leading slash or versionId)."""
    if not isinstance(value, str) or not value:
        return None
    source = unquote(value.split("?", 1)[0]).lstrip("/")
    return f"s3://{source}" if "/" in source else None


def _s3_resource(params: dict[str, Any], ctx: ParseContext) -> str | None:
    bucket = f.text(params.get("bucketName"), ctx, "requestParameters.bucketName")
    if bucket is None:
        return None
    key = params.get("key", params.get("prefix"))
    key_text = f.text(key, ctx, "requestParameters.key") if key is not None else ""
    return f"s3://{bucket}/{key_text or ''}"


def _resource_arn(record: dict[str, Any]) -> str | None:
    resources = record.get("resources")
    if isinstance(resources, list):
        for resource in resources:
            if isinstance(resource, dict) and isinstance(resource.get("ARN"), str):
                return str(resource["ARN"])[:1024]
    return None


class CloudTrailAdapter:
    name = "cloudtrail"

    def matches(self, record: RawRecord) -> bool:
        obj = record.obj
        return record.wrapper == "Records" or ("eventSource" in obj and "eventName" in obj)

    def parse(self, record: RawRecord, ctx: ParseContext) -> Iterator[Event]:
        yield self.event(record, ctx)

    def event(self, record: RawRecord, ctx: ParseContext) -> InfraEvent:
        """The record's one event (what ``parse`` yields), without a generator per record."""
        obj = record.obj
        raw_time = obj.get("eventTime")
        if raw_time is None:
            raise RecordRejectedError(IssueKind.MISSING_FIELD, "no eventTime")
        ts = f.parse_timestamp(raw_time)
        if ts is None:
            raise RecordRejectedError(IssueKind.BAD_TIMESTAMP, f"unusable eventTime {str(raw_time)[:60]!r}")
        name = obj.get("eventName")
        if not isinstance(name, str) or not name:
            raise RecordRejectedError(
                IssueKind.MISSING_FIELD if name is None else IssueKind.WRONG_TYPE, "no eventName"
            )
        name = name[:128]
        identity = obj.get("userIdentity")
        if not isinstance(identity, dict):
            kind = IssueKind.MISSING_FIELD if identity is None else IssueKind.WRONG_TYPE
            raise RecordRejectedError(kind, "no userIdentity object")
        principal = f.text(
            f.first(identity, ("arn", "principalId", "userName", "invokedBy")), ctx, "userIdentity.arn"
        )
        if principal is None:
            raise RecordRejectedError(
                IssueKind.MISSING_FIELD, "userIdentity has no arn, principalId, userName or invokedBy"
            )
        session = f.as_dict(identity.get("sessionContext"))
        issuer = f.as_dict(session.get("sessionIssuer"))
        attributes = f.as_dict(session.get("attributes"))
        principal_type = f.text(identity.get("type"), ctx, "userIdentity.type", 64)
        role = (
            f.text(issuer.get("arn"), ctx, "sessionIssuer.arn") if principal_type == "AssumedRole" else None
        )
        session_name = principal.rsplit("/", 1)[-1] if role is not None and "/" in principal else None

        params = f.sub(obj, "requestParameters", ctx)
        extra = f.sub(obj, "additionalEventData", ctx)
        responses = f.as_dict(obj.get("responseElements"))
        source = f.text(obj.get("eventSource"), ctx, "eventSource", 128) or "unknown"
        service = source.split(".", 1)[0]

        resource = target = None
        if name in ("CopyObject", "UploadPartCopy"):
            resource = _copy_source(params.get("x-amz-copy-source"))
            target = _s3_resource(params, ctx)
        elif service == "s3":
            resource = _s3_resource(params, ctx)
        if resource is None:
            resource = _resource_arn(obj)

        error_code = f.text(obj.get("errorCode"), ctx, "errorCode", 128)
        if error_code is not None:
            result = Result.DENIED if error_code.startswith(_DENIED_CODES) else Result.FAILURE
        elif responses.get("ConsoleLogin") == "Failure":
            result, error_code = Result.FAILURE, "Failed authentication"
        else:
            result = Result.SUCCESS

        mfa_used = extra.get("MFAUsed")
        mfa = (
            f.flag(mfa_used, ctx, "additionalEventData.MFAUsed")
            if mfa_used is not None
            else f.flag(attributes.get("mfaAuthenticated"), ctx, "sessionContext.attributes.mfaAuthenticated")
        )
        native_id = f.text(obj.get("eventID"), ctx, "eventID", 128)
        return InfraEvent(
            event_id=f"ct:{native_id}" if native_id else f"ct:sha:{f.canonical_digest(obj)}",
            ts=ts,
            source=self.name,
            origin=ctx.origin(),
            provider="aws",
            action=f"{service}:{name}",
            category=_category(name),
            principal=principal,
            principal_type=principal_type,
            role=role,
            credential_id=f.text(identity.get("accessKeyId"), ctx, "userIdentity.accessKeyId", 128),
            cloud_account=f.text(
                obj.get("recipientAccountId") or identity.get("accountId"), ctx, "accountId", 32
            ),
            region=f.text(obj.get("awsRegion"), ctx, "awsRegion", 64),
            source_ip=f.text(obj.get("sourceIPAddress"), ctx, "sourceIPAddress", 128),
            user_agent=f.text(obj.get("userAgent"), ctx, "userAgent"),
            session_id=session_name,
            mfa=mfa,
            resource=resource,
            target=target,
            bytes_out=f.count(extra.get("bytesTransferredOut"), ctx, "bytesTransferredOut"),
            bytes_in=f.count(extra.get("bytesTransferredIn"), ctx, "bytesTransferredIn"),
            result=result,
            error_code=error_code,
            auth_method=f.text(extra.get("AuthenticationMethod"), ctx, "AuthenticationMethod", 64),
        )
