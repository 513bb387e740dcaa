"""An extraction cohort hidden among a reseller's (or any multi-tenant account's) end users.

Why (notes §1 "hydra clusters" mixing into legitimate customer traffic; §3 reseller mixing at 1–50 %):
a reseller is one billing account carrying thousands of end users, so every per-account rate is the
rate of its legitimate majority, and the coordination detector, which links *accounts*, sees one
member. What stays visible is the campaign's own client: its requests are built by one script, so they
share one request fingerprint (user agent and explicit sampling parameters), and among the requests
carrying that fingerprint the campaign's habits — asking for the model's reasoning, log-probabilities
or several choices, a cache-busting nonce — are far more frequent than in the rest of the account.

So for every account that passes ``min_end_users`` distinct end users (``user`` / ``enduser.*``), the
requests are split into *cohorts* by fingerprint, and each cohort's count of each habit — over its whole
history and over the last ``window_hours`` — is tested against the rest of the same account: H0 "the
cohort's requests show the habit at the rate of the account's other requests" — one-sided binomial, rate
estimated as (K + 1) / (N + 2) from the other requests. The window is what finds a campaign that starts
using a client the reseller's users already had, in a day rather than once its share of the
fingerprint's whole history has grown. The test compares an account with itself, so a reseller whose
users like step-by-step answers raises its own baseline. An alert needs log10 p ≤ ``max_log10_p`` (a bar
set for thousands of cohorts tested every hour), a rate ``min_ratio`` times the baseline, and the habit
spread over at least ``min_end_users_hit`` end users (one enthusiastic user is not a campaign; binomial
tests overstate the evidence when one user supplies it all).

Signals: ``habit``, ``log10_p``, ``cohort_requests``, ``cohort_rate``, ``rest_rate``, ``end_users`` (end
users whose requests in the cohort showed the habit), ``fingerprint``. Evidence: those requests.
"""

from __future__ import annotations

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, Row, add_capped
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import RequestFeatures
from modeltrace.monitor.tail import binomial_log10_sf

# habit → index in the count lists kept per account and per cohort
HABITS = ("elicitation", "harvest", "nonce")
_TOUCHED = "_touched"
MAX_COHORTS = 64  # fingerprints followed per account; more is a reseller passing every client's params
HOUR = 3600.0


def _habits(features: RequestFeatures) -> tuple[bool, bool, bool]:
    return features.elicits, features.harvest, features.nonce is not None


