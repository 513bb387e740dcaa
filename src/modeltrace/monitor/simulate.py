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

Sizes (seed 1, measured on a 2-core VM): ``ci`` is 7 days, ~900 API accounts, 11 campaigns, 3
incidents, ~36k events (45 MB of logs) in ~3 s; ``full`` is 28 days, ~21,000 benign and ~23,000
attack accounts, 43 campaigns from 1 to 20,000 accounts, reseller shares 1/5/10/25/50 %, 7 incidents,
~2.7M events (3.3 GB of logs, 0.4 GB of labels) in ~7 min with ~330 MB of memory
(see :mod:`.sim.scales`).
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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from modeltrace.errors import ModeltraceError
from modeltrace.monitor.sim import clock
from modeltrace.monitor.sim.actors import ApiActor
from modeltrace.monitor.sim.campaigns import Campaign
from modeltrace.monitor.sim.estate import ACCOUNT_ID
from modeltrace.monitor.sim.formats import (
    cloudtrail_record,
    gateway_line,
    k8s_event,
    otel_line,
    otel_noise_span,
    otel_span,
)
from modeltrace.monitor.sim.infra import Infrastructure
from modeltrace.monitor.sim.people import Classroom, People
from modeltrace.monitor.sim.scales import CI, FULL, SCALES, SimConfig
from modeltrace.monitor.sim.services import (
    AgentProduct,
    CiSuite,
    EvalHarness,
    RagApp,
    Reseller,
    SyntheticDataCustomer,
)
from modeltrace.monitor.sim.world import ApiCall, InfraCall, Label, World

LABELS_SCHEMA = "modeltrace.monitor.labels/1"
__all__ = ["CI", "FULL", "SCALES", "SimConfig", "SimulationError", "SimulationSummary", "simulate"]


class SimulationError(ModeltraceError):
    """The simulator cannot write where it was asked to."""


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
            "out": str(self.out),
            "scale": self.scale,
            "seed": self.seed,
            "days": self.days,
            "events": dict(sorted(self.events.items())),
            "events_total": sum(self.events.values()),
            "attack_events": self.attack_events,
            "accounts": self.accounts,
            "campaigns": self.campaigns,
            "incidents": self.incidents,
            "seconds": round(self.seconds, 2),
        }


def _event_label(event_id: str, label: Label, who: str, who_key: str) -> str:
    record: dict[str, Any] = {
        "type": "event",
        "event_id": event_id,
        "label": "attack" if label.attack else "benign",
        "scenario": label.scenario,
    }
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
    resellers = {
        name: Reseller(world, name, per_day, users, keys) for name, per_day, users, keys in config.resellers
    }
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
                handle = io.TextIOWrapper(
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0), encoding="utf-8"
                )
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
        meta = {
            "type": "meta",
            "schema": LABELS_SCHEMA,
            "scale": config.scale,
            "seed": seed,
            "days": config.days,
            "start": world.start,
            "end": world.end,
            "releases": [{"time": t, "model": m} for t, m in world.releases],
        }
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
            labels.write(
                json.dumps(
                    {
                        "type": "account",
                        "account_id": account.account_id,
                        "label": account.label,
                        "scenario": account.scenario,
                        "campaign_id": account.campaign,
                    }
                )
                + "\n"
            )
        campaign_records = [record for actor in actors for record in actor.label_records()]
        for record in [*campaign_records, *infra.label_records()]:
            labels.write(json.dumps(record) + "\n")
    _write_context(root / "context", world, accounts, infra)
    summary = SimulationSummary(
        out=root,
        scale=config.scale,
        seed=seed,
        days=config.days,
        events=counts,
        attack_events=attack_events,
        accounts=len(accounts),
        campaigns=len(campaign_records),
        incidents=len(infra.incidents),
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


def _write_api_day(
    calls: list[ApiCall], day: int, ids: Any, outputs: _Outputs, labels: IO[str], counts: Counter[str]
) -> int:
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


def _write_infra_day(
    calls: list[InfraCall], day: int, ids: Any, outputs: _Outputs, labels: IO[str], counts: Counter[str]
) -> int:
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
                outputs.get(f"cloudtrail/data-events/{date}.jsonl").write(
                    json.dumps(record, separators=(",", ":")) + "\n"
                )
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
        writer.writerow(
            (
                "account_id",
                "org_id",
                "tier",
                "daily_request_limit",
                "signup_time",
                "email_domain",
                "payment_fingerprint",
                "billing_country",
            )
        )
        for a in accounts:
            writer.writerow(
                (
                    a.account_id,
                    a.org_id or "",
                    a.tier,
                    a.daily_limit or "",
                    clock.iso(a.signup_ts, millis=False),
                    a.email_domain,
                    a.payment or "",
                    a.country,
                )
            )
    directory = infra.directory()
    with (folder / "directory.csv").open("w", newline="", encoding="utf-8") as handle:
        rows = csv.DictWriter(handle, fieldnames=list(directory[0]))
        rows.writeheader()
        rows.writerows(directory)
    world.network.write_ip_table(folder / "ip_intel.csv")
    (folder / "inventory.json").write_text(json.dumps(infra.inventory(), indent=2) + "\n", encoding="utf-8")
    releases = [{"model": model, "time": clock.iso(when, millis=False)} for when, model in world.releases]
    (folder / "releases.json").write_text(json.dumps(releases, indent=2) + "\n", encoding="utf-8")
