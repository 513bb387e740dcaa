"""Attack campaigns on the model API: distillation and extraction, parameterised.

A :class:`CampaignSpec` fixes how many accounts (1 … 20,000), how many requests each, when, what
content (natural prompts, templated sweeps, self-instruct expansion, chain-of-thought elicitation
with paraphrase, agentic tool traces, other languages), which parameters (output harvesting: high
``max_tokens``, fixed temperature, ``n`` > 1, log-probabilities, cache-busting nonces — or benign-
looking ones), which rhythm (a shared scheduler with regular gaps and flat nights; mimicry of benign
diurnal sessions; slow spreading over weeks), which network (residential proxies rotating over many
countries, a few cloud hosts, VPNs), whether accounts are aged, whether benign-looking filler is mixed
in, whether traffic pivots to a new model right after its release, and whether it hides inside a
reseller's traffic at a given share. Every request a campaign sends is labelled ``attack`` with the
campaign id; filler requests carry ``part="filler"``.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from modeltrace.monitor.sim import clock
from modeltrace.monitor.sim.actors import latency, new_account, output_tokens, pick_country, tz_of
from modeltrace.monitor.sim.network import AutonomousSystem
from modeltrace.monitor.sim.people import topic_cdf
from modeltrace.monitor.sim.prompts import LANGUAGES
from modeltrace.monitor.sim.services import Reseller
from modeltrace.monitor.sim.taxonomy import TOPICS
from modeltrace.monitor.sim.world import (
    ATTACK,
    BROWSER_AGENTS,
    OLD_MODELS,
    SDK_AGENTS,
    TIER_LIMITS,
    Account,
    ApiCall,
    Label,
    World,
    hex_id,
)

_AGENT_POOL = ("run_python", "browse_web", "read_file", "write_file", "shell", "sql_query", "search_docs")
# Residential proxy exits, where benign customers are numerous too: a country seen only in attack
# traffic would be a give-away no real proxy network offers.
_PROXY_COUNTRIES = ("US", "BR", "IN", "VN", "ID", "PH", "TR", "MX", "PL", "DE", "GB", "FR", "KR", "NG")
_EMAIL_POOLS = (
    ("gmail.com", "outlook.com", "proton.me"),
    ("163.com", "qq.com", "gmail.com"),
    ("gmail.com", "mailbox-relay.example", "outlook.com"),
    ("yandex.ru", "gmail.com", "proton.me"),
)


@dataclass(frozen=True)
class CampaignSpec:
    campaign_id: str
    kind: str
    accounts: int = 1
    requests: tuple[int, int] = (20, 50)  # per account, over the campaign
    start_day: float = 1.0
    days: float = 3.0
    content: dict[str, float] = field(default_factory=lambda: {"natural": 1.0})
    cot_families: tuple[str, ...] = ("step_by_step", "reconstruct_reasoning")
    paraphrase: float = 0.3
    params: str = "harvest"  # harvest, fixed, benign
    timing: str = "scheduler"  # scheduler, mimic, slow
    filler: float = 0.0  # share of benign-looking requests mixed in
    network: str = "residential_proxy"  # residential_proxy, cloud, vpn
    tier: str = "free"
    aged: bool = False
    pivot: bool = False
    topic_plan: str = "uniform"  # uniform, benign_mix, sequential
    languages: tuple[str, ...] = ("zh", "ru", "ko", "es")
    reseller: str | None = None
    share: float = 0.0


@dataclass
class _Member:
    account: Account
    quota: int
    next_ts: float
    gap: float
    cap: int
    tz: float
    agent: str
    temperature: float | None
    max_tokens: int | None
    sent_today: int = 0
    day: int = -1


class Campaign:
    """One campaign: its accounts (none when it lives inside a reseller) and the calls they make."""

    def __init__(self, world: World, spec: CampaignSpec, resellers: dict[str, Reseller]) -> None:
        self.world, self.spec, self.name = world, spec, f"campaign:{spec.campaign_id}"
        rng = world.rng(self.name, "setup")
        self._rng = world.rng(self.name, "days")
        self.start = world.start + spec.start_day * clock.DAY
        self.end = min(world.end, self.start + spec.days * clock.DAY)
        self.payload = Label(True, spec.kind, spec.campaign_id, "payload")
        self.filler = Label(True, spec.kind, spec.campaign_id, "filler")
        self._counter = 0
        self._mix = topic_cdf(rng, {"coding": 2, "writing": 1, "everyday": 1}, concentration=1.5)
        self._countries = rng.sample(_PROXY_COUNTRIES, min(len(_PROXY_COUNTRIES), 6 + rng.randrange(8)))
        self._cloud: AutonomousSystem = world.network.system("cloud", rng.choice(("US", "SG", "DE")), rng)
        self._ip_pool = max(2, spec.accounts // 5)
        self._skeleton = rng.randrange(4)
        self._nonce = rng.choice(("suffix", "prefix", "bracket"))
        self.agents = (
            rng.sample(SDK_AGENTS + BROWSER_AGENTS, 4)
            if spec.timing == "mimic"
            else (rng.choice(SDK_AGENTS),)
        )
        self.max_tokens = rng.choice((4096, 8192)) if spec.params == "harvest" else 2048
        self.temperature = rng.choice((0.0, 0.7, 1.0)) if spec.params == "harvest" else 0.7
        self.n = rng.choice((1, 4, 8)) if spec.params == "harvest" else None
        self.tools = tuple(sorted(rng.sample(_AGENT_POOL, 5)))
        self._sticky_ip, self._sticky_left = "", 0
        self.accounts: list[Account] = []
        self.members: list[_Member] = []
        if spec.reseller is not None:
            reseller = resellers[spec.reseller]
            reseller.inject(self.start, self.end, spec.share, self._reseller_call)
            self.accounts_ids = [a.account_id for a in reseller.accounts]
            self._end_users = [f"eu_{hex_id(rng, 40)}" for _ in range(max(5, spec.accounts))]
            return
        self._make_accounts(rng)
        self.accounts_ids = [a.account_id for a in self.accounts]

    # -- setup -----------------------------------------------------------------------------------------

    def _make_accounts(self, rng: random.Random) -> None:
        spec, world = self.spec, self.world
        emails = rng.choice(_EMAIL_POOLS)
        cards = [f"pm_{hex_id(rng, 48)}" for _ in range(max(1, spec.accounts // 25))]
        limit = TIER_LIMITS[spec.tier] or 10_000
        batch_start = self.start - rng.uniform(1, 6) * clock.DAY
        duration = self.end - self.start
        base_gap = rng.uniform(20, 90)
        for i in range(spec.accounts):
            if spec.aged:
                signup = world.start - rng.uniform(60, 500) * clock.DAY
            else:  # staggered signups in batches before the start
                signup = batch_start + (i // 40) * rng.uniform(600, 7200) + rng.uniform(0, 900)
            country = pick_country(rng) if spec.timing == "mimic" else rng.choice(self._countries)
            account = new_account(
                rng,
                world,
                scenario=spec.kind,
                tier=spec.tier,
                country=country,
                signup_ts=min(signup, self.start - 60),
                email_domain=rng.choice(emails),
                payment=rng.choice(cards) if spec.tier != "free" else None,
                label=ATTACK,
                campaign=spec.campaign_id,
            )
            quota = rng.randint(*spec.requests)
            if spec.timing == "slow":
                first, gap = self.start + rng.uniform(0, duration * 0.2), duration / max(quota, 1)
            elif spec.timing == "mimic":
                first, gap = self.start + rng.uniform(0, duration * 0.5), 0.0
            else:  # one scheduler feeds accounts in waves across the window
                first = self.start + (i / max(spec.accounts, 1)) * duration * 0.7 + rng.uniform(0, 600)
                gap = base_gap * rng.uniform(0.9, 1.1)
            self.members.append(
                _Member(
                    account=account,
                    quota=quota,
                    next_ts=first,
                    gap=gap,
                    cap=max(1, int(limit * rng.uniform(0.85, 0.98))),
                    tz=tz_of(country),
                    agent=rng.choice(self.agents),
                    temperature=rng.choice((None, 0.7, 1.0)) if spec.params == "benign" else self.temperature,
                    max_tokens=rng.choice((None, 1024, 2048)) if spec.params == "benign" else self.max_tokens,
                )
            )
            self.accounts.append(account)

    def label_records(self) -> list[dict[str, Any]]:
        params = asdict(self.spec)
        params.pop("campaign_id")
        return [
            {
                "type": "campaign",
                "campaign_id": self.spec.campaign_id,
                "kind": self.spec.kind,
                "accounts": list(self.accounts_ids),
                "start": self.start,
                "end": self.end,
                "params": params,
            }
        ]

    # -- per day ---------------------------------------------------------------------------------------

    def day(self, day: int) -> list[ApiCall]:
        day_start, day_end = clock.day_start(day), clock.day_start(day + 1)
        if self.spec.reseller is not None or day_end <= self.start or day_start >= self.end:
            return []
        rng, spec = self._rng, self.spec
        calls: list[ApiCall] = []
        for member in self.members:
            if member.quota <= 0:
                continue
            if spec.timing == "mimic":
                self._mimic_day(rng, member, day, calls)
                continue
            if spec.timing == "slow":
                while member.quota > 0 and member.next_ts < min(day_end, self.end):
                    calls.append(self._call(rng, member.next_ts, member))
                    member.quota -= 1
                    member.next_ts += member.gap * rng.uniform(0.3, 1.7)
                continue
            sent = 0
            while member.quota > 0 and member.next_ts < min(day_end, self.end):
                if sent >= member.cap:  # stay just under the daily limit; resume tomorrow
                    member.next_ts = day_end + rng.uniform(0, 1800)
                    break
                ts = max(member.next_ts, day_start)
                calls.append(self._call(rng, ts, member))
                member.quota -= 1
                sent += 1
                member.next_ts = ts + member.gap * rng.uniform(0.85, 1.15)
        return calls

    def _mimic_day(self, rng: random.Random, member: _Member, day: int, calls: list[ApiCall]) -> None:
        if member.next_ts >= clock.day_start(day + 1) or rng.random() > 0.75:
            return
        remaining_days = max(1.0, (self.end - clock.day_start(day)) / clock.DAY)
        today = min(
            member.quota, member.cap, max(1, round(member.quota / remaining_days * rng.uniform(0.6, 1.4)))
        )
        while today > 0:
            start = clock.moment(rng, day, member.tz, "human")
            size = min(today, 1 + int(rng.expovariate(1 / 4)))
            for offset in clock.session_gaps(rng, size, 45.0):
                if self.start <= start + offset < self.end:
                    calls.append(self._call(rng, start + offset, member))
                    member.quota -= 1
            today -= size

    # -- one request -----------------------------------------------------------------------------------

    def _reseller_call(
        self, rng: random.Random, ts: float, account: Account, key: str, ip: str, agent: str
    ) -> ApiCall:
        call = self._request(rng, ts, account, key, ip, agent, self.temperature, self.max_tokens)
        call.end_user = rng.choice(self._end_users)
        return call

    def _call(self, rng: random.Random, ts: float, member: _Member) -> ApiCall:
        return self._request(
            rng,
            ts,
            member.account,
            member.account.keys[0],
            self._address(rng),
            member.agent,
            member.temperature,
            member.max_tokens,
        )

    def _address(self, rng: random.Random) -> str:
        net, kind = self.world.network, self.spec.network
        if kind == "cloud":
            return net.address(self._cloud, rng, pool=self._ip_pool)
        if kind == "vpn":
            return net.address(
                net.system("hosting", rng.choice(("NL", "SG", "US", "DE")), rng), rng, pool=200
            )
        if self._sticky_left <= 0:  # residential proxy sessions last a few requests
            country = rng.choice(self._countries)
            kind_ = "mobile" if rng.random() < 0.2 else "residential"
            self._sticky_ip = net.address(net.system(kind_, country, rng), rng, v6=rng.random() < 0.1)
            self._sticky_left = rng.randint(1, 8)
        self._sticky_left -= 1
        return self._sticky_ip

    def _topic(self, rng: random.Random) -> int:
        plan = self.spec.topic_plan
        if plan == "sequential":
            self._counter += 1
            return self._counter % len(TOPICS)
        if plan == "benign_mix":
            return rng.choices(range(len(TOPICS)), cum_weights=self._mix)[0]
        return rng.randrange(len(TOPICS))

    def _model(self, rng: random.Random, ts: float, cot: bool) -> str:
        latest = self.world.latest_release(ts)
        pivoted = latest is not None and ts - latest[0] > rng.uniform(0.5, 6) * clock.HOUR
        if self.spec.pivot and latest is not None and pivoted and rng.random() < 0.85:
            return latest[1]
        if cot and rng.random() < 0.6:
            return OLD_MODELS[2]
        return OLD_MODELS[0] if latest is None or self.spec.pivot else self.world.flagship(ts, rng, 0.4)

    def _request(
        self,
        rng: random.Random,
        ts: float,
        account: Account,
        key: str,
        ip: str,
        agent: str,
        temperature: float | None,
        max_tokens: int | None,
    ) -> ApiCall:
        spec, prompts = self.spec, self.world.prompts
        topic = self._topic(rng)
        filler = spec.filler > 0 and rng.random() < spec.filler
        mode = "filler" if filler else rng.choices(list(spec.content), list(spec.content.values()))[0]
        system = tools = None
        history: tuple[str, ...] = ()
        cot = False
        if mode == "filler":
            prompt = prompts.natural(
                rng, rng.choices(range(len(TOPICS)), cum_weights=self._mix)[0], reasoning_p=0.05
            )
        elif mode == "sweep":
            prompt = prompts.sweep(rng, topic, self._skeleton)
        elif mode == "self_instruct":
            prompt = prompts.self_instruct(rng, topic)
        elif mode == "cot":
            cot = True
            question = prompts.natural(rng, topic, context_p=0.1, suffix_p=0.1, reasoning_p=0.0, typo_p=0.02)
            prompt = prompts.cot(rng, rng.choice(spec.cot_families), question, spec.paraphrase)
        elif mode == "agentic":
            cot = True
            prompt = prompts.agentic_harvest(rng, topic)
            system = "You are an autonomous agent. Use the tools; think out loud before every call."
            tools = self.tools
            history = tuple(f"step {i}" for i in range(rng.choice((0, 2, 4, 6))))
        elif mode == "multilingual":
            cot = rng.random() < 0.6
            language = rng.choice([lang for lang in spec.languages if lang in LANGUAGES])
            prompt = (
                prompts.cot_multilingual(rng, language, topic)
                if cot
                else prompts.natural(rng, topic, language=language, reasoning_p=0.1)
            )
        else:  # natural prompts, the PRADA breaker
            prompt = prompts.natural(rng, topic, reasoning_p=0.08 if spec.params == "benign" else 0.15)
        if spec.params == "harvest" and not filler:
            nonce = hex_id(rng, 24)
            prompt = (
                f"{prompt} [ref:{nonce}]"
                if self._nonce == "bracket"
                else f"#{nonce}\n{prompt}"
                if self._nonce == "prefix"
                else f"{prompt}\n\n(request {nonce})"
            )
        model = self._model(rng, ts, cot)
        harvest = spec.params == "harvest" and not filler
        out = (
            int((max_tokens or 4096) * rng.uniform(0.45, 1.0))
            if harvest
            else output_tokens(rng, 500 if cot else 300, max_tokens)
        )
        reasoning = output_tokens(rng, 1500 if cot else 600, None) if model.startswith("mt-reason") else 0
        return ApiCall(
            ts=ts,
            account=account,
            key_id=key,
            ip=ip,
            user_agent=agent,
            model=model,
            prompt=prompt,
            label=self.filler if filler else self.payload,
            completion=prompts.completion(rng, prompt, cot=cot),
            system=system,
            tools=tools,
            history=history,
            max_tokens=max_tokens,
            temperature=temperature,
            n=self.n if harvest else None,
            logprobs=True if harvest else None,
            top_logprobs=5 if harvest else None,
            stream=False if harvest else rng.choice((None, True)),
            output_tokens=out,
            reasoning_tokens=reasoning,
            latency_ms=latency(rng, out, reasoning),
        )
