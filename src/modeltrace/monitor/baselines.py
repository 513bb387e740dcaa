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

import bisect
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
        if row["alerted"]:
            return []  # one alert per account; a busy account's times need not be kept after it
        times = row["times"]
        # requests arrive in time order (to within clock skew), so the day's window starts after the
        # last time more than 24 h old; rebuilding the list per request was quadratic for busy accounts
        del times[: bisect.bisect_right(times, event.ts - 86400)]
        times.append(event.ts)
        add_capped(row["ev"], event.event_id, 25)
        limit = self.context.daily_limits.get(account, self.default_limit)
        if len(times) < self.share * limit:
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


SHAPIRO_WINDOW = 500  # the latest distances PRADA's normality test reads


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
        if row["alerted"]:
            return []  # one alert per account: what follows it changes nothing
        x = text_vector(event.prompt_text, self.dim)
        add_capped(row["ev"], event.event_id, 25)
        if not row["kept"]:
            self._keep(account, row, x)
            return []
        kept = self._kept[account]
        d = float(np.min(np.linalg.norm(kept - x, axis=1)))
        # the threshold's mean and std over every distance so far, from running sums; the list keeps
        # only the last SHAPIRO_WINDOW (what the test reads): a list of all of them made a busy account
        # quadratic, in the mean and std and in re-serialising it at every commit
        count, total, squares = row.get("dn", 0), row.get("ds", 0.0), row.get("dq", 0.0)
        if count:
            mean = total / count
            threshold = mean - math.sqrt(max(0.0, squares / count - mean * mean))
        else:
            threshold = 0.0
        row["dn"], row["ds"], row["dq"] = count + 1, total + d, squares + d * d
        dist = row["dist"]
        dist.append(d)
        if len(dist) > 2 * SHAPIRO_WINDOW:
            del dist[:-SHAPIRO_WINDOW]
        if d > threshold and len(row["kept"]) < self.max_kept:
            self._keep(account, row, x)
        if count + 1 < self.min_distances or len(set(dist)) < 3:
            return []
        from scipy import stats  # slow to import: only when PRADA runs

        w = float(stats.shapiro(np.asarray(dist[-SHAPIRO_WINDOW:])).statistic)
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
                signals={"shapiro_w": round(w, 4), "distances": count + 1, "delta": self.delta},
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
