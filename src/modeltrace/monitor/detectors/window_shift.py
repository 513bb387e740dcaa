"""A traffic window unlike its unit's own benign history: a kernel two-sample (MMD) test (notes §2 K).

Why: the LabRAI MMD detector (notes §1) finds extraction in mixed traffic by comparing a window of
queries with historical benign traffic; the notes list "a reseller" among the windows worth testing.
A multi-tenant account (a reseller, an application with many end users) has a stable mix of what its
many users ask — a campaign routed through it changes that mix even when each of its requests looks
ordinary, and even when its client shares the reseller's request fingerprint (where
:mod:`.tenant_cohort` has nothing to split on).

Unit: an account with at least ``min_end_users`` distinct end users. Rows: its requests, one per
conversation — a request whose ``session_id`` is among the unit's last ``recent_sessions``
conversations is left out: the turns of one conversation repeat its task, so they are not independent
draws, and a permutation test that treats them as such overstates the evidence (on the three
full-scale simulations this detector's five false alerts were all on agent products, whose tasks run
two to five turns; with one row per conversation none is left). Reference: its first ``reference``
rows (its benign history — a campaign there from the start is not found by this test). Windows: each
following run of ``window`` rows. Why a reference six times the window: the window is compared with
the reference, so the reference's own sampling noise bounds what the test sees. A campaign making a
tenth of a reseller's traffic with requests that look like the reseller's own was found 27–45 h after
its start with a reference of 600, 5–23 h with 1,800 (seed 2, five permutation seeds); the evaluation's
window test at 300 rows gains 3 points of balanced accuracy. The price: a test of 2,100 rows costs
about seven times one of 900 — on a full-scale set (17 tenants, 580,000 of their requests) some 70 s
more CPU per run, a sixth of the detectors' time. Test: :func:`~modeltrace.monitor.mmd.mmd_test` on
:mod:`~modeltrace.monitor.request_vectors` rows — H0 "the window's requests come from the reference's
distribution" — with ``permutations`` relabellings (stopped after ``screen`` when the window is not
above all of them: it could not pass the bar); an alert needs the Gamma-approximated log10 p ≤
``max_log10_p`` *and* the observed MMD² above every permutation (so the approximation is never the only
evidence). The bar is set for a unit tested every ``window`` requests for months. Kernel: Gaussian with
2σ² = ``bandwidth_factor`` (8) × the median squared distance, wider than the median heuristic: a campaign
that is a tenth of a window moves the window's mean more than its shape, and a wide kernel weighs the
mean. In ``benchmarks/monitor_eval.py``'s window test at 300 rows against 1,800, the share of windows
holding 10 % attack requests that pass the detector's bar rose from 60 % to 88 % on seed 0 (where the
factor was chosen: power rose up to 8 and stayed flat beyond), 50 % to 92 % and 67 % to 92 % on seeds 1
and 2 (60 windows each), balanced accuracy from 85–87 % to 89–90 %, with no benign window passing either
way. The price: a change of shape that keeps the mean moves the statistic less (a stream counted per
turn, in the tests, passes at log10 p ≈ -7.6 instead of below -10). The three full-scale runs kept every
figure of the evaluation (bar, times to detect, false alerts): their resellers' requests differ in one
topic bucket each, so nearly every pair of rows is at one distance and any width gives the same p-value
(seed 2's ``reseller-10pct``: the same log10 p at every test).

Signals: ``log10_p``, ``permutation_p``, ``mmd2``, ``window``, ``reference``, ``bandwidth``, and the
share of the window's most unusual requests (top decile by witness value) that ask for reasoning,
harvest or carry a nonce. Evidence: the window's requests with the largest witness values.
"""

from __future__ import annotations

import zlib

import numpy as np

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, Row, add_capped
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import RequestFeatures
from modeltrace.monitor.mmd import MmdResult, mmd_test
from modeltrace.monitor.request_vectors import dense, request_code


def _new_unit(ts: float) -> Row:
    return {
        "first": ts,
        "users": [],
        "tenants": False,
        "ref": [],
        "win": [],
        "ids": [],
        "tests": 0,
        "sessions": [],
    }


