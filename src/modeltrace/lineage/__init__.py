"""Lineage forensics: were B's weights derived from A's? (white-box, streaming, calibrated p-values)."""

from modeltrace.lineage.compare import compare, compare_models
from modeltrace.lineage.evidence import DERIVED, INCONCLUSIVE, INDEPENDENT, LineageReport, TestResult

__all__ = [
    "DERIVED",
    "INCONCLUSIVE",
    "INDEPENDENT",
    "LineageReport",
    "TestResult",
    "compare",
    "compare_models",
]
