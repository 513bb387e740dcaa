"""A realistic, labelled log set for the monitor: benign traffic with its hard cases, and attacks.

``simulate(out, scale="ci"|"full", seed=S)`` writes, deterministically per seed::

    out/logs/gateway/requests-YYYY-MM-DD.jsonl          API gateway JSON lines (main deployment)
    out/logs/otel/genai-spans-YYYY-MM-DD.jsonl          OTLP/JSON GenAI spans (EU deployment)
    out/logs/cloudtrail/management/…_YYYYMMDD.json.gz   CloudTrail Records files (management events)
    out/logs/cloudtrail/data-events/YYYY-MM-DD.jsonl    CloudTrail S3 data events, one per line
    out/logs/k8s/audit-YYYY-MM-DD.log                   Kubernetes audit events
    out/context/accounts.csv, directory.csv, ip_intel.csv, inventory.json, releases.json
                                                        what an operator knows: signups, payment
                                                        fingerprints, HR directory, GeoIP, buckets and
                                                        shard counts, model release times
    out/labels.jsonl                                    ground truth, never inside the logs
    out/manifest.json                                   counts and timings; written last

Labels (one JSON object per line, ``type`` first): ``meta``; ``event`` for every event id in the logs
(``label`` benign/attack, ``scenario``, ``group`` — campaign, incident or benign group — and ``part``
payload/filler for attacks); ``account`` for every API account (benign, attack, or mixed for a
reseller carrying attack traffic); ``campaign`` (kind, accounts, window, parameters — the campaign →
account map); ``principal``; ``incident`` (kind, principal, credential, checkpoint and shard count).

What makes each scenario hard
-----------------------------
Benign (must not alert):

* ``benign_user`` — personas share the attackers' topic taxonomy and phrasing; students and teachers
  ask for step-by-step work and rubric grading, moderators for safe rewrites, developers for tagged
  output and base64, many write in other languages; volumes are heavy-tailed, sessions bursty.
* ``vpn_user`` — hosting-network exits in many countries, shared with other VPN users: looks like
  proxy rotation.
* ``mobile_cgnat`` — hundreds of unrelated people behind a few carrier addresses: IP linking merges them.
* ``corporate_proxy`` — one egress, one user agent, office hours in lockstep: looks coordinated.
* ``classroom_nat`` — one signup wave, one NAT, the same assignment prompts at the same minutes,
  "show your work": template similarity + co-activity + shared infrastructure, all benign.
* ``signup_burst`` — a marketing wave of new accounts within hours, sending the same quick-start
  prompts: signup proximity and shared skeletons.
* ``post_release_spike`` — testers probing many topics and switching to the new model within hours
  of a release (with a general traffic spike): exactly a pivot's signature.
* ``eval_harness`` — systematic taxonomy sweeps, temperature 0, fixed parameters, thousands of
  single-turn requests, "let's think step by step", and a run after every release.
* ``synthetic_data_customer`` — licensed bulk generation: n = 4, 4,096 max_tokens, round the clock,
  self-instruct-like requests across all topics.
* ``rag_app`` / ``agent_product`` — one system prompt, templated prompts or tool schemas, many end
  users behind few server addresses.
* ``ci_suite`` — identical prompts every night, temperature 0 and a seed, from a new runner address.
* ``reseller`` — one account, many keys and end users, a flat global topic mix: high coverage.
* infrastructure: ``travelling_engineer`` (new country, two places within hours), ``training_job``
  and ``eval_pipeline`` (every shard of a checkpoint within minutes), ``backup_replication`` (weekly
  full copies to another bucket), ``release_pipeline`` (copy out and make public), key rotation.

Attacks (must alert):

* ``hydra`` — up to 20,000 accounts × ≤ 50 requests, each under its daily limit, natural prompts
  mixed with reasoning elicitation, residential proxies over many countries; per-account volume and
  per-account distribution tests see nothing unusual.
* ``reseller_mixed`` — attack traffic at 1–50 % inside a legitimate reseller's keys and addresses.
* ``templated_sweep`` — the easy baseline: sequential topic coverage with one skeleton.
* ``self_instruct`` — task expansion prompts that read like a synthetic-data customer's.
* ``cot_elicitation`` — nine reasoning-extraction families, paraphrased and mutated; each has a benign twin.
* ``output_harvest`` — high max_tokens, fixed temperature, n > 1, logprobs, cache-busting nonces.
* ``agentic_harvest`` — tool schemas and multi-step traces, like an agent product's.
* ``multilingual`` — reasoning requests in ten languages, as benign multilingual users write.
* ``slow`` — a few requests a day per account, spread over the whole window.
* ``adaptive`` — aged accounts, benign diurnal rhythm and topic mix, 30–90 % benign filler, and the
  reasoning request phrased exactly as benign users phrase it.
* ``post_release_pivot`` — traffic moves to the new model within hours of a release, when benign
  testers and eval harnesses do the same.
* infrastructure: ``stolen_credential`` (new country and ASN → enumeration → [logging change] → every
  shard within the hour → copies to an outside account; the victim's Kubernetes credential used from
  the same address), ``low_and_slow`` (a few shards a day, random order, office hours, usual place),
  ``insider_departure`` (copies to a personal bucket and presigned downloads before a departure date
  that only the HR directory shows).

Sizes: ``ci`` is 7 days, ~800 API accounts, 11 campaigns, 3 incidents (≈ 50k events, a few seconds);
``full`` is 28 days, ~21,000 benign accounts, 44 campaigns from 1 to 20,000 accounts, reseller
shares 1/5/10/25/50 %, 7 incidents (see :data:`FULL` and the report of ``simulate`` for counts).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import operator
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from modeltrace.errors import ModeltraceError
from modeltrace.monitor.sim import clock
from modeltrace.monitor.sim.actors import ApiActor
from modeltrace.monitor.sim.campaigns import Campaign, CampaignSpec
from modeltrace.monitor.sim.formats import cloudtrail_record, gateway_line, k8s_event, otel_line, otel_noise_span, otel_span
from modeltrace.monitor.sim.infra import ACCOUNT_ID, Infrastructure, InfraSpec
from modeltrace.monitor.sim.people import Classroom, People, PeopleSpec
from modeltrace.monitor.sim.prompts import COT_FAMILIES
from modeltrace.monitor.sim.services import AgentProduct, CiSuite, EvalHarness, RagApp, Reseller, SyntheticDataCustomer
from modeltrace.monitor.sim.world import ApiCall, InfraCall, Label, World

LABELS_SCHEMA = "modeltrace.monitor.labels/1"
EXTRACTION_FAMILIES = tuple(f for f in COT_FAMILIES if f != "detailed_explanation")
_GENERAL = {"developer": 0.3, "student": 0.14, "writer": 0.12, "analyst": 0.1, "casual": 0.16, "teacher": 0.05,
            "moderator": 0.03, "multilingual": 0.1}


class SimulationError(ModeltraceError):
    """The simulator cannot write where it was asked to."""


@dataclass(frozen=True)
class SimConfig:
    """Everything that sizes a simulated log set; :data:`CI` and :data:`FULL` are the two presets."""

    scale: str
    days: int
    release_days: tuple[float, ...]
    people: tuple[PeopleSpec, ...]
    classrooms: tuple[tuple[str, int, str, str], ...]  # name, students, country, university
    eval_harnesses: tuple[tuple[str, int], ...]  # name, items per run
    synthetic_customers: tuple[tuple[str, float], ...]  # name, requests per hour
    rag_apps: tuple[tuple[str, float, int, str], ...]  # name, per day, end users, country
    agent_products: tuple[tuple[str, float, int], ...]  # name, tasks per day, end users
    ci_suites: tuple[tuple[str, int], ...]  # name, prompts
    resellers: tuple[tuple[str, float, int, int], ...]  # name, per day, end users, keys
    campaigns: tuple[CampaignSpec, ...]
    infra: InfraSpec = field(default_factory=InfraSpec)


def _ci() -> SimConfig:
    all_families = EXTRACTION_FAMILIES
    return SimConfig(
        scale="ci", days=7, release_days=(3.0,),
        people=(
            PeopleSpec("benign_user", 420, _GENERAL),
            PeopleSpec("vpn_user", 25, {"casual": 0.5, "developer": 0.5}, network="vpn"),
            PeopleSpec("mobile_cgnat", 40, {"casual": 0.6, "student": 0.4}, network="mobile"),
            PeopleSpec("corporate_proxy", 30, {"developer": 0.6, "analyst": 0.4}, network="corporate",
                       org="org_acme", curve="office", country="US", tiers={"tier2": 1.0}),
            PeopleSpec("signup_burst", 60, {"casual": 1.0}, signup_day=2.3, quickstart=True, activity=0.15,
                       tiers={"free": 1.0}),
            PeopleSpec("post_release_spike", 25, {"developer": 1.0}, release_probe=True, activity=0.25),
        ),
        classrooms=(("stats-101", 35, "US", "Northfield University"),),
        eval_harnesses=(("evalco", 250), ("benchlab", 200)),
        synthetic_customers=(("synthcorp", 12.0),),
        rag_apps=(("helpdesk-cloud", 120, 400, "US"), ("shopwise", 90, 300, "GB")),
        agent_products=(("orderbot", 40, 200),),
        ci_suites=(("acme-ci", 30),),
        resellers=(("relaygpt", 500, 3000, 8), ("tokenmart", 300, 1500, 5)),
        campaigns=(
            CampaignSpec("hydra-1", "hydra", accounts=150, requests=(15, 45), start_day=1.0, days=4.0,
                         content={"natural": 0.6, "cot": 0.3, "multilingual": 0.1}, cot_families=all_families),
            CampaignSpec("reseller-1", "reseller_mixed", accounts=40, start_day=2.0, days=4.0, reseller="relaygpt",
                         share=0.10, content={"natural": 0.7, "cot": 0.3}, params="fixed", cot_families=all_families),
            CampaignSpec("sweep-1", "templated_sweep", accounts=3, requests=(300, 450), start_day=0.5, days=5.0,
                         content={"sweep": 1.0}, topic_plan="sequential", network="cloud", tier="tier1"),
            CampaignSpec("selfinst-1", "self_instruct", accounts=5, requests=(80, 150), start_day=1.5, days=4.0,
                         content={"self_instruct": 0.8, "natural": 0.2}, network="cloud", tier="tier1"),
            CampaignSpec("cot-1", "cot_elicitation", accounts=12, requests=(40, 90), start_day=1.0, days=5.0,
                         content={"cot": 1.0}, cot_families=all_families, paraphrase=0.6, network="vpn", tier="tier1"),
            CampaignSpec("harvest-1", "output_harvest", accounts=4, requests=(100, 200), start_day=0.8, days=5.0,
                         content={"natural": 1.0}, network="cloud", tier="tier1"),
            CampaignSpec("agentic-1", "agentic_harvest", accounts=8, requests=(40, 80), start_day=2.0, days=4.0,
                         content={"agentic": 1.0}, tier="tier1"),
            CampaignSpec("multi-1", "multilingual", accounts=15, requests=(20, 40), start_day=1.2, days=4.0,
                         content={"multilingual": 0.8, "cot": 0.2}, cot_families=("translated_reasoning",)),
            CampaignSpec("slow-1", "slow", accounts=10, requests=(15, 30), start_day=0.2, days=6.7,
                         timing="slow", params="benign", content={"natural": 0.7, "cot": 0.3}),
            CampaignSpec("adaptive-1", "adaptive", accounts=20, requests=(25, 60), start_day=0.5, days=6.0,
                         timing="mimic", filler=0.6, aged=True, params="benign", topic_plan="benign_mix",
                         content={"natural": 0.5, "cot": 0.5}, cot_families=("detailed_explanation",), paraphrase=0.2),
            CampaignSpec("pivot-1", "post_release_pivot", accounts=30, requests=(20, 45), start_day=2.0, days=3.5,
                         pivot=True, content={"natural": 0.5, "cot": 0.5}, cot_families=all_families),
        ),
        infra=InfraSpec(engineers=30, checkpoints=4, shards=(8, 32), jobs_per_week=4, travellers=2, stolen=1, slow=1,
                        insiders=1),
    )


def _full() -> SimConfig:
    fam = EXTRACTION_FAMILIES
    campaigns: list[CampaignSpec] = [
        CampaignSpec("hydra-1acct", "hydra", accounts=1, requests=(2500, 4000), start_day=3.0, days=12.0,
                     content={"natural": 0.7, "cot": 0.3}, cot_families=fam, tier="tier2", network="cloud"),
        CampaignSpec("hydra-10", "hydra", accounts=10, requests=(300, 900), start_day=4.0, days=8.0,
                     content={"natural": 0.6, "cot": 0.4}, cot_families=fam, tier="tier1"),
        CampaignSpec("hydra-1000", "hydra", accounts=1000, requests=(15, 50), start_day=12.0, days=6.0,
                     content={"natural": 0.6, "cot": 0.3, "multilingual": 0.1}, cot_families=fam),
        CampaignSpec("hydra-20000", "hydra", accounts=20000, requests=(5, 30), start_day=15.0, days=10.0,
                     content={"natural": 0.5, "cot": 0.3, "agentic": 0.1, "multilingual": 0.1}, cot_families=fam),
    ]
    variants = (
        ("residential_proxy", "scheduler", "harvest", {"natural": 0.7, "cot": 0.3}),
        ("residential_proxy", "mimic", "benign", {"natural": 0.8, "cot": 0.2}),
        ("cloud", "scheduler", "fixed", {"natural": 0.5, "cot": 0.5}),
        ("vpn", "scheduler", "harvest", {"natural": 0.6, "multilingual": 0.4}),
        ("residential_proxy", "scheduler", "benign", {"natural": 0.9, "cot": 0.1}),
    )
    for k in range(12):  # the target population: ≥ 100 accounts, ≤ 50 requests each
        network, timing, params, content = variants[k % len(variants)]
        campaigns.append(CampaignSpec(
            f"hydra-100-{k + 1}", "hydra", accounts=100 + 50 * (k % 5), requests=(10, 50), start_day=2.0 + 1.9 * k,
            days=4.0, content=content, cot_families=fam, network=network, timing=timing, params=params,
        ))
    for k, (reseller, share) in enumerate((("relaygpt", 0.01), ("tokenmart", 0.05), ("openrouterx", 0.10),
                                            ("apibridge", 0.25), ("cheapllm", 0.50))):
        campaigns.append(CampaignSpec(f"reseller-{int(share * 100)}pct", "reseller_mixed", accounts=200,
                                      start_day=3.0 + 4 * k, days=5.0, reseller=reseller, share=share,
                                      content={"natural": 0.7, "cot": 0.3}, params="fixed", cot_families=fam))
    for k in range(2):
        campaigns += [
            CampaignSpec(f"sweep-{k + 1}", "templated_sweep", accounts=3 + 5 * k, requests=(400, 1200),
                         start_day=2.0 + 10 * k, days=6.0, content={"sweep": 1.0}, topic_plan="sequential",
                         network="cloud", tier="tier1"),
            CampaignSpec(f"selfinst-{k + 1}", "self_instruct", accounts=5 + 20 * k, requests=(80, 300),
                         start_day=5.0 + 9 * k, days=6.0, content={"self_instruct": 0.8, "natural": 0.2},
                         network="cloud", tier="tier1"),
            CampaignSpec(f"harvest-{k + 1}", "output_harvest", accounts=4 + 30 * k, requests=(100, 400),
                         start_day=4.0 + 12 * k, days=5.0, content={"natural": 1.0}, network="cloud", tier="tier1"),
            CampaignSpec(f"agentic-{k + 1}", "agentic_harvest", accounts=8 + 40 * k, requests=(40, 120),
                         start_day=6.0 + 11 * k, days=5.0, content={"agentic": 1.0}, tier="tier1"),
            CampaignSpec(f"multi-{k + 1}", "multilingual", accounts=15 + 100 * k, requests=(20, 50),
                         start_day=7.0 + 10 * k, days=5.0, content={"multilingual": 0.8, "cot": 0.2},
                         cot_families=("translated_reasoning",)),
            CampaignSpec(f"pivot-{k + 1}", "post_release_pivot", accounts=100 + 200 * k, requests=(20, 50),
                         start_day=8.0 + 11 * k, days=5.0, pivot=True, content={"natural": 0.5, "cot": 0.5},
                         cot_families=fam),
        ]
    for k, families in enumerate((fam[:3], fam[3:6], fam[6:])):
        campaigns.append(CampaignSpec(f"cot-{k + 1}", "cot_elicitation", accounts=12 + 40 * k, requests=(40, 120),
                                      start_day=3.0 + 7 * k, days=6.0, content={"cot": 1.0}, cot_families=families,
                                      paraphrase=0.3 + 0.2 * k, network="vpn", tier="tier1"))
    for k in range(3):
        campaigns.append(CampaignSpec(f"slow-{k + 1}", "slow", accounts=10 + 40 * k, requests=(20, 60),
                                      start_day=0.5 + k, days=26.0 - k, timing="slow", params="benign",
                                      content={"natural": 0.7, "cot": 0.3}, cot_families=fam))
    for k, filler in enumerate((0.3, 0.5, 0.7, 0.9)):
        campaigns.append(CampaignSpec(f"adaptive-{k + 1}", "adaptive", accounts=20 + 60 * k, requests=(40, 150),
                                      start_day=2.0 + 5 * k, days=10.0, timing="mimic", filler=filler, aged=True,
                                      params="benign", topic_plan="benign_mix", content={"natural": 0.5, "cot": 0.5},
                                      cot_families=("detailed_explanation",), paraphrase=0.2))
    return SimConfig(
        scale="full", days=28, release_days=(10.0, 21.0),
        people=(
            PeopleSpec("benign_user", 16000, _GENERAL),
            PeopleSpec("vpn_user", 600, {"casual": 0.5, "developer": 0.5}, network="vpn"),
            PeopleSpec("mobile_cgnat", 1200, {"casual": 0.6, "student": 0.4}, network="mobile"),
            PeopleSpec("corporate_proxy", 300, {"developer": 0.6, "analyst": 0.4}, network="corporate",
                       org="org_acme", curve="office", country="US", tiers={"tier2": 1.0}),
            PeopleSpec("signup_burst", 800, {"casual": 1.0}, signup_day=6.3, quickstart=True, activity=0.15,
                       tiers={"free": 1.0}),
            PeopleSpec("post_release_spike", 400, {"developer": 1.0}, release_probe=True, activity=0.25),
        ),
        classrooms=tuple(
            (f"class-{i}", 40, country, university) for i, (country, university) in enumerate(
                (("US", "Northfield University"), ("GB", "Univ. of Westmarch"), ("DE", "TU Ostheim"),
                 ("IN", "Indus Institute of Technology"), ("US", "Northfield University"), ("GB", "Univ. of Westmarch")))
        ),
        eval_harnesses=tuple((f"evalco-{i}", 1500) for i in range(6)),
        synthetic_customers=tuple((f"synthcorp-{i}", 40.0) for i in range(3)),
        rag_apps=tuple((f"helpdesk-{i}", 600, 3000, ("US", "GB", "DE", "IN")[i % 4]) for i in range(8)),
        agent_products=tuple((f"orderbot-{i}", 150, 2000) for i in range(4)),
        ci_suites=tuple((f"ci-{i}", 30) for i in range(5)),
        resellers=tuple((name, 2000, 20000, 12) for name in ("relaygpt", "tokenmart", "openrouterx", "apibridge", "cheapllm")),
        campaigns=tuple(campaigns),
        infra=InfraSpec(engineers=300, checkpoints=12, shards=(20, 100), jobs_per_week=20, travellers=8, stolen=3,
                        slow=2, insiders=2),
    )


CI = _ci()
FULL = _full()
SCALES = {"ci": CI, "full": FULL}


@dataclass
class SimulationSummary:
    out: Path
    scale: str
    seed: int
    days: int
    events: Counter[str]
    attack_events: int
    accounts: int
    campaigns: int
    incidents: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out), "scale": self.scale, "seed": self.seed, "days": self.days,
            "events": dict(sorted(self.events.items())), "events_total": sum(self.events.values()),
            "attack_events": self.attack_events, "accounts": self.accounts, "campaigns": self.campaigns,
            "incidents": self.incidents, "seconds": round(self.seconds, 2),
        }


def _event_label(event_id: str, label: Label, who: str, who_key: str) -> str:
    record: dict[str, Any] = {"type": "event", "event_id": event_id, "label": "attack" if label.attack else "benign",
                              "scenario": label.scenario}
    if label.group is not None:
        record["group"] = label.group
    if label.part is not None:
        record["part"] = label.part
    record[who_key] = who
    return json.dumps(record, separators=(",", ":"))


def _actors(world: World, config: SimConfig) -> list[ApiActor]:
    actors: list[ApiActor] = [People(world, spec) for spec in config.people]
    actors += [Classroom(world, *c) for c in config.classrooms]
    actors += [EvalHarness(world, *c) for c in config.eval_harnesses]
    actors += [SyntheticDataCustomer(world, *c) for c in config.synthetic_customers]
    actors += [RagApp(world, *c) for c in config.rag_apps]
    actors += [AgentProduct(world, *c) for c in config.agent_products]
    actors += [CiSuite(world, *c) for c in config.ci_suites]
    resellers = {name: Reseller(world, name, per_day, users, keys) for name, per_day, users, keys in config.resellers}
    actors += list(resellers.values())
    actors += [Campaign(world, spec, resellers) for spec in config.campaigns]
    return actors


class _Outputs:
    """Open files of one day, created on first use, closed at the end of the day."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[str, IO[str]] = {}
        self._raw: list[IO[bytes]] = []

    def get(self, relative: str, compressed: bool = False) -> IO[str]:
        handle = self._open.get(relative)
        if handle is None:
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if compressed:  # no name and a zero mtime in the gzip header: same seed, same bytes
                raw = path.open("wb")
                self._raw.append(raw)
                handle = io.TextIOWrapper(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0), encoding="utf-8")
            else:
                handle = path.open("w", encoding="utf-8")
            self._open[relative] = handle
        return handle

    def close(self) -> None:
        for handle in self._open.values():
            handle.close()
        for raw in self._raw:
            raw.close()
        self._open.clear()
        self._raw.clear()


