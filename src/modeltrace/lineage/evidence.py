"""What ``compare`` states: tests with their null hypotheses, per-layer evidence, and the verdict."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

DERIVED, INDEPENDENT, INCONCLUSIVE = "derived", "independent", "inconclusive"


@dataclass
class TestResult:
    """One statistical test, in the manner of ``scipy.stats`` results."""

    name: str
    null: str
    statistic: float
    log10_p: float
    effect: float
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def pvalue(self) -> float:
        return 10.0**self.log10_p if self.log10_p > -300 else 0.0


@dataclass
class LayerPair:
    """Evidence for one (layer of A, layer of B) pair."""

    layer_a: int
    layer_b: int
    attention_similarity: float | None = None
    mlp_agreement: float | None = None
    mlp_log10_p: float | None = None
    neurons: int | None = None


@dataclass
class Alignment:
    """How well B's residual basis was mapped onto A's."""

    shared_tokens: int
    fitted_tokens: int
    heldout_tokens: int
    heldout_correlation: float
    heldout_retrieval: float
    identity_correlation: float
    width_a: int
    width_b: int


@dataclass
class LineageReport:
    """The full answer to "was B derived from A?" — everything the CLI, JSON and HTML show."""

    protected: str
    suspect: str
    verdict: str
    reason: str
    log10_p: float
    null: str = "A and B were initialised and trained independently"
    exact_copies: list[str] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)
    layers: list[LayerPair] = field(default_factory=list)
    layer_map: dict[int, int] = field(default_factory=dict)
    attention_grid: list[list[float]] = field(default_factory=list)
    alignment: Alignment | None = None
    shared_parts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pvalue"] = 10.0**self.log10_p if self.log10_p > -300 else 0.0
        data["layer_map"] = {str(k): v for k, v in self.layer_map.items()}
        cleaned: dict[str, Any] = _finite(data)
        return cleaned

    def sentence(self) -> str:
        """The verdict in one sentence, for people."""
        p = f"p = 10^{self.log10_p:.1f}" if self.log10_p < -3 else f"p = {10.0**self.log10_p:.3g}"
        if self.verdict == DERIVED:
            parts = ", ".join(self.shared_parts) or "weights"
            return f"{self.suspect} shares weight lineage with {self.protected} ({parts} shared; {p})."
        if self.verdict == INDEPENDENT:
            return f"No evidence that {self.suspect} derives from {self.protected} ({p}); {self.reason}."
        return f"Inconclusive: {self.reason}."


def _finite(value: Any) -> Any:
    """JSON has no infinities: -inf log10 p (an exact copy) becomes None with the reason elsewhere."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
