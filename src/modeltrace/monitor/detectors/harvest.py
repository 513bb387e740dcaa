"""Output-harvesting request patterns (notes §2 L.1 "identical request parameters", §3 attack parameters).

Why: a distiller wants long, complete, reproducible-but-varied answers with as much signal per call as
it can get — high ``max_tokens``, one fixed temperature, several choices (``n > 1``), log-probabilities,
and a random nonce in every prompt so the provider's cache never answers twice (OpenAI's memo describes
"programmatic output harvesting"). Any one of these is common (a synthetic-data licensee asks for
n = 4 and 4,096 tokens; an eval harness runs at T = 0 with logprobs); together, on nearly every request
of an account, they are a harvesting script.

Signals per account (shares of its requests): ``high_max_tokens`` (≥ 4,096), ``multi_choice`` (n > 1),
``logprobs``, ``fixed_temperature`` (share at the account's most common explicit temperature),
``unique_nonce`` (a hex nonce not seen before in this account). Alert when at least ``min_signals`` of
them are ≥ ``share`` over ≥ ``min_requests`` requests, with ``unique_nonce`` or ``logprobs`` among them.
"""

from __future__ import annotations

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, Row, add_capped
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import RequestFeatures

HIGH_MAX_TOKENS = 4096


def _new_row(ts: float) -> Row:
    return {
        "n": 0,
        "mt": 0,
        "multi": 0,
        "lp": 0,
        "temps": {},
        "nonce": 0,
        "seen": [],
        "ev": [],
        "first": ts,
        "alerted": False,
    }


class OutputHarvest(Detector):
    name = "output_harvest"
    requests = True

    def __init__(
        self,
        context: Context | None = None,
        *,
        share: float = 0.8,
        min_signals: int = 3,
        min_requests: int = 15,
    ) -> None:
        super().__init__(context)
        self.share = share
        self.min_signals = min_signals
        self.min_requests = min_requests

    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        if event.account_id is None:
            return []
        row = self.row(event.account_id, lambda: _new_row(event.ts))
        row["n"] += 1
        row["mt"] += int((event.max_tokens or 0) >= HIGH_MAX_TOKENS)
        row["multi"] += int((event.n or 1) > 1)
        row["lp"] += int(bool(event.logprobs))
        if event.temperature is not None:
            key = f"{event.temperature:g}"
            row["temps"][key] = row["temps"].get(key, 0) + 1
        token = features.nonce
        # a bounded memory of recent nonces: a CI run id repeats, a cache-buster does not
        if token is not None and add_capped(row["seen"], token, 64):
            row["nonce"] += 1
            if len(row["seen"]) >= 64:
                del row["seen"][:32]
        add_capped(row["ev"], event.event_id, 25)
        return self._check(event.account_id, row, event.ts, features.campaign_link)

    def signals(self, row: Row) -> dict[str, float]:
        n = row["n"]
        temps = row["temps"]
        return {
            "high_max_tokens": row["mt"] / n,
            "multi_choice": row["multi"] / n,
            "logprobs": row["lp"] / n,
            "fixed_temperature": (max(temps.values()) / n) if temps else 0.0,
            "unique_nonce": row["nonce"] / n,
        }

    def _check(self, account: str, row: Row, now: float, link: str | None) -> list[Alert]:
        if row["alerted"] or row["n"] < self.min_requests:
            return []
        least = self.share * row["n"]
        if row["nonce"] < least and row["lp"] < least:  # neither required signal: skip the rest
            return []
        values = self.signals(row)
        fired = [name for name, value in values.items() if value >= self.share]
        if len(fired) < self.min_signals or not ({"unique_nonce", "logprobs"} & set(fired)):
            return []
        row["alerted"] = True
        signals: dict[str, float | int | str | bool] = {k: round(v, 3) for k, v in values.items()}
        signals["requests"] = row["n"]
        return [
            Alert(
                id=alert_id(self.name, account),
                kind="output_harvest",
                detector=self.name,
                score=0.9 * len(fired) / len(values),
                detected_at=now,
                window=(row["first"], now),
                signals=signals,
                evidence=list(row["ev"]),
                accounts=[account],
                links=[link] if link else [],
                summary=f"account {account}: harvesting parameters on {row['n']} requests "
                f"({', '.join(fired)})",
            )
        ]
