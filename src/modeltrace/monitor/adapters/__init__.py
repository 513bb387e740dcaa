"""Adapters from the log formats users already have to the monitor's event schema.

One module per format: :mod:`.gateway` (API gateway JSON lines), :mod:`.otel` (OpenTelemetry GenAI
spans as OTLP/JSON or flat JSON), :mod:`.cloudtrail` (AWS CloudTrail, ``Records`` files or one record
per line), :mod:`.k8s_audit` (Kubernetes ``audit.k8s.io/v1`` events). The format is detected per
record from its shape, most specific first, so a file that mixes formats (a SIEM export) still reads.
"""

from __future__ import annotations

from modeltrace.monitor.adapters.base import Adapter, ParseContext, RecordRejectedError
from modeltrace.monitor.adapters.cloudtrail import CloudTrailAdapter
from modeltrace.monitor.adapters.gateway import GatewayAdapter
from modeltrace.monitor.adapters.k8s_audit import K8sAuditAdapter
from modeltrace.monitor.adapters.otel import OtelAdapter
from modeltrace.monitor.records import RawRecord

FORMATS = ("cloudtrail", "k8s_audit", "otel", "gateway")


def new_adapters() -> dict[str, Adapter]:
    """Fresh adapters, in detection order (the OTel one numbers spans per line, so it holds state)."""
    adapters: tuple[Adapter, ...] = (CloudTrailAdapter(), K8sAuditAdapter(), OtelAdapter(), GatewayAdapter())
    return {adapter.name: adapter for adapter in adapters}


def detect(record: RawRecord, adapters: dict[str, Adapter]) -> Adapter | None:
    """The first adapter whose shape check accepts the record."""
    for adapter in adapters.values():
        if adapter.matches(record):
            return adapter
    return None


__all__ = [
    "FORMATS",
    "Adapter",
    "CloudTrailAdapter",
    "GatewayAdapter",
    "K8sAuditAdapter",
    "OtelAdapter",
    "ParseContext",
    "RecordRejectedError",
    "detect",
    "new_adapters",
]
