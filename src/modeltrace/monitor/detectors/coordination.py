"""Cross-account coordination ("hydra" clusters): link accounts, then score each linked group whole.

Why (notes §2 L, provider reports §1): campaigns of thousands of accounts keep every account under
per-account limits and mix into legitimate traffic, so per-account tests see nothing; what gives them
away is what the accounts *share* — one request-building script (user agent and exact sampling
parameters), one prompt template or wrapper, one proxy pool — and what the group does *as a whole*.

Linking keys, each a group of accounts:

* ``fp``  — request fingerprint: user agent + max_tokens, temperature, n, logprobs, top_logprobs;
* ``tpl`` — prompt skeleton: the last words of the prompt with nonces and numbers masked (a wrapper
  around natural questions, a sweep template);
* ``net`` — a residential, mobile or hosting /24 (a proxy pool's exits are shared by its accounts).

Group signals (means over the members, each account weighted equally): ``accounts``;
``requests_per_account``; ``harvest_rate`` (logprobs or n > 1); ``nonce_rate`` (requests with a hex
nonce); ``elicitation_rate`` (reasoning-elicitation score >= 0.4, :mod:`.cot`); ``rotation`` (distinct
/24s per request for accounts with >= 5 requests: proxy rotation, where a NAT gives few addresses per
account); ``proxy_share`` (residential, mobile or hosting exits).
A shared key alone is common and benign (classrooms, corporate proxies, CGNAT, the
default SDK); the score needs the group's behaviour too. Groups are re-scored at each stream hour when a
member changed; an alert repeats for a group only when it has doubled in size since the last one.
"""

from __future__ import annotations

import math

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, Row, add_capped
from modeltrace.monitor.detectors.cot import SCORER
from modeltrace.monitor.events import ApiRequest, Event
from modeltrace.monitor.features import nonce, skeleton, subnet

PROXY_NETWORKS = frozenset({"residential", "mobile", "hosting"})
MAX_MEMBERS = 5000
WEIGHTS = {
    "harvest_rate": 1.0,
    "nonce_rate": 1.0,
    "elicitation_rate": 2.0,
    "rotation": 2.0,
    "proxy_share": 0.5,
}


def _new_account(ts: float) -> Row:
    return {
        "n": 0,
        "first": ts,
        "last": ts,
        "harvest": 0,
        "nonce": 0,
        "cot": 0,
        "proxy": 0,
        "nets": [],
        "n_nets": 0,
        "keys": [],
        "ev": [],
    }


class Coordination(Detector):
    name = "coordination"

    def __init__(
        self,
        context: Context | None = None,
        *,
        min_accounts: int = 5,
        threshold: float = 2.0,
        max_requests_per_account: float = 400.0,
    ) -> None:
        super().__init__(context)
        self.min_accounts = min_accounts
        self.threshold = threshold
        self.max_requests_per_account = max_requests_per_account
        self._touched: set[str] = set()

    def observe(self, event: Event) -> list[Alert]:
        if not isinstance(event, ApiRequest) or event.account_id is None:
            return []
        account = event.account_id
        row = self.row("a:" + account, lambda: _new_account(event.ts))
        row["n"] += 1
        row["last"] = event.ts
        row["harvest"] += int(bool(event.logprobs) or (event.n or 1) > 1)
        row["nonce"] += int(nonce(event.prompt_text) is not None)
        row["cot"] += int(SCORER.score(event.prompt_text)[0] >= 0.4)
        net = subnet(event.source_ip)
        if event.network_type in PROXY_NETWORKS:
            row["proxy"] += 1
        if net is not None and add_capped(row["nets"], net, 64):
            row["n_nets"] += 1
        add_capped(row["ev"], event.event_id, 5)
        keys = [
            "fp:"
            + "|".join(
                str(v)
                for v in (
                    event.user_agent,
                    event.max_tokens,
                    event.temperature,
                    event.n,
                    event.logprobs,
                    event.top_logprobs,
                )
            )
        ]
        tpl = skeleton(event.prompt_text)
        if tpl is not None:
            keys.append("tpl:" + tpl)
        if net is not None and event.network_type in PROXY_NETWORKS:
            keys.append("net:" + net)
        for key in keys:
            if key in row["keys"]:
                self._touched.add(key)
                continue
            if len(row["keys"]) >= 256:
                continue
            row["keys"].append(key)
            group = self.row("g:" + key, lambda: {"members": [], "alerted_size": 0})
            if len(group["members"]) < MAX_MEMBERS:
                group["members"].append(account)
            self._touched.add(key)
        return []

    def group_signals(self, members: list[str]) -> dict[str, float]:
        """Member means, each account weighted equally: one heavy account cannot carry a crowd."""
        rows = [self.rows["a:" + m] for m in members]
        k = max(1, len(rows))

        def mean(name: str) -> float:
            return float(sum(r[name] / r["n"] for r in rows)) / k

        return {
            "accounts": float(len(rows)),
            "requests_per_account": sum(r["n"] for r in rows) / k,
            "harvest_rate": mean("harvest"),
            "nonce_rate": mean("nonce"),
            "elicitation_rate": mean("cot"),
            # addresses per request mean nothing for an account with a request or two
            "rotation": sum(min(1.0, r["n_nets"] / r["n"]) for r in rows if r["n"] >= 5) / k,
            "proxy_share": mean("proxy"),
        }

    def score(self, signals: dict[str, float]) -> float:
        return sum(WEIGHTS[name] * signals[name] for name in WEIGHTS)

    def tick(self, now: float) -> list[Alert]:
        alerts: list[Alert] = []
        touched, self._touched = sorted(self._touched), set()
        for key in touched:
            group = self.rows.get("g:" + key)
            if group is None or len(group["members"]) < self.min_accounts:
                continue
            size = len(group["members"])
            if group["alerted_size"] and size < 2 * group["alerted_size"]:
                continue
            signals = self.group_signals(group["members"])
            if signals["requests_per_account"] > self.max_requests_per_account:
                continue  # one heavy service is not a many-account campaign; per-account detectors cover it
            score = self.score(signals)
            if score < self.threshold:
                continue
            group = self.row("g:" + key)
            group["alerted_size"] = size
            members = sorted(group["members"])
            rows = [self.rows["a:" + m] for m in members]
            evidence = [e for r in rows for e in r["ev"][:2]]
            shown: dict[str, float | int | str | bool] = {k: round(v, 3) for k, v in signals.items()}
            shown["link"] = key.split(":", 1)[0]
            shown["score"] = round(score, 3)
            alerts.append(
                Alert(
                    id=alert_id(self.name, f"{key}#{int(math.log2(size))}"),
                    kind="coordinated_accounts",
                    detector=self.name,
                    score=min(0.95, score / 4.0),
                    detected_at=now,
                    window=(min(r["first"] for r in rows), now),
                    signals=shown,
                    evidence=evidence,
                    accounts=members,
                    summary=(
                        f"{size} accounts linked by {shown['link']} {key.split(':', 1)[1][:60]!r}: "
                        + ", ".join(f"{k} {signals[k]:.2f}" for k in WEIGHTS if signals[k] >= 0.2)
                    ),
                )
            )
        return alerts
