"""Chain-of-thought and reasoning-elicitation requests, paraphrases included (notes §2 M).

Why: the 2026 provider reports name reasoning-trace coercion as the core of distillation campaigns
("articulate the internal reasoning behind a completed response step by step", rubric grading,
"censorship-safe" rewrites, encoded and translated reasoning). Unmimic's approach — score short chunks
of the prompt against attack families, not the whole prompt against a keyword list — catches
paraphrases and wrappers around natural questions.

Per request: the score of :mod:`modeltrace.monitor.elicitation` (best cosine of any ≤ 40-word chunk
to a bank of elicitation prototypes, character 4-grams), computed once per request by the featurizer.
Per account: students and evaluation harnesses also ask for steps,
so one request proves nothing; the detector alerts on an account whose *rate* of elicitation requests
is high over enough requests, and feeds that rate to the coordination detector, which scores groups.
"""

from __future__ import annotations

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, Row, add_capped
from modeltrace.monitor.elicitation import PROTOTYPES, SCORER, ReasoningScorer
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import RequestFeatures

__all__ = ["PROTOTYPES", "SCORER", "ReasoningElicitation", "ReasoningScorer"]


class ReasoningElicitation(Detector):
    """Alert on an account whose share of reasoning-elicitation requests is high.

    Signals: ``requests``, ``elicitation_rate`` (share of requests scoring ≥ ``request_threshold``),
    ``families`` (distinct prototype families hit), ``mean_score``.
    """

    name = "reasoning_elicitation"
    requests = True

    def __init__(
        self,
        context: Context | None = None,
        *,
        request_threshold: float = 0.4,
        rate_threshold: float = 0.45,
        min_requests: int = 15,
        min_families: int = 1,
    ) -> None:
        super().__init__(context)
        self.request_threshold = request_threshold
        self.rate_threshold = rate_threshold
        self.min_requests = min_requests
        self.min_families = min_families

    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        if event.account_id is None:
            return []
        score, family = features.prompt.elicitation, features.prompt.family
        row = self.row(
            event.account_id,
            lambda: {"n": 0, "hits": 0, "sum": 0.0, "fam": [], "ev": [], "first": event.ts, "alerted": False},
        )
        row["n"] += 1
        row["sum"] += score
        if score >= self.request_threshold:
            row["hits"] += 1
            if family is not None:
                add_capped(row["fam"], family, 16)
            add_capped(row["ev"], event.event_id, 25)
        return self._check(event.account_id, row, event.ts, features.campaign_link)

    def _check(self, account: str, row: Row, now: float, link: str | None) -> list[Alert]:
        if row["alerted"] or row["n"] < self.min_requests:
            return []
        rate = row["hits"] / row["n"]
        if rate < self.rate_threshold or len(row["fam"]) < self.min_families:
            return []
        row["alerted"] = True
        signals: dict[str, float | int | str | bool] = {
            "requests": row["n"],
            "elicitation_rate": round(rate, 3),
            "families": ",".join(row["fam"]),
            "mean_score": round(row["sum"] / row["n"], 3),
        }
        return [
            Alert(
                id=alert_id(self.name, account),
                kind="reasoning_elicitation",
                detector=self.name,
                score=0.9 * rate,
                detected_at=now,
                window=(row["first"], now),
                signals=signals,
                evidence=list(row["ev"]),
                accounts=[account],
                links=[link] if link else [],
                summary=(
                    f"account {account}: {rate:.0%} of {row['n']} requests ask for the model's reasoning "
                    f"({len(row['fam'])} families: {', '.join(row['fam'][:4])})"
                ),
            )
        ]
