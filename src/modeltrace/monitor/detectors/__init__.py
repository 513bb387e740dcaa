"""The monitor's detectors, one module each; :func:`default_detectors` is what ``monitor run`` uses."""

from modeltrace.monitor.detectors.base import Context, Detector
from modeltrace.monitor.detectors.bulk_read import BulkCheckpointRead
from modeltrace.monitor.detectors.coordination import Coordination
from modeltrace.monitor.detectors.cot import ReasoningElicitation, ReasoningScorer
from modeltrace.monitor.detectors.coverage import CapabilityCoverage
from modeltrace.monitor.detectors.departure import DepartureCopy
from modeltrace.monitor.detectors.harvest import OutputHarvest
from modeltrace.monitor.detectors.shard_coverage import ShardCoverage
from modeltrace.monitor.detectors.tenant_cohort import TenantCohort
from modeltrace.monitor.detectors.window_shift import WindowShift

DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls
    for cls in (
        Coordination,
        ReasoningElicitation,
        OutputHarvest,
        BulkCheckpointRead,
        ShardCoverage,
        DepartureCopy,
        TenantCohort,
        WindowShift,
        CapabilityCoverage,
    )
}


def default_detectors(context: Context) -> list[Detector]:
    return [cls(context) for cls in DETECTORS.values()]


__all__ = [
    "DETECTORS",
    "BulkCheckpointRead",
    "CapabilityCoverage",
    "Context",
    "Coordination",
    "DepartureCopy",
    "Detector",
    "OutputHarvest",
    "ReasoningElicitation",
    "ReasoningScorer",
    "ShardCoverage",
    "TenantCohort",
    "WindowShift",
    "default_detectors",
]