def simulate(
    out: str | Path,
    scale: str = "ci",
    seed: int = 0,
    *,
    config: SimConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationSummary:
    """Write a labelled log set for ``scale`` (``ci`` or ``full``, or a custom ``config``) into ``out``.

    ``out`` must not exist or be empty. ``manifest.json`` is written last: a folder without it is
    an interrupted run, not a log set. ``progress(day, days)`` is called after each simulated day.
    """
    if config is None:
        if scale not in SCALES:
            raise SimulationError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        config = SCALES[scale]
    root = Path(out)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise SimulationError(f"{root}: exists and is not an empty folder; refusing to mix log sets")
    began = time.perf_counter()
    world = World(seed, config.days, config.release_days)
    actors = _actors(world, config)
    infra = Infrastructure(world, config.infra)
    ids = world.rng("event-ids")
    root.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    attack_events = 0
    with (root / "labels.jsonl").open("w", encoding="utf-8") as labels:
        meta = {"type": "meta", "schema": LABELS_SCHEMA, "scale": config.scale, "seed": seed, "days": config.days,
                "start": world.start, "end": world.end, "releases": [{"time": t, "model": m} for t, m in world.releases]}
        labels.write(json.dumps(meta) + "\n")
        pending_api: list[ApiCall] = []
        pending_infra: list[InfraCall] = []
        outputs = _Outputs(root / "logs")
        for day in range(config.days):
            last = day == config.days - 1
            cutoff = clock.day_start(day + 1)
            api = pending_api + [call for actor in actors for call in actor.day(day)]
            api.sort(key=operator.attrgetter("ts"))
            split = len(api) if last else _first_at_or_after(api, cutoff)
            pending_api = api[split:]
            infra_calls = pending_infra + infra.day(day)
            infra_calls.sort(key=operator.attrgetter("ts"))
            infra_split = len(infra_calls) if last else _first_at_or_after(infra_calls, cutoff)
            pending_infra = infra_calls[infra_split:]
            attack_events += _write_api_day(api[:split], day, ids, outputs, labels, counts)
            attack_events += _write_infra_day(infra_calls[:infra_split], day, ids, outputs, labels, counts)
            outputs.close()
            if progress is not None:
                progress(day + 1, config.days)
        accounts = [account for actor in actors for account in actor.accounts]
        for account in accounts:
            labels.write(json.dumps({"type": "account", "account_id": account.account_id, "label": account.label,
                                     "scenario": account.scenario, "campaign_id": account.campaign}) + "\n")
        campaign_records = [record for actor in actors for record in actor.label_records()]
        for record in [*campaign_records, *infra.label_records()]:
            labels.write(json.dumps(record) + "\n")
    _write_context(root / "context", world, accounts, infra)
    summary = SimulationSummary(
        out=root, scale=config.scale, seed=seed, days=config.days, events=counts, attack_events=attack_events,
        accounts=len(accounts), campaigns=len(campaign_records), incidents=len(infra.incidents),
        seconds=time.perf_counter() - began,
    )
    (root / "manifest.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    return summary


def _first_at_or_after(calls: list[Any], cutoff: float) -> int:
    low, high = 0, len(calls)
    while low < high:
        mid = (low + high) // 2
        if calls[mid].ts < cutoff:
            low = mid + 1
        else:
            high = mid
    return low


def _write_api_day(calls: list[ApiCall], day: int, ids: Any, outputs: _Outputs, labels: IO[str], counts: Counter[str]) -> int:
    date = clock.date_text(day)
    attacks = 0
    batch: list[dict[str, Any]] = []
    gateway = otel = None
    for call in calls:
        if call.account.channel == "otel":
            event_id, span = otel_span(call, ids)
            batch.append(span)
            if ids.random() < 0.02:
                batch.append(otel_noise_span(ids, call.ts))
            if len(batch) >= 48 or ids.random() < 0.05:
                otel = otel or outputs.get(f"otel/genai-spans-{date}.jsonl")
                otel.write(otel_line(batch) + "\n")
                batch = []
            counts["otel"] += 1
        else:
            event_id, line = gateway_line(call, ids)
            gateway = gateway or outputs.get(f"gateway/requests-{date}.jsonl")
            gateway.write(line + "\n")
            counts["gateway"] += 1
        labels.write(_event_label(event_id, call.label, call.account.account_id, "account_id") + "\n")
        attacks += call.label.attack
    if batch:
        otel = otel or outputs.get(f"otel/genai-spans-{date}.jsonl")
        otel.write(otel_line(batch) + "\n")
    return attacks


def _write_infra_day(calls: list[InfraCall], day: int, ids: Any, outputs: _Outputs, labels: IO[str], counts: Counter[str]) -> int:
    date = clock.date_text(day)
    management: list[dict[str, Any]] = []
    attacks = 0
    for call in calls:
        if call.service == "k8s":
            event_id, event = k8s_event(call, ids)
            outputs.get(f"k8s/audit-{date}.log").write(json.dumps(event, separators=(",", ":")) + "\n")
            counts["k8s_audit"] += 1
        else:
            event_id, record, data = cloudtrail_record(call, ids)
            if data:
                outputs.get(f"cloudtrail/data-events/{date}.jsonl").write(json.dumps(record, separators=(",", ":")) + "\n")
            else:
                management.append(record)
            counts["cloudtrail"] += 1
        labels.write(_event_label(event_id, call.label, call.principal.name, "principal") + "\n")
        attacks += call.label.attack
    if management:
        name = f"cloudtrail/management/{ACCOUNT_ID}_CloudTrail_us-east-1_{date.replace('-', '')}.json.gz"
        json.dump({"Records": management}, outputs.get(name, compressed=True), separators=(",", ":"))
    return attacks


def _write_context(folder: Path, world: World, accounts: Iterable[Any], infra: Infrastructure) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "accounts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("account_id", "org_id", "tier", "daily_request_limit", "signup_time", "email_domain",
                         "payment_fingerprint", "billing_country"))
        for a in accounts:
            writer.writerow((a.account_id, a.org_id or "", a.tier, a.daily_limit or "", clock.iso(a.signup_ts, millis=False),
                             a.email_domain, a.payment or "", a.country))
    directory = infra.directory()
    with (folder / "directory.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(directory[0]))
        writer.writeheader()
        writer.writerows(directory)
    world.network.write_ip_table(folder / "ip_intel.csv")
    (folder / "inventory.json").write_text(json.dumps(infra.inventory(), indent=2) + "\n", encoding="utf-8")
    releases = [{"model": model, "time": clock.iso(when, millis=False)} for when, model in world.releases]
    (folder / "releases.json").write_text(json.dumps(releases, indent=2) + "\n", encoding="utf-8")
