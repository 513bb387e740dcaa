"""Time in the simulation: the window, diurnal and weekly rhythms, bursty sessions.

Humans follow their local day (a morning ramp, an afternoon peak, an evening tail, quiet nights) and
their week; scripts do not. The curves below are hourly weights in *local* time; sessions are bursts
of requests with human-scale gaps. Attackers who mimic benign rhythms sample from these same curves.
"""

from __future__ import annotations

import bisect
import itertools
import random
from datetime import UTC, datetime

DAY = 86400.0
HOUR = 3600.0
# 2026-03-02 is a Monday: day 0 of every simulated window
START = datetime(2026, 3, 2, tzinfo=UTC).timestamp()

_CURVES: dict[str, tuple[float, ...]] = {
    # local hour 0 … 23
    "human": (
        0.6,
        0.3,
        0.15,
        0.1,
        0.1,
        0.2,
        0.5,
        1.2,
        2.2,
        3.2,
        3.6,
        3.5,
        3.0,
        3.2,
        3.5,
        3.6,
        3.3,
        2.8,
        2.4,
        2.5,
        2.7,
        2.5,
        1.8,
        1.1,
    ),
    "office": (
        0.05,
        0.02,
        0.02,
        0.02,
        0.02,
        0.05,
        0.2,
        0.8,
        2.5,
        4.0,
        4.2,
        3.8,
        2.6,
        3.6,
        4.0,
        3.9,
        3.3,
        2.0,
        0.8,
        0.4,
        0.3,
        0.25,
        0.15,
        0.1,
    ),
    "evening": (
        1.5,
        0.8,
        0.3,
        0.1,
        0.05,
        0.05,
        0.1,
        0.3,
        0.5,
        0.7,
        0.8,
        1.0,
        1.2,
        1.1,
        1.2,
        1.5,
        2.0,
        2.6,
        3.2,
        3.6,
        3.8,
        3.5,
        3.0,
        2.2,
    ),
    "flat": tuple(1.0 for _ in range(24)),
}
_CDFS = {name: tuple(itertools.accumulate(weights)) for name, weights in _CURVES.items()}
WEEKDAY_FACTOR = (1.0, 1.05, 1.05, 1.0, 0.95, 0.55, 0.5)  # Monday … Sunday, for people at work


def day_start(day: int) -> float:
    return START + day * DAY


def weekday(day: int) -> int:
    return day % 7


def local_hour(rng: random.Random, curve: str) -> float:
    """A local time of day (hours, fractional) drawn from the curve."""
    cdf = _CDFS[curve]
    hour = bisect.bisect_left(cdf, rng.random() * cdf[-1])
    return min(hour, 23) + rng.random()


def moment(rng: random.Random, day: int, tz_hours: float, curve: str) -> float:
    """A UTC timestamp on simulated ``day`` at a local time drawn from ``curve`` for a UTC offset."""
    return day_start(day) + (local_hour(rng, curve) - tz_hours) * HOUR


def session_gaps(rng: random.Random, count: int, mean_gap: float) -> list[float]:
    """Offsets (seconds) of ``count`` requests in a human session: log-normal think times."""
    offsets, t = [], 0.0
    for _ in range(count):
        offsets.append(t)
        t += rng.lognormvariate(0.0, 0.8) * mean_gap
    return offsets


def iso(ts: float, millis: bool = True) -> str:
    moment_ = datetime.fromtimestamp(ts, UTC)
    if millis:
        return moment_.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment_.microsecond // 1000:03d}Z"
    return moment_.strftime("%Y-%m-%dT%H:%M:%SZ")


def date_text(day: int) -> str:
    return datetime.fromtimestamp(day_start(day), UTC).strftime("%Y-%m-%d")
