"""The simulated world every actor shares: seeds, models and releases, accounts, and the calls actors make.

Actors (benign populations, attack campaigns, infrastructure principals) produce :class:`ApiCall` and
:class:`InfraCall` objects per simulated day; :mod:`.formats` turns them into log lines in real
formats and :mod:`..simulate` writes them with their :class:`Label` into a separate labels file.
Randomness is derived per actor from the seed and the actor's name, so adding an actor does not
change what the others do.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from modeltrace.monitor.sim.clock import DAY, HOUR, START
from modeltrace.monitor.sim.network import Network
from modeltrace.monitor.sim.prompts import PromptKit

BENIGN, ATTACK = "benign", "attack"

OLD_MODELS = ("mt-large-2026-01", "mt-small-2025-11", "mt-reason-2026-01")
FREE_EMAIL = (
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "proton.me",
    "hotmail.com",
    "qq.com",
    "163.com",
    "naver.com",
    "yandex.ru",
    "gmx.de",
    "web.de",
    "orange.fr",
)
# Older SDKs and plain HTTP clients are rare but benign too: no user agent is an attacker's alone.
SDK_AGENTS = (
    "OpenAI/Python 1.40.6",
    "aiohttp/3.9.5",
    "python-requests/2.31.0",
    "OpenAI/Python 1.51.0",
    "OpenAI/Python 1.54.3",
    "OpenAI/NodeJS/4.67.3",
    "python-requests/2.32.3",
    "python-httpx/0.27.2",
    "curl/8.7.1",
    "axios/1.7.7",
    "langchain-openai/0.2.3 OpenAI/Python 1.51.0",
)
BROWSER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
)
TIER_LIMITS: dict[str, int | None] = {"free": 50, "tier1": 500, "tier2": 5000, "enterprise": None}


def derive_seed(seed: int, *names: object) -> int:
    digest = hashlib.blake2b(repr((seed, *names)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def hex_id(rng: random.Random, bits: int = 64) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth for one event: attack or not, the scenario, and the campaign/incident/group id."""

    attack: bool
    scenario: str
    group: str | None = None
    # for attack requests: "payload" (the extraction itself) or "filler" (benign-looking camouflage)
    part: str | None = None


@dataclass(slots=True)
class Account:
    """An API customer account. Everything but the last three fields is operator knowledge (accounts.csv)."""

    account_id: str
    tier: str
    signup_ts: float
    email_domain: str
    country: str
    keys: list[str]
    org_id: str | None = None
    payment: str | None = None
    channel: str = "gateway"  # which gateway logs it: "gateway" (JSON lines) or "otel" (GenAI spans)
    privacy: bool = False  # zero-retention org: the gateway logs hashes, not text
    scenario: str = ""
    label: str = BENIGN  # benign, attack, or mixed (a reseller carrying attack traffic)
    campaign: str | None = None

    @property
    def daily_limit(self) -> int | None:
        return TIER_LIMITS[self.tier]


@dataclass(slots=True)
class ApiCall:
    ts: float
    account: Account
    key_id: str
    ip: str
    user_agent: str | None
    model: str
    prompt: str
    label: Label
    completion: str = ""
    endpoint: str = "chat"
    system: str | None = None
    tools: tuple[str, ...] | None = None
    history: tuple[str, ...] = ()
    session: str | None = None
    end_user: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    seed: int | None = None
    stream: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    output_tokens: int = 0
    reasoning_tokens: int = 0
    status: int = 200
    latency_ms: int = 0


@dataclass(slots=True)
class Principal:
    """An infrastructure identity: an IAM user, an assumed role, a Kubernetes user or service account."""

    name: str
    kind: str  # iam_user, role, service_account
    role: str  # peer group: ml-engineer, researcher, sre, data-engineer, manager, service
    country: str
    home_ip: str
    office_ip: str
    access_key: str
    k8s_user: str
    scenario: str = "engineer"
    departure_day: int | None = None


@dataclass(slots=True)
class InfraCall:
    ts: float
    principal: Principal
    service: str  # s3, signin, iam, sts, cloudtrail, k8s
    action: str  # CloudTrail eventName, or the Kubernetes verb
    ip: str
    user_agent: str
    label: Label
    bucket: str | None = None
    key: str | None = None
    copy_source: str | None = None
    bytes_out: int | None = None
    error: str | None = None
    mfa: bool | None = None
    auth_method: str | None = None
    access_key: str | None = None  # when not the principal's own (a new or stolen key)
    session_name: str | None = None
    region: str = "us-east-1"
    k8s_resource: str | None = None  # "namespace/resource/name[/subresource]"
    k8s_code: int = 200
    extra: dict[str, object] = field(default_factory=dict)


class World:
    """Shared, read-only context: seed, window, models and releases, the network and the prompt kit."""

    def __init__(self, seed: int, days: int, release_days: tuple[float, ...]) -> None:
        self.seed = seed
        self.days = days
        self.start = START
        self.end = START + days * DAY
        self.network = Network()
        self.prompts = PromptKit()
        # each release ships a new flagship at 17:00 UTC on its day
        self.releases: tuple[tuple[float, str], ...] = tuple(
            (START + day * DAY + 17 * HOUR, f"mt-large-2026-{3 + i:02d}")
            for i, day in enumerate(release_days)
        )

    def rng(self, *names: object) -> random.Random:
        return random.Random(derive_seed(self.seed, *names))

    def latest_release(self, ts: float) -> tuple[float, str] | None:
        latest = None
        for when, model in self.releases:
            if when <= ts:
                latest = (when, model)
        return latest

    def flagship(self, ts: float, rng: random.Random, eagerness: float) -> str:
        """The flagship in use at ``ts``: a release is adopted over days, faster by eager customers."""
        latest = self.latest_release(ts)
        if latest is None:
            return OLD_MODELS[0]
        since_days = (ts - latest[0]) / DAY
        adopted = min(1.0, eagerness * since_days + (0.3 if since_days > 1 else 0.0) * eagerness)
        if rng.random() < adopted:
            return latest[1]
        previous = [model for when, model in self.releases if when < latest[0]]
        return previous[-1] if previous else OLD_MODELS[0]