class TenantCohort(Detector):
    name = "tenant_cohort"
    requests = True

    def __init__(
        self,
        context: Context | None = None,
        *,
        min_end_users: int = 20,
        max_log10_p: float = -6.0,
        min_ratio: float = 3.0,
        min_end_users_hit: int = 5,
        min_rest: int = 200,
        window_hours: int = 24,
    ) -> None:
        super().__init__(context)
        self.min_end_users = min_end_users
        self.max_log10_p = max_log10_p
        self.min_ratio = min_ratio
        self.min_end_users_hit = min_end_users_hit
        self.min_rest = min_rest
        self.window_hours = window_hours
        self._touched: set[str] = set()

    def before_commit(self) -> None:
        self.row(_TOUCHED)["keys"] = sorted(self._touched)

    def after_load(self) -> None:
        self._touched = set(self.rows.get(_TOUCHED, {}).get("keys", []))

    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        account = event.account_id
        if account is None or event.end_user is None:
            return []
        row = self.row("a:" + account, lambda: {"n": 0, "c": [0, 0, 0], "users": [], "tenants": False})
        row["n"] += 1
        habits = _habits(features)
        counts = row["c"]
        for i, shown in enumerate(habits):
            counts[i] += shown
        if not row["tenants"]:
            add_capped(row["users"], event.end_user, self.min_end_users)
            if len(row["users"]) >= self.min_end_users:
                row["tenants"], row["users"] = True, []
        key = f"c:{account}|{features.fingerprint}"
        cohort = self.rows.get(key)
        if cohort is None:
            if len(row.setdefault("cohorts", [])) >= MAX_COHORTS:
                return []
            row["cohorts"].append(features.fingerprint)
            cohort = self.row(key, lambda: {"n": 0, "c": [0, 0, 0], "hit_users": [[], [], []], "ev": []})
            cohort["first"] = event.ts
            cohort["alerted"] = []
            cohort["win"] = []  # [hour, requests, *habit counts] for the last window_hours hours
        else:
            self.dirty.add(key)
        cohort["n"] += 1
        hour = int(event.ts // HOUR)
        window = cohort["win"]
        if not window or window[-1][0] != hour:
            window.append([hour, 0, 0, 0, 0])
            if len(window) > self.window_hours:
                del window[0]
        bucket = window[-1]
        bucket[1] += 1
        for i, shown in enumerate(habits):
            bucket[2 + i] += shown
        for i, shown in enumerate(habits):
            if shown:
                cohort["c"][i] += 1
                add_capped(cohort["hit_users"][i], event.end_user, 64)
        if any(habits):
            # the latest requests that showed a habit: what made the test significant, when it is
            evidence = cohort["ev"]
            evidence.append(event.event_id)
            if len(evidence) > 25:
                del evidence[0]
        if row["tenants"]:
            self._touched.add(key)
        return []

    def test(self, account_row: Row, cohort: Row, habit: int, now: float) -> tuple[float, float, float, int]:
        """(log10 p, cohort rate, baseline rate, requests tested) of one habit in one cohort against the
        rest of the account: the stronger of the whole history and the last ``window_hours``."""
        rest_k = account_row["c"][habit] - cohort["c"][habit]
        rest_n = account_row["n"] - cohort["n"]
        baseline = (rest_k + 1) / (rest_n + 2)
        since = int(now // HOUR) - self.window_hours
        recent = [b for b in cohort["win"] if b[0] >= since]
        best = (0.0, 0.0, baseline, 0)
        for k, n in (
            (cohort["c"][habit], cohort["n"]),
            (sum(b[2 + habit] for b in recent), sum(b[1] for b in recent)),
        ):
            if n:
                log10_p = binomial_log10_sf(k, n, baseline)
                if log10_p < best[0]:
                    best = (log10_p, k / n, baseline, n)
        return best

    def tick(self, now: float) -> list[Alert]:
        alerts: list[Alert] = []
        touched, self._touched = sorted(self._touched), set()
        for key in touched:
            cohort = self.rows.get(key)
            account, fingerprint = key[2:].split("|", 1)
            account_row = self.rows.get("a:" + account)
            if cohort is None or account_row is None or account_row["n"] - cohort["n"] < self.min_rest:
                continue
            for habit, name in enumerate(HABITS):
                if name in cohort["alerted"] or len(cohort["hit_users"][habit]) < self.min_end_users_hit:
                    continue
                log10_p, rate, baseline, tested = self.test(account_row, cohort, habit, now)
                if log10_p > self.max_log10_p or rate < self.min_ratio * baseline:
                    continue
                self.row(key)["alerted"].append(name)
                alerts.append(
                    self._alert(account, fingerprint, cohort, name, (log10_p, rate, baseline, tested), now)
                )
        return alerts

    def _alert(
        self,
        account: str,
        fingerprint: str,
        cohort: Row,
        habit: str,
        result: tuple[float, float, float, int],
        now: float,
    ) -> Alert:
        log10_p, rate, baseline, tested = result
        users = cohort["hit_users"][HABITS.index(habit)]
        signals: dict[str, float | int | str | bool] = {
            "habit": habit,
            "log10_p": round(log10_p, 2),
            "cohort_requests": cohort["n"],
            "requests_tested": tested,
            "cohort_rate": round(rate, 4),
            "rest_rate": round(baseline, 4),
            "end_users": len(users),
            "fingerprint": fingerprint,
        }
        return Alert(
            id=alert_id(self.name, f"{account}|{fingerprint}|{habit}"),
            kind="hidden_cohort",
            detector=self.name,
            # ranked by evidence: 10⁻⁶ → 0.6, 10⁻²² and beyond → 0.95
            score=min(0.95, 0.6 + (-log10_p - 6.0) / 45.0),
            detected_at=now,
            window=(cohort["first"], now),
            signals=signals,
            evidence=list(cohort["ev"]),
            accounts=[account],
            links=[f"cohort:{account}|{fingerprint}"],
            summary=(
                f"account {account}: {tested} requests from {len(users)}+ end users with fingerprint "
                f"{fingerprint[:60]!r} show {habit} at {rate:.1%} vs {baseline:.1%} in the rest "
                f"(log10 p = {log10_p:.1f})"
            ),
        )
