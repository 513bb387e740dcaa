"""What every API actor has in common: accounts it owns, calls per day, and helpers to make both."""

from __future__ import annotations

import math
import random
from typing import Any, Protocol

from modeltrace.monitor.sim.network import COUNTRIES, CUSTOMER_COUNTRIES
from modeltrace.monitor.sim.world import BENIGN, FREE_EMAIL, Account, ApiCall, World, hex_id

# accounts of these countries are served by the EU deployment, whose gateway emits OTel GenAI spans
OTEL_COUNTRIES = frozenset({"DE", "FR", "ES", "IT", "NL", "PL", "SE", "IE", "CH", "GB"})
_COUNTRY_NAMES = tuple(CUSTOMER_COUNTRIES)
_COUNTRY_WEIGHTS = tuple(CUSTOMER_COUNTRIES.values())


class ApiActor(Protocol):
    """A benign population or an attack campaign on the model API."""

    name: str
    accounts: list[Account]

    def day(self, day: int) -> list[ApiCall]:
        """The calls this actor makes on simulated ``day`` (any order; timestamps may spill past midnight)."""

    def label_records(self) -> list[dict[str, Any]]:
        """Campaign-level label records (empty for benign populations)."""


def pick_country(rng: random.Random) -> str:
    return rng.choices(_COUNTRY_NAMES, _COUNTRY_WEIGHTS)[0]


def tz_of(country: str) -> float:
    return COUNTRIES[country]


def new_account(
    rng: random.Random,
    world: World,
    *,
    scenario: str,
    tier: str,
    country: str,
    signup_ts: float,
    email_domain: str | None = None,
    org_id: str | None = None,
    payment: str | None = None,
    label: str = BENIGN,
    campaign: str | None = None,
    keys: int = 1,
    privacy: bool = False,
) -> Account:
    if payment is None and tier != "free":
        payment = f"pm_{hex_id(rng, 48)}"
    return Account(
        account_id=f"acct_{hex_id(rng)}",
        tier=tier,
        signup_ts=signup_ts,
        email_domain=email_domain or rng.choice(FREE_EMAIL),
        country=country,
        keys=[f"key_{hex_id(rng)}" for _ in range(keys)],
        org_id=org_id,
        payment=payment,
        channel="otel" if country in OTEL_COUNTRIES else "gateway",
        privacy=privacy,
        scenario=scenario,
        label=label,
        campaign=campaign,
    )


def output_tokens(rng: random.Random, median: float, max_tokens: int | None, sigma: float = 0.7) -> int:
    value = int(rng.lognormvariate(math.log(median), sigma)) + 1
    return min(value, max_tokens) if max_tokens else min(value, 16384)


def latency(rng: random.Random, out_tokens: int, reasoning: int) -> int:
    return int(250 + (out_tokens + reasoning) * rng.uniform(12, 25))


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method for small means, normal approximation above."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def signup_before(rng: random.Random, world: World, min_days: float, max_days: float) -> float:
    return world.start - rng.uniform(min_days, max_days) * 86400.0
