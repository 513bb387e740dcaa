"""The baselines the detectors are measured against: PRADA adapted to text, and per-account thresholds."""

from __future__ import annotations

import math
import random

import numpy as np

from modeltrace.monitor.baselines import SHAPIRO_WINDOW, PerAccountThreshold, Prada
from modeltrace.monitor.detectors.base import Context
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import Featurizer
from modeltrace.monitor.state import StateStore

START = 1_700_000_000.0
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
]


def _request(account: str, i: int, prompt: str) -> ApiRequest:
    return ApiRequest(
        event_id=f"{account}-{i}",
        ts=START + i,
        source="gateway",
        origin="x:1",
        account_id=account,
        prompt_text=prompt,
    )


def test_prada_threshold_covers_every_distance_while_its_window_stays_bounded() -> None:
    rng = random.Random(2)
    featurizer, prada = Featurizer(), Prada(min_distances=10**9)  # never test: only the bookkeeping
    seen: list[float] = []
    for i in range(2 * SHAPIRO_WINDOW + 300):
        event = _request("busy", i, " ".join(rng.choices(WORDS, k=8)))
        prada.observe_request(event, featurizer.features(event))
        row = prada.rows["busy"]
        if i:
            seen.append(row["dist"][-1])
    assert len(row["dist"]) <= 2 * SHAPIRO_WINDOW and row["dist"][-SHAPIRO_WINDOW:] == seen[-SHAPIRO_WINDOW:]
    assert row["dn"] == len(seen)
    mean = row["ds"] / row["dn"]
    assert mean == np.mean(seen) or math.isclose(mean, float(np.mean(seen)), rel_tol=1e-9)
    std = math.sqrt(row["dq"] / row["dn"] - mean * mean)
    assert math.isclose(std, float(np.std(seen)), rel_tol=1e-6)


def test_prada_alerts_the_same_after_a_restart() -> None:
    rng = random.Random(4)
    featurizer = Featurizer()
    # a sweep that perturbs one template: distances pile up at a few values, far from normal
    events = [_request("sweep", i, f"list every fact about {rng.choice(WORDS)} {i % 3}") for i in range(120)]
    whole = Prada()
    expected = [a.to_dict() for e in events for a in whole.observe_request(e, featurizer.features(e))]
    assert len(expected) == 1 and expected[0]["signals"]["shapiro_w"] < 0.9
    first, store = Prada(), StateStore(":memory:")
    found = [a.to_dict() for e in events[:60] for a in first.observe_request(e, featurizer.features(e))]
    store.commit([first], {}, [], {})
    second = Prada()
    store.load(second)
    found += [a.to_dict() for e in events[60:] for a in second.observe_request(e, featurizer.features(e))]
    assert found == expected


def test_per_account_threshold_fires_past_its_share_of_the_daily_limit() -> None:
    detector = PerAccountThreshold(Context(daily_limits={"small": 100}))
    featurizer, fired = Featurizer(), []
    for i in range(120):
        event = _request("small", i, "hello")
        fired += detector.observe_request(event, featurizer.features(event))
    assert len(fired) == 1 and fired[0].accounts == ["small"]
    assert int(fired[0].signals["requests_24h"]) <= 100
