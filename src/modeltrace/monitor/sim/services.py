"""Benign programs on the API that look like extraction: the hard negatives a detector must not flag.

* :class:`EvalHarness` — benchmark runs that sweep the whole taxonomy, single-turn, temperature 0,
  fixed max_tokens and seed, thousands of requests within hours, with "Let's think step by step"
  items, and a run right after every release (exactly when a distillation campaign pivots).
* :class:`SyntheticDataCustomer` — a licensed customer generating training data: round the clock,
  n = 4, 4,096 max_tokens, high output/input ratio, self-instruct-style requests over all topics.
* :class:`RagApp` — a product with one system prompt, templated prompts, many end users behind a few
  server addresses, plus embedding calls.
* :class:`AgentProduct` — tool schemas, multi-step tool conversations, end users.
* :class:`CiSuite` — the same prompts every night at the same minute, from rotating CI runners.
* :class:`Reseller` — one account, many keys, thousands of end users, a global topic mix; attack
  campaigns can route a share of their traffic through it (``inject``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from modeltrace.monitor.sim import clock
from modeltrace.monitor.sim.actors import latency, new_account, output_tokens, poisson, signup_before, tz_of
from modeltrace.monitor.sim.network import AutonomousSystem
from modeltrace.monitor.sim.people import topic_cdf
from modeltrace.monitor.sim.taxonomy import TOPICS
from modeltrace.monitor.sim.world import OLD_MODELS, Account, ApiCall, Label, World, hex_id

# An attack campaign's way of producing one call through someone else's account (see Reseller.inject).
AttackCallMaker = Callable[[random.Random, float, Account, str, str, str], ApiCall]


class _Service:
    """One or more accounts run by a program from a few cloud addresses."""

    scenario = ""

    def __init__(
        self, world: World, name: str, *, tier: str, country: str, accounts: int = 1, keys: int = 1
    ) -> None:
        self.world, self.name = world, f"{self.scenario}:{name}"
        rng = world.rng(self.name, "setup")
        self._rng = world.rng(self.name, "days")
        org = f"org_{hex_id(rng, 32)}"
        self.accounts = [
            new_account(
                rng,
                world,
                scenario=self.scenario,
                tier=tier,
                country=country,
                org_id=org,
                signup_ts=signup_before(rng, world, 30, 700),
                email_domain=f"{name}.example",
                keys=keys,
                privacy=rng.random() < 0.2,
            )
            for _ in range(accounts)
        ]
        self.cloud: AutonomousSystem = world.network.system(
            "cloud", rng.choice(("US", "DE", "IE", "SG")), rng
        )
        self.tz = tz_of(country)
        self.label = Label(False, self.scenario)

    def label_records(self) -> list[dict[str, Any]]:
        return []

    def _ip(self, rng: random.Random, pool: int = 4) -> str:
        return self.world.network.address(self.cloud, rng, pool=pool)


class EvalHarness(_Service):
    scenario = "eval_harness"

    def __init__(self, world: World, name: str, items: int) -> None:
        super().__init__(world, name, tier="tier2", country="US")
        rng = world.rng(self.name, "plan")
        self.items = items
        self.weekly_day = rng.randrange(7)
        self.agent = "python-httpx/0.27.2 evalkit/0.9.1"

    def day(self, day: int) -> list[ApiCall]:
        rng, world = self._rng, self.world
        starts: list[tuple[float, str]] = []
        if clock.weekday(day) == self.weekly_day:
            starts.append(
                (clock.moment(rng, day, self.tz, "office"), world.flagship(clock.day_start(day), rng, 0.8))
            )
        for when, model in world.releases:
            if clock.day_start(day) <= when + 3 * clock.HOUR < clock.day_start(day + 1):
                starts.append((when + rng.uniform(1, 5) * clock.HOUR, model))
        calls: list[ApiCall] = []
        account = self.accounts[0]
        for start, model in starts:
            ts = start
            ip = self._ip(rng, 1)
            for item in range(self.items):
                ts += rng.expovariate(1 / 0.8)
                prompt = world.prompts.benchmark_item(rng, item % len(TOPICS), item)
                multiple_choice = item % 3 == 0  # scored from log-probabilities, as harnesses do
                out = output_tokens(rng, 90, 512, 0.9)
                calls.append(
                    ApiCall(
                        ts=ts,
                        account=account,
                        key_id=account.keys[0],
                        ip=ip,
                        user_agent=self.agent,
                        model=model,
                        prompt=prompt,
                        label=self.label,
                        completion=world.prompts.completion(rng, prompt, cot=False),
                        max_tokens=512,
                        temperature=0.0,
                        seed=1234,
                        n=1,
                        logprobs=True if multiple_choice else None,
                        top_logprobs=5 if multiple_choice else None,
                        stream=False,
                        output_tokens=out,
                        latency_ms=latency(rng, out, 0),
                    )
                )
        return calls


class SyntheticDataCustomer(_Service):
    scenario = "synthetic_data_customer"

    def __init__(self, world: World, name: str, per_hour: float) -> None:
        super().__init__(world, name, tier="enterprise", country="US", keys=2)
        self.per_hour = per_hour

    def day(self, day: int) -> list[ApiCall]:
        rng, world = self._rng, self.world
        account = self.accounts[0]
        calls: list[ApiCall] = []
        ts = clock.day_start(day)
        end = clock.day_start(day + 1)
        while True:
            ts += rng.expovariate(self.per_hour / clock.HOUR)
            if ts >= end:
                return calls
            prompt = world.prompts.synthetic_data_request(rng, rng.randrange(len(TOPICS)))
            out = output_tokens(rng, 2600, 4096, 0.35)
            calls.append(
                ApiCall(
                    ts=ts,
                    account=account,
                    key_id=rng.choice(account.keys),
                    ip=self._ip(rng),
                    user_agent="OpenAI/Python 1.54.3",
                    model=world.flagship(ts, rng, 0.3),
                    prompt=prompt,
                    label=self.label,
                    completion=world.prompts.completion(rng, prompt, cot=True),
                    max_tokens=4096,
                    temperature=1.0,
                    top_p=0.95,
                    n=rng.choice((4, 8)),
                    stream=False,
                    output_tokens=out,
                    latency_ms=latency(rng, out, 0),
                )
            )


class RagApp(_Service):
    scenario = "rag_app"

    def __init__(self, world: World, name: str, per_day: float, users: int, country: str) -> None:
        super().__init__(world, name, tier="tier2", country=country)
        self.company = name.replace("-", " ").title()
        self.per_day = per_day
        rng = world.rng(self.name, "users")
        self.users = [f"u_{hex_id(rng, 40)}" for _ in range(users)]

    def day(self, day: int) -> list[ApiCall]:
        rng, world = self._rng, self.world
        account = self.accounts[0]
        calls: list[ApiCall] = []
        factor = clock.WEEKDAY_FACTOR[clock.weekday(day)]
        for _ in range(poisson(rng, self.per_day * factor)):
            ts = clock.moment(rng, day, self.tz, "office")
            user = rng.choice(self.users)
            system, prompt = world.prompts.rag(rng, self.company)
            ip = self._ip(rng, 3)
            calls.append(
                ApiCall(
                    ts=ts - 0.4,
                    account=account,
                    key_id=account.keys[0],
                    ip=ip,
                    user_agent="OpenAI/Python 1.51.0",
                    model="mt-embed-1",
                    prompt=prompt.rsplit("Question: ", 1)[-1],
                    label=self.label,
                    endpoint="embeddings",
                    end_user=user,
                    latency_ms=rng.randint(40, 120),
                )
            )
            out = output_tokens(rng, 120, 512)
            calls.append(
                ApiCall(
                    ts=ts,
                    account=account,
                    key_id=account.keys[0],
                    ip=ip,
                    user_agent="OpenAI/Python 1.51.0",
                    model=OLD_MODELS[1],
                    prompt=prompt,
                    label=self.label,
                    system=system,
                    end_user=user,
                    completion=world.prompts.completion(rng, prompt, cot=False),
                    max_tokens=512,
                    temperature=0.2,
                    stream=True,
                    output_tokens=out,
                    latency_ms=latency(rng, out, 0),
                )
            )
        return calls


class AgentProduct(_Service):
    scenario = "agent_product"

    def __init__(self, world: World, name: str, tasks_per_day: float, users: int) -> None:
        super().__init__(world, name, tier="tier2", country="US")
        rng = world.rng(self.name, "tools")
        self.tools = world.prompts.agent_tools(
            rng,
            4,
            (
                "search_docs",
                "get_order_status",
                "create_ticket",
                "lookup_customer",
                "refund_payment",
                "send_email",
            ),
        )
        self.system = (
            f"You are the {name} assistant. Use the tools to help the customer; be brief and polite."
        )
        self.tasks = tasks_per_day
        self.users = [f"u_{hex_id(rng, 40)}" for _ in range(users)]

    def day(self, day: int) -> list[ApiCall]:
        rng, world = self._rng, self.world
        account = self.accounts[0]
        calls: list[ApiCall] = []
        for _ in range(poisson(rng, self.tasks * clock.WEEKDAY_FACTOR[clock.weekday(day)])):
            ts = clock.moment(rng, day, self.tz, "human")
            user = rng.choice(self.users)
            task = world.prompts.agent_task(rng)
            history: tuple[str, ...] = ()
            session = f"conv_{hex_id(rng)}"
            for step in range(rng.randint(2, 5)):
                out = output_tokens(rng, 80, 1024)
                call = ApiCall(
                    ts=ts,
                    account=account,
                    key_id=account.keys[0],
                    ip=self._ip(rng, 2),
                    user_agent="OpenAI/NodeJS/4.67.3",
                    model=world.flagship(ts, rng, 0.5),
                    prompt=task,
                    label=self.label,
                    system=self.system,
                    tools=self.tools,
                    history=history,
                    session=session,
                    end_user=user,
                    max_tokens=1024,
                    temperature=0.3,
                    output_tokens=out,
                    latency_ms=latency(rng, out, 0),
                    completion=f"Calling {rng.choice(self.tools)}."
                    if step < 2
                    else "Done: here is what I found.",
                )
                calls.append(call)
                history = (*history, task, call.completion, f"tool result {step}")
                ts += rng.uniform(1.5, 6.0)
        return calls


class CiSuite(_Service):
    scenario = "ci_suite"

    def __init__(self, world: World, name: str, prompts: int) -> None:
        super().__init__(world, name, tier="tier1", country="US")
        rng = world.rng(self.name, "suite")
        self.suite = [
            world.prompts.natural(rng, rng.randrange(len(TOPICS)), typo_p=0) for _ in range(prompts)
        ]
        self.minute = rng.uniform(0, 50)

    def day(self, day: int) -> list[ApiCall]:
        rng, world = self._rng, self.world
        account = self.accounts[0]
        ts = clock.day_start(day) + 2 * clock.HOUR + self.minute * 60 + rng.uniform(0, 240)
        ip = self._ip(rng, 0)  # hosted CI runners: a new address every night
        run = hex_id(rng, 24)  # tagged per run so no response cache answers the suite: benign cache-busting
        calls = []
        for prompt in self.suite:
            prompt = f"{prompt} [run {run}]"
            ts += rng.uniform(0.5, 2.0)
            out = output_tokens(rng, 60, 256, 0.3)
            calls.append(
                ApiCall(
                    ts=ts,
                    account=account,
                    key_id=account.keys[0],
                    ip=ip,
                    user_agent="OpenAI/Python 1.51.0",
                    model=OLD_MODELS[1],
                    prompt=prompt,
                    label=self.label,
                    completion=world.prompts.completion(rng, prompt, cot=False),
                    max_tokens=256,
                    temperature=0.0,
                    seed=7,
                    stream=False,
                    output_tokens=out,
                    latency_ms=latency(rng, out, 0),
                )
            )
        return calls


class Reseller(_Service):
    scenario = "reseller"

    def __init__(self, world: World, name: str, per_day: float, users: int, keys: int) -> None:
        super().__init__(world, name, tier="enterprise", country="US", keys=keys)
        rng = world.rng(self.name, "users")
        self.per_day = per_day
        self.users = [f"eu_{hex_id(rng, 40)}" for _ in range(users)]
        self.mix = topic_cdf(rng, {}, concentration=3.0)  # many users: a broad, flat topic mix
        self.agent = "ResellerRouter/3.1 (+OpenAI/NodeJS/4.67.3)"
        self.injections: list[tuple[float, float, float, AttackCallMaker]] = []

    def inject(self, start: float, end: float, share: float, make_call: AttackCallMaker) -> None:
        """Route ``share`` of this reseller's traffic between ``start`` and ``end`` to an attack campaign."""
        self.injections.append((start, end, share, make_call))
        for account in self.accounts:
            account.label = "mixed"

    def day(self, day: int) -> list[ApiCall]:
        rng, world = self._rng, self.world
        account = self.accounts[0]
        calls: list[ApiCall] = []
        count = poisson(rng, self.per_day)
        for _ in range(count):
            ts = clock.moment(rng, day, rng.choice((-6, 1, 8, 5.5)), "human")
            topic = rng.choices(range(len(TOPICS)), cum_weights=self.mix)[0]
            prompt = world.prompts.natural(rng, topic, reasoning_p=0.08)
            max_tokens = rng.choice((None, 1024, 2048, 4096))
            out = output_tokens(rng, 300, max_tokens)
            calls.append(
                ApiCall(
                    ts=ts,
                    account=account,
                    key_id=rng.choice(account.keys),
                    ip=self._ip(rng),
                    user_agent=self.agent,
                    model=world.flagship(ts, rng, 0.6),
                    prompt=prompt,
                    label=self.label,
                    end_user=rng.choice(self.users),
                    completion=world.prompts.completion(rng, prompt, cot=False),
                    max_tokens=max_tokens,
                    temperature=rng.choice((None, 0.7, 1.0, 0.0)),
                    stream=rng.random() < 0.6,
                    output_tokens=out,
                    latency_ms=latency(rng, out, 0),
                )
            )
        day_start, day_end = clock.day_start(day), clock.day_start(day + 1)
        for start, end, share, make_call in self.injections:
            overlap = max(0.0, min(end, day_end) - max(start, day_start)) / clock.DAY
            attack = poisson(rng, count * share / (1 - share) * overlap)
            for _ in range(attack):
                ts = rng.uniform(max(start, day_start), min(end, day_end))
                calls.append(make_call(rng, ts, account, rng.choice(account.keys), self._ip(rng), self.agent))
        return calls
