"""Benign people on the API: individual users, and the groups that look coordinated without being so.

:class:`People` is one population with shared habits; its specs cover ordinary users (heavy-tailed
volume, time zones, bursty multi-turn sessions, retries, typos, several languages), VPN users (exit
addresses in hosting networks, changing country), mobile users behind carrier-grade NAT (hundreds of
unrelated people on a few addresses), a company behind one proxy (shared egress and user agent), a
marketing signup burst (many new accounts within hours, the same quick-start prompts), and release
testers (probing many topics and switching to the new model within hours of a release).
:class:`Classroom` is a class behind one university NAT: accounts created in one wave, active in the
same class hours, sending near-identical assignment prompts that ask to "show your work".
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from modeltrace.monitor.sim import clock
from modeltrace.monitor.sim.actors import (
    latency,
    new_account,
    output_tokens,
    pick_country,
    poisson,
    signup_before,
    tz_of,
)
from modeltrace.monitor.sim.network import VPN_COUNTRIES, AutonomousSystem
from modeltrace.monitor.sim.taxonomy import DOMAINS, TOPICS, TOPICS_BY_DOMAIN
from modeltrace.monitor.sim.world import (
    BROWSER_AGENTS,
    OLD_MODELS,
    SDK_AGENTS,
    Account,
    ApiCall,
    Label,
    World,
    hex_id,
)

# persona → (domain preferences, benign reasoning-request rate, special prompt kind and its rate)
PERSONAS: dict[str, tuple[dict[str, float], float, str | None, float]] = {
    "developer": ({"coding": 6, "data": 3, "reasoning": 1}, 0.03, "developer_format", 0.08),
    "student": ({"math": 4, "science": 3, "education": 3, "writing": 1}, 0.25, "homework", 0.3),
    "writer": ({"writing": 6, "business": 2, "languages": 1}, 0.02, None, 0.0),
    "analyst": ({"data": 4, "business": 3, "law": 1}, 0.06, None, 0.0),
    "casual": ({"everyday": 5, "health": 2, "reasoning": 1, "education": 1}, 0.03, None, 0.0),
    "teacher": ({"education": 5, "writing": 2, "math": 1}, 0.1, "rubric", 0.25),
    "moderator": ({"writing": 3, "law": 1, "everyday": 1}, 0.02, "moderation", 0.3),
    "multilingual": ({"languages": 3, "everyday": 2, "coding": 1, "education": 1}, 0.1, "language", 0.7),
}
_LANGS = ("es", "fr", "de", "pt", "zh", "ja", "ru", "ko", "vi", "ar")


@dataclass
class PeopleSpec:
    scenario: str
    count: int
    personas: dict[str, float]
    network: str = "residential"  # residential, vpn, mobile, corporate
    tiers: dict[str, float] = field(default_factory=lambda: {"free": 0.45, "tier1": 0.45, "tier2": 0.1})
    activity: float = 0.3  # chance of using the API on a given weekday, before the per-account spread
    sessions: float = 1.4
    requests: float = 3.5  # per session
    curve: str = "human"
    org: str | None = None  # organisation all accounts belong to (a company)
    country: str | None = None
    signup_day: float | None = None  # marketing burst: everyone signs up within hours of this day
    quickstart: bool = False
    release_probe: bool = False


@dataclass
class _Person:
    account: Account
    persona: str
    topic_cdf: list[float]
    activity: float
    requests: float
    tz: float
    home: str
    mobile: AutonomousSystem
    user_agent: str
    model_habit: str
    eagerness: float
    temperature: float | None
    max_tokens: int | None
    stream: bool | None
    language: str | None
    active_from: float


def topic_cdf(rng: random.Random, preferences: dict[str, float], concentration: float = 0.4) -> list[float]:
    """Cumulative weights over all topics: Dirichlet over domains biased by ``preferences``, then uniform."""
    domain_weights = {d: rng.gammavariate(concentration + preferences.get(d, 0.0), 1.0) for d in DOMAINS}
    weights = [0.0] * len(TOPICS)
    for domain, indexes in TOPICS_BY_DOMAIN.items():
        for i in indexes:
            weights[i] = domain_weights[domain] / len(indexes) * rng.uniform(0.5, 1.5)
    return list(itertools.accumulate(weights))


class People:
    """A benign population of individual accounts (see the module docstring for the variants)."""

    def __init__(self, world: World, spec: PeopleSpec) -> None:
        self.world, self.spec, self.name = world, spec, f"people:{spec.scenario}"
        rng = world.rng(self.name, "setup")
        self._rng = world.rng(self.name, "days")
        net = world.network
        self._corporate = net.named("Acme Corp") if spec.network == "corporate" else None
        self.people: list[_Person] = []
        self.accounts: list[Account] = []
        corporate_agent = "acme-ai-gateway/2.3 (+OpenAI/Python 1.51.0)"
        for _ in range(spec.count):
            persona = rng.choices(list(spec.personas), list(spec.personas.values()))[0]
            prefs, _, special, _ = PERSONAS[persona]
            country = spec.country or pick_country(rng)
            if spec.signup_day is not None:
                signup = world.start + spec.signup_day * clock.DAY + rng.uniform(0, 6 * clock.HOUR)
            else:
                signup = signup_before(rng, world, 3, 900)
            tier = rng.choices(list(spec.tiers), list(spec.tiers.values()))[0]
            account = new_account(
                rng,
                world,
                scenario=spec.scenario,
                tier=tier,
                country=country,
                signup_ts=signup,
                org_id=spec.org if spec.org and rng.random() < 0.6 else None,
                email_domain="acme.example" if spec.org else None,
                privacy=spec.org is not None and rng.random() < 0.5,
            )
            home_as = net.system("residential", country, rng)
            home = net.address(home_as, rng, v6=rng.random() < 0.15)
            agent = (
                corporate_agent
                if spec.network == "corporate"
                else rng.choice(SDK_AGENTS)
                if persona in ("developer", "analyst") or rng.random() < 0.4
                else rng.choice(BROWSER_AGENTS)
            )
            person = _Person(
                account=account,
                persona=persona,
                topic_cdf=topic_cdf(rng, prefs),
                activity=min(0.95, spec.activity * rng.lognormvariate(0, 0.7)),
                requests=max(1.0, spec.requests * rng.lognormvariate(0, 0.8)),
                tz=tz_of(country),
                home=home,
                mobile=net.system("mobile", country, rng),
                user_agent=agent,
                model_habit=rng.choices(("large", "small", "reason"), (0.6, 0.25, 0.15))[0],
                eagerness=rng.random() ** 2 * 1.5,
                temperature=rng.choice((None, None, None, 0.7, 0.7, 0.2, 1.0, 0.0)),
                max_tokens=rng.choice((None, None, None, 1024, 2048, 4096, 512, 8192)),
                stream=rng.choice((None, True, True, False)),
                language=rng.choice(_LANGS) if special == "language" else None,
                active_from=max(signup, world.start),
            )
            self.people.append(person)
            self.accounts.append(account)

    def label_records(self) -> list[dict[str, Any]]:
        return []

    # -- per day ---------------------------------------------------------------------------------------

    def day(self, day: int) -> list[ApiCall]:
        rng, spec, world = self._rng, self.spec, self.world
        calls: list[ApiCall] = []
        weekday = clock.WEEKDAY_FACTOR[clock.weekday(day)] if spec.curve == "office" else 1.0
        day_start = clock.day_start(day)
        release_boost = 1.0
        for when, _ in world.releases:
            if 0 <= day_start + clock.DAY / 2 - when < 2 * clock.DAY:
                release_boost = 1.35  # benign post-release spike
        probing = spec.release_probe and any(
            0 <= day_start - when + clock.DAY < 2 * clock.DAY for when, _ in world.releases
        )
        counts: dict[str, int] = {}
        for person in self.people:
            if person.active_from > day_start + clock.DAY:
                continue
            p = person.activity * weekday * release_boost * (3.0 if probing else 1.0)
            if spec.signup_day is not None and day_start <= person.active_from < day_start + clock.DAY:
                p = 1.0  # a new signup tries the API the day it signs up
            if rng.random() >= p:
                continue
            for _ in range(1 + poisson(rng, spec.sessions - 1)):
                self._session(rng, person, day, calls, probing, counts)
        return calls

    def _session(
        self,
        rng: random.Random,
        person: _Person,
        day: int,
        calls: list[ApiCall],
        probing: bool,
        counts: dict[str, int],
    ) -> None:
        prompts, spec, account = self.world.prompts, self.spec, person.account
        start = clock.moment(rng, day, person.tz, spec.curve)
        if start < person.active_from:
            start = person.active_from + rng.uniform(60, 3600)
        count = 1 + poisson(rng, person.requests - 1)
        ip = self._address(rng, person)
        session = f"conv_{hex_id(rng)}" if rng.random() < 0.4 else None
        key = account.keys[0]
        label = Label(False, spec.scenario)
        history: tuple[str, ...] = ()
        topic = 0
        daily = counts.get(account.account_id, 0)
        limit = account.daily_limit
        _, reasoning_p, special, special_p = PERSONAS[person.persona]
        for i, offset in enumerate(clock.session_gaps(rng, count, 45.0)):
            ts = start + offset
            if i == 0 or rng.random() > 0.55:
                topic = rng.choices(range(len(TOPICS)), cum_weights=person.topic_cdf)[0]
                history = ()
                prompt = self._first_prompt(rng, person, topic, special, special_p, reasoning_p, probing, i)
            else:
                prompt = prompts.follow_up(rng, topic)
            if person.persona == "developer" and rng.random() < 0.04:
                # app templates that tag prompts with a request id: benign cache-busting
                prompt = f"{prompt} (request {hex_id(rng, 24)})"
            model = self._model(rng, person, ts, probing)
            over = limit is not None and daily >= limit
            call = ApiCall(
                ts=ts,
                account=account,
                key_id=key,
                ip=ip,
                user_agent=None if rng.random() < 0.01 else person.user_agent,
                model=model,
                prompt=prompt,
                label=label,
                history=history,
                session=session,
                max_tokens=person.max_tokens,
                temperature=person.temperature,
                stream=person.stream,
            )
            if person.persona in ("developer", "analyst") and rng.random() < 0.02:
                call.logprobs, call.top_logprobs, call.n = (
                    True,
                    rng.choice((None, 3, 5)),
                    rng.choice((None, 2, 3)),
                )
            if over:
                call.status = 429
                calls.append(call)
                counts[account.account_id] = daily
                return
            cot = "step" in prompt.lower() or "show your work" in prompt.lower()
            call.completion = prompts.completion(rng, prompt, cot=cot)
            call.output_tokens = output_tokens(rng, 260 if not cot else 520, person.max_tokens)
            if model.startswith("mt-reason"):
                call.reasoning_tokens = output_tokens(rng, 700, None)
            if rng.random() < 0.01:
                call.status = rng.choice((500, 503))
            call.latency_ms = latency(rng, call.output_tokens, call.reasoning_tokens)
            calls.append(call)
            daily += 1
            history = (*history, prompt, call.completion)[-8:]
        counts[account.account_id] = daily

    def _first_prompt(
        self,
        rng: random.Random,
        person: _Person,
        topic: int,
        special: str | None,
        special_p: float,
        reasoning_p: float,
        probing: bool,
        index: int,
    ) -> str:
        prompts = self.world.prompts
        if self.spec.quickstart and index < 2 and rng.random() < 0.7:
            return prompts.quickstart(rng)
        if probing and rng.random() < 0.6:
            return prompts.release_probe(rng, rng.randrange(len(TOPICS)))
        if special is not None and rng.random() < special_p:
            if special == "homework":
                return prompts.homework(rng, prompts.math_problem(rng))
            if special == "rubric":
                return prompts.teacher_rubric(rng)
            if special == "moderation":
                return prompts.moderator_rewrite(rng)
            if special == "developer_format":
                return prompts.developer_format(rng, topic)
            if special == "language":
                return prompts.natural(rng, topic, language=person.language, reasoning_p=reasoning_p)
        return prompts.natural(rng, topic, reasoning_p=reasoning_p)

    def _model(self, rng: random.Random, person: _Person, ts: float, probing: bool) -> str:
        if probing:
            latest = self.world.latest_release(ts)
            if latest is not None:
                return latest[1]
        if person.model_habit == "large":
            return self.world.flagship(ts, rng, person.eagerness)
        return OLD_MODELS[1] if person.model_habit == "small" else OLD_MODELS[2]

    def _address(self, rng: random.Random, person: _Person) -> str:
        net, kind = self.world.network, self.spec.network
        if kind == "corporate" and self._corporate is not None:
            return net.address(self._corporate, rng, pool=2)
        if kind == "vpn":
            exit_as = net.system("hosting", rng.choice(VPN_COUNTRIES), rng)
            return net.address(exit_as, rng, pool=200)
        if kind == "mobile" or rng.random() < 0.15:
            return net.address(person.mobile, rng, pool=64)
        return person.home


class Classroom:
    """A class behind one university NAT: one signup wave, shared class hours, one assignment."""

    def __init__(self, world: World, name: str, students: int, country: str, university: str) -> None:
        self.world, self.name = world, f"classroom:{name}"
        rng = world.rng(self.name, "setup")
        self._rng = world.rng(self.name, "days")
        self._nat = world.network.named(university)
        self.tz = tz_of(country)
        wave = world.start - rng.uniform(2, 20) * clock.DAY
        domain = university.lower().split()[0].strip(".") + ".edu.example"
        self.accounts = [
            new_account(
                rng,
                world,
                scenario="classroom_nat",
                tier="free",
                country=country,
                signup_ts=wave + rng.uniform(0, 50 * 60),
                email_domain=domain,
            )
            for _ in range(students)
        ]
        self.class_days = (1, 3)  # Tuesday and Thursday
        self.agent = rng.choice(BROWSER_AGENTS)

    def label_records(self) -> list[dict[str, Any]]:
        return []

    def day(self, day: int) -> list[ApiCall]:
        rng, world, prompts = self._rng, self.world, self.world.prompts
        calls: list[ApiCall] = []
        in_class = clock.weekday(day) in self.class_days
        assignment = world.rng(self.name, "assignment", day)
        problems = [prompts.math_problem(assignment) for _ in range(6)]
        label = Label(False, "classroom_nat")
        for account in self.accounts:
            sessions = []
            if in_class and rng.random() < 0.85:
                sessions.append(
                    (clock.day_start(day) + (10 - self.tz) * clock.HOUR + rng.uniform(0, 80 * 60), 5)
                )
            if rng.random() < 0.35:  # homework from the dorms, behind the same NAT
                sessions.append((clock.moment(rng, day, self.tz, "evening"), 3))
            for start, mean in sessions:
                ip = world.network.address(self._nat, rng, pool=2)
                for offset in clock.session_gaps(rng, 1 + poisson(rng, mean), 70.0):
                    problem = rng.choice(problems)
                    prompt = (
                        prompts.homework(rng, problem)
                        if rng.random() < 0.8
                        else prompts.natural(rng, rng.randrange(len(TOPICS)), reasoning_p=0.3)
                    )
                    out = output_tokens(rng, 420, None)
                    calls.append(
                        ApiCall(
                            ts=start + offset,
                            account=account,
                            key_id=account.keys[0],
                            ip=ip,
                            user_agent=self.agent,
                            model=world.flagship(start, rng, 0.2),
                            prompt=prompt,
                            label=label,
                            completion=prompts.completion(rng, prompt, cot=True),
                            output_tokens=out,
                            latency_ms=latency(rng, out, 0),
                            stream=True,
                        )
                    )
        return calls
