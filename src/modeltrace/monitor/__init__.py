"""monitor: find model extraction through the API and weight theft through infrastructure, in logs.

This half of the part reads logs (:func:`ingest`, adapters per format, a documented event schema in
:mod:`.events`) and simulates labelled ones (:func:`simulate`). Detectors consume :func:`ingest`'s
stream.
"""

from modeltrace.monitor.events import (
    SCHEMA_VERSION,
    ApiRequest,
    Event,
    InfraCategory,
    InfraEvent,
    Result,
    event_from_dict,
    event_to_dict,
)
from modeltrace.monitor.ingest import ingest, ingest_in_time_order, log_files
from modeltrace.monitor.ipintel import IpInfo, IpIntel, IpIntelError, enrich
from modeltrace.monitor.limits import DEFAULT_LIMITS, IngestLimits
from modeltrace.monitor.report import IngestIssue, IngestReport, IssueKind, Severity
from modeltrace.monitor.simulate import SimulationError, SimulationSummary, simulate

__all__ = [
    "DEFAULT_LIMITS",
    "SCHEMA_VERSION",
    "ApiRequest",
    "Event",
    "InfraCategory",
    "InfraEvent",
    "IngestIssue",
    "IngestLimits",
    "IngestReport",
    "IpInfo",
    "IpIntel",
    "IpIntelError",
    "IssueKind",
    "Result",
    "Severity",
    "SimulationError",
    "SimulationSummary",
    "enrich",
    "event_from_dict",
    "event_to_dict",
    "ingest",
    "ingest_in_time_order",
    "log_files",
    "simulate",
]
