"""Baselines the detectors must beat (notes §2 I and the per-account thresholds providers already run).

* :class:`PerAccountThreshold` — alert when an account's requests in a rolling 24 h exceed
  ``share`` × its daily limit (from ``context/accounts.csv``; ``default_limit`` when unknown).
* :class:`Prada` — PRADA (Juuti et al., EuroS&P 2019) adapted to text: each prompt is a hashed
  character-3-gram vector (L2-normalised, ``dim`` buckets); d = min distance to the account's kept set G;
  x joins G when d exceeds the running mean − std of the distances (PRADA's growing threshold); after
  ``min_distances`` distances, alarm when the Shapiro–Wilk W of the distances is < ``delta``. (PRADA
  asks for ≥ 100 distances; hydra accounts send ≤ 50, which is the point of Sybil splitting — we use 20
  so the baseline gets a chance at all.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, add_capped
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.features import char_ngrams
from modeltrace.monitor.featurize import RequestFeatures


class PerAccountThreshold(Detector):
    name = "baseline_threshold"
    requests = True

    def __init__(
        self, context: Context | None = None, *, share: float = 0.8, default_limit: int = 500
    ) -> None:
        super().__init__(context)
        self.share = share
        self.default_limit = default_limit

    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        if event.account_id is None:
            return []
        account = event.account_id
        row = self.row(account, lambda: {"times": [], "ev": [], "alerted": False})
        times = [t for t in row["times"] if event.ts - t < 86400] + [event.ts]
        row["times"] = times
        add_capped(row["ev"], event.event_id, 25)
        limit = self.context.daily_limits.get(account, self.default_limit)
        if row["alerted"] or len(times) < self.share * limit:
            return []
        row["alerted"] = True
        return [
            Alert(
                id=alert_id(self.name, account),
                kind="volume_threshold",
                detector=self.name,
                score=len(times) / limit,
                detected_at=event.ts,
                window=(times[0], event.ts),
                signals={"requests_24h": len(times), "daily_limit": limit},
                evidence=list(row["ev"]),
                accounts=[account],
                summary=f"account {account}: {len(times)} requests in 24 h (limit {limit})",
            )
        ]


def text_vector(text: str, dim: int) -> np.ndarray:
    vec = np.zeros(dim)
    for key, weight in char_ngrams(text, 3).items():
        vec[key % dim] += weight
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm else vec


class Prada(Detector):
    name = "baseline_prada"
    requests = True

    def __init__(
        self,
        context: Context | None = None,
        *,
        delta: float = 0.9,
        min_distances: int = 20,
        dim: int = 128,
        max_kept: int = 256,
    ) -> None:
        super().__init__(context)
        self.delta = delta
        self.min_distances = min_distances
        self.dim = dim
        self.max_kept = max_kept
        # the kept vectors as arrays, per account: converting the JSON lists on every request was most
        # of this baseline's run time (rebuilt from the rows after a restart)
        self._kept: dict[str, np.ndarray] = {}

    def after_load(self) -> None:
        self._kept = {account: np.asarray(row["kept"]) for account, row in self.rows.items() if row["kept"]}

    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        if event.account_id is None or not event.prompt_text:
            return []
        account = event.account_id
        row = self.row(
            account, lambda: {"kept": [], "dist": [], "ev": [], "first": event.ts, "alerted": False}
        )
        x = text_vector(event.prompt_text, self.dim)
        add_capped(row["ev"], event.event_id, 25)
        if not row["kept"]:
            self._keep(account, row, x)
            return []
        kept = self._kept[account]
        d = float(np.min(np.linalg.norm(kept - x, axis=1)))
        dist = row["dist"]
        threshold = float(np.mean(dist) - np.std(dist)) if dist else 0.0
        dist.append(d)
        if d > threshold and len(row["kept"]) < self.max_kept:
            self._keep(account, row, x)
        if row["alerted"] or len(dist) < self.min_distances or len(set(dist)) < 3:
            return []
        from scipy import stats  # slow to import: only when PRADA runs

        w = float(stats.shapiro(np.asarray(dist[-500:])).statistic)
        if math.isnan(w) or w >= self.delta:
            return []
        row["alerted"] = True
        return [
            Alert(
                id=alert_id(self.name, account),
                kind="prada",
                detector=self.name,
                score=1 - w,
                detected_at=event.ts,
                window=(row["first"], event.ts),
                signals={"shapiro_w": round(w, 4), "distances": len(dist), "delta": self.delta},
                evidence=list(row["ev"]),
                accounts=[account],
                summary=f"account {account}: query distances not normal (W = {w:.3f} < {self.delta})",
            )
        ]

    def _keep(self, account: str, row: dict[str, Any], x: np.ndarray) -> None:
        stored = [round(float(v), 5) for v in x]
        row["kept"].append(stored)
        vector = np.asarray([stored])
        kept = self._kept.get(account)
        self._kept[account] = vector if kept is None else np.vstack([kept, vector])