class WindowShift(Detector):
    name = "window_shift"
    requests = True

    def __init__(
        self,
        context: Context | None = None,
        *,
        min_end_users: int = 20,
        reference: int = 1800,
        window: int = 300,
        recent_sessions: int = 64,
        permutations: int = 100,
        screen: int = 19,
        max_log10_p: float = -6.0,
        bandwidth_factor: float = 8.0,
    ) -> None:
        super().__init__(context)
        self.min_end_users = min_end_users
        self.reference = reference
        self.window = window
        self.recent_sessions = recent_sessions
        self.permutations = permutations
        self.screen = screen
        self.max_log10_p = max_log10_p
        self.bandwidth_factor = bandwidth_factor

    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        account = event.account_id
        if account is None or event.end_user is None:
            return []
        unit = self.row(account, lambda: _new_unit(event.ts))
        if not unit["tenants"]:
            add_capped(unit["users"], event.end_user, self.min_end_users)
            if len(unit["users"]) >= self.min_end_users:
                unit["tenants"], unit["users"] = True, []
        session = event.session_id
        if session is not None:
            # one row per conversation: a later turn repeats the task of the first
            sessions = unit.setdefault("sessions", [])  # absent in state written before it existed
            if session in sessions:
                return []
            sessions.append(session)
            if len(sessions) > self.recent_sessions:
                del sessions[0]
        code = request_code(event, features)
        if len(unit["ref"]) < self.reference:
            unit["ref"].append(code)
            return []
        unit["win"].append(code)
        unit["ids"].append(event.event_id)
        if len(unit["win"]) < self.window:
            return []
        found = self._test(account, unit, event.ts) if unit["tenants"] and not unit.get("alerted") else []
        unit["win"], unit["ids"] = [], []
        return found

    def _test(self, account: str, unit: Row, now: float) -> list[Alert]:
        unit["tests"] += 1
        window = dense(unit["win"])
        seed = zlib.crc32(f"{account}#{unit['tests']}".encode())
        result = mmd_test(
            window,
            dense(unit["ref"]),
            permutations=self.permutations,
            seed=seed,
            screen=self.screen,
            bandwidth_factor=self.bandwidth_factor,
        )
        if result.log10_pvalue > self.max_log10_p or result.statistic <= result.permutation_max:
            return []
        unit["alerted"] = True
        return [self._alert(account, unit, result, window, now)]

    def _alert(self, account: str, unit: Row, result: MmdResult, window: np.ndarray, now: float) -> Alert:
        order = np.argsort(-result.witness, kind="stable")
        top = order[: max(1, len(order) // 10)]
        codes = [unit["win"][i] for i in top]
        share = {
            "unusual_elicitation": sum(c[0] >= 40 for c in codes) / len(codes),
            "unusual_harvest": sum(c[1] & 1 for c in codes) / len(codes),
            "unusual_nonce": sum((c[1] >> 1) & 1 for c in codes) / len(codes),
        }
        signals: dict[str, float | int | str | bool] = {
            "log10_p": round(result.log10_pvalue, 2),
            "permutation_p": round(result.pvalue, 4),
            "mmd2": round(result.statistic, 5),
            "window": result.n,
            "reference": result.m,
            "bandwidth": round(result.bandwidth, 3),
            **{k: round(v, 3) for k, v in share.items()},
        }
        return Alert(
            id=alert_id(self.name, f"{account}#{unit['tests']}"),
            kind="traffic_shift",
            detector=self.name,
            score=min(0.9, 0.5 + -result.log10_pvalue / 40.0),
            detected_at=now,
            window=(unit["first"], now),
            signals=signals,
            evidence=[unit["ids"][i] for i in order[:25]],
            accounts=[account],
            summary=(
                f"account {account}: its last {result.n} requests differ from its first {result.m} "
                f"(MMD² {result.statistic:.4f}, log10 p ≈ {result.log10_pvalue:.1f}); the most unusual "
                f"tenth ask for reasoning {share['unusual_elicitation']:.0%}, harvest "
                f"{share['unusual_harvest']:.0%}"
            ),
        )
