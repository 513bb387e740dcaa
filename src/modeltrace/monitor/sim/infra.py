"""Infrastructure around the weights: people, jobs and thieves acting on object storage and Kubernetes.

Benign activity, including what looks like theft:

* engineers signing in with MFA, listing prefixes, reading configs and now and then a shard or two,
  working in Kubernetes (``exec``, ``port-forward``), rotating their access keys;
* **travelling engineers** signing in from another country (and, on a VPN back to the office, from
  two places within hours), still reading shards;
* **training jobs** and **evaluation pipelines** that read *every* shard of a checkpoint within
  minutes, **backups** that copy checkpoints to another bucket every night, and a **release
  pipeline** that copies a checkpoint out and makes it public on release day.

Incidents (labelled, with the principal, the credential, the checkpoint and its shard count):

* ``stolen_credential`` — an engineer's access key used from a hosting network in a new country:
  identity check → enumeration → (sometimes) logging turned off → every shard of a checkpoint within
  the hour → copies to an outside account; the same person's Kubernetes credential lists secrets and
  execs into a pod from the same address.
* ``low_and_slow`` — a contractor's credential reads a few shards a day, in random order, in office
  hours, from its usual country, interleaved with ordinary reads, until most of a checkpoint is gone.
* ``insider_departure`` — an engineer whose departure is in the directory copies shards to a bucket in
  a personal AWS account and pulls others through presigned URLs from home, in the weeks before leaving.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from modeltrace.monitor.sim import clock
from modeltrace.monitor.sim.network import COUNTRIES
from modeltrace.monitor.sim.world import ATTACK, BENIGN, BROWSER_AGENTS, InfraCall, Label, Principal, World, hex_id

ACCOUNT_ID = "210987654321"
OUTSIDE_ACCOUNT = "444455556666"
CHECKPOINTS_BUCKET = "mt-ml-checkpoints"
DATASETS_BUCKET = "mt-ml-datasets"
EVAL_BUCKET = "mt-eval-results"
BACKUP_BUCKET = "mt-ml-backups"
RELEASE_BUCKET = "mt-release-artifacts"
CLI_AGENT = "aws-cli/2.17.20 md/Botocore#1.34.145 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.11.9"
BOTO_AGENT = "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.10.12"
KUBECTL_AGENT = "kubectl/v1.30.4 (linux/amd64) kubernetes/a51b3b7"
_FIRST = ("alex", "sam", "maria", "wei", "priya", "jonas", "fatima", "kenji", "olga", "diego", "amara", "lena",
          "tomas", "yuki", "omar", "ines", "raj", "chloe", "ivan", "nora", "ben", "mei", "lucas", "sara")
_LAST = ("ng", "smith", "garcia", "chen", "patel", "muller", "haddad", "sato", "ivanova", "lopez", "okafor",
         "berg", "novak", "tanaka", "farah", "costa", "rao", "martin", "petrov", "kim", "weber", "silva")
_ROLES = {"ml-engineer": 0.45, "researcher": 0.25, "data-engineer": 0.12, "sre": 0.12, "manager": 0.06}
_SERVICE_ROLES = ("TrainingJobRole", "EvalPipelineRole", "BackupRole", "ReleasePipelineRole")


@dataclass(frozen=True)
class Checkpoint:
    model: str
    version: str
    shards: int
    shard_bytes: int

    @property
    def prefix(self) -> str:
        return f"models/{self.model}/{self.version}/"

    def shard(self, i: int) -> str:
        return f"{self.prefix}model-{i + 1:05d}-of-{self.shards:05d}.safetensors"

    def small_files(self) -> tuple[str, ...]:
        return tuple(self.prefix + n for n in ("config.json", "tokenizer.json", "model.safetensors.index.json"))


@dataclass(frozen=True)
class InfraSpec:
    engineers: int = 30
    checkpoints: int = 4
    shards: tuple[int, int] = (8, 32)
    jobs_per_week: float = 4.0
    travellers: int = 1
    stolen: int = 1
    slow: int = 1
    insiders: int = 1


class Infrastructure:
    """All infrastructure actors of one simulation (see the module docstring)."""

    def __init__(self, world: World, spec: InfraSpec) -> None:
        self.world, self.spec, self.name = world, spec, "infra"
        rng = world.rng("infra", "setup")
        self._rng = world.rng("infra", "days")
        net = world.network
        self._office = net.named("Modeltrace Labs")
        self.checkpoints = [
            Checkpoint(rng.choice(("mt-large", "mt-reason", "mt-small", "mt-code")), f"v{2025 + i // 6}.{i % 12 + 1:02d}",
                       rng.randint(*spec.shards), rng.randint(4_600_000_000, 4_990_000_000))
            for i in range(spec.checkpoints)
        ]
        self.people: list[Principal] = []
        used: set[str] = set()
        for _ in range(spec.engineers):
            name = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}"
            while name in used:
                name = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randint(2, 99)}"
            used.add(name)
            country = rng.choices(("US", "GB", "DE", "IN", "CA"), (0.7, 0.1, 0.08, 0.07, 0.05))[0]
            self.people.append(self._person(rng, name, rng.choices(list(_ROLES), list(_ROLES.values()))[0], country))
        self.services = {role: self._service(rng, role) for role in _SERVICE_ROLES}
        self.contractors = [self._person(rng, f"contractor.{rng.choice(_LAST)}{i}", "contractor", "US")
                            for i in range(spec.slow)]
        self.incidents: list[dict[str, Any]] = []
        self._plan(rng)

    # -- setup -----------------------------------------------------------------------------------------

    def _person(self, rng: random.Random, name: str, role: str, country: str) -> Principal:
        net = self.world.network
        return Principal(
            name=name, kind="iam_user", role=role, country=country,
            home_ip=net.address(net.system("residential", country, rng), rng),
            office_ip=net.address(self._office, rng, pool=4),
            access_key="AKIA" + hex_id(rng, 64).upper(), k8s_user=f"{name}@corp.example",
        )

    def _service(self, rng: random.Random, role: str) -> Principal:
        return Principal(
            name=role, kind="role", role="service", country="US", home_ip="", office_ip=f"10.20.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            access_key="", k8s_user="system:serviceaccount:training:trainer", scenario=_service_scenario(role),
        )

    def _plan(self, rng: random.Random) -> None:
        spec, days = self.spec, self.world.days
        pool = [p for p in self.people if p.role in ("ml-engineer", "researcher")] or self.people
        rng.shuffle(pool)
        self.travel: dict[str, tuple[int, int, str]] = {}
        for person in pool[: spec.travellers]:
            first = rng.randrange(max(1, days - 4))
            person.scenario = "travelling_engineer"
            abroad = rng.choice([c for c in ("JP", "SG", "BR", "FR", "AU", "KR") if c != person.country])
            self.travel[person.name] = (first, min(days - 1, first + rng.randint(3, 6)), abroad)
        self.stolen_plans: list[tuple[Principal, float, str, Checkpoint, bool]] = []
        victims = [p for p in pool[spec.travellers :]][: spec.stolen]
        for i, victim in enumerate(victims):
            when = self.world.start + rng.uniform(max(1.0, days * 0.45), days - 0.6) * clock.DAY
            country = rng.choice([c for c in ("NL", "SG", "RU", "VN", "BR", "TR") if c != victim.country])
            checkpoint = rng.choice(self.checkpoints)
            tamper = i % 2 == 0
            self.stolen_plans.append((victim, when, country, checkpoint, tamper))
            self.incidents.append({
                "type": "incident", "incident_id": f"inc-stolen-{i + 1}", "kind": "stolen_credential",
                "principals": [victim.name], "credential": victim.access_key, "start": when,
                "checkpoint": f"s3://{CHECKPOINTS_BUCKET}/{checkpoint.prefix}", "shards_total": checkpoint.shards,
                "logging_tampered": tamper, "attacker_country": country,
            })
        self.slow_plans: list[tuple[Principal, Checkpoint, list[int], float]] = []
        for i, thief in enumerate(self.contractors):
            checkpoint = max(self.checkpoints, key=lambda c: c.shards)
            order = list(range(checkpoint.shards))
            rng.shuffle(order)
            start = self.world.start + rng.uniform(0.5, 2.0) * clock.DAY
            thief.scenario = "low_and_slow"
            self.slow_plans.append((thief, checkpoint, order, start))
            self.incidents.append({
                "type": "incident", "incident_id": f"inc-slow-{i + 1}", "kind": "low_and_slow",
                "principals": [thief.name], "credential": thief.access_key, "start": start,
                "checkpoint": f"s3://{CHECKPOINTS_BUCKET}/{checkpoint.prefix}", "shards_total": checkpoint.shards,
            })
        self.insider_plans: list[tuple[Principal, float, str]] = []
        insiders = [p for p in pool[spec.travellers + spec.stolen :]][: spec.insiders]
        for i, insider in enumerate(insiders):
            insider.departure_day = days + rng.randint(1, 5)
            start = self.world.start + days * rng.uniform(0.55, 0.7) * clock.DAY
            bucket = f"{insider.name.split('.')[0]}-personal-archive-{hex_id(rng, 16)}"
            insider.scenario = "insider_departure"
            self.insider_plans.append((insider, start, bucket))
            self.incidents.append({
                "type": "incident", "incident_id": f"inc-insider-{i + 1}", "kind": "insider_departure",
                "principals": [insider.name], "credential": insider.access_key, "start": start,
                "destination": f"s3://{bucket}/", "departure_day": insider.departure_day,
            })

    # -- what the operator knows (context files) ------------------------------------------------------

    def directory(self) -> list[dict[str, Any]]:
        """HR/IdP directory rows: who works here, in which role, and who is leaving when."""
        rows = []
        for person in [*self.people, *self.contractors]:
            departure = (
                clock.date_text(person.departure_day) if person.departure_day is not None else ""
            )
            rows.append({
                "principal": person.name, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/{person.name}",
                "k8s_user": person.k8s_user, "role": person.role, "country": person.country,
                "departure_date": departure,
            })
        return rows

    def inventory(self) -> dict[str, Any]:
        return {
            "cloud_account": ACCOUNT_ID,
            "buckets": [CHECKPOINTS_BUCKET, DATASETS_BUCKET, EVAL_BUCKET, BACKUP_BUCKET, RELEASE_BUCKET],
            "checkpoints": [
                {"uri": f"s3://{CHECKPOINTS_BUCKET}/{c.prefix}", "shards": c.shards, "shard_bytes": c.shard_bytes}
                for c in self.checkpoints
            ],
        }

    def label_records(self) -> list[dict[str, Any]]:
        records = list(self.incidents)
        for person in [*self.people, *self.contractors]:
            attack = person.scenario in ("low_and_slow", "insider_departure")
            victim = any(person is plan[0] for plan in self.stolen_plans)
            records.append({
                "type": "principal", "principal": person.name, "scenario": person.scenario,
                "label": ATTACK if attack else "compromised" if victim else BENIGN,
            })
        records.extend(
            {"type": "principal", "principal": s.name, "scenario": s.scenario, "label": BENIGN}
            for s in self.services.values()
        )
        return records

    # -- per day ---------------------------------------------------------------------------------------

    def day(self, day: int) -> list[InfraCall]:
        rng = self._rng
        calls: list[InfraCall] = []
        for person in self.people:
            self._engineer(rng, person, day, calls)
        self._jobs(rng, day, calls)
        for victim, when, country, checkpoint, tamper in self.stolen_plans:
            if clock.day_start(day) <= when < clock.day_start(day + 1):
                self._stolen(rng, victim, when, country, checkpoint, tamper, calls)
        for thief, checkpoint, order, start in self.slow_plans:
            self._slow(rng, thief, checkpoint, order, start, day, calls)
        for insider, start, bucket in self.insider_plans:
            self._insider(rng, insider, start, bucket, day, calls)
        return calls

    def _s3(self, ts: float, who: Principal, action: str, ip: str, agent: str, label: Label, **kw: Any) -> InfraCall:
        # the key in use now, not whatever the principal holds when the day is written out
        kw.setdefault("access_key", who.access_key or None)
        return InfraCall(ts=ts, principal=who, service="s3", action=action, ip=ip, user_agent=agent, label=label, **kw)

    def _k8s(self, ts: float, who: Principal, verb: str, resource: str, ip: str, label: Label, code: int = 200) -> InfraCall:
        return InfraCall(ts=ts, principal=who, service="k8s", action=verb, ip=ip, user_agent=KUBECTL_AGENT,
                         label=label, k8s_resource=resource, k8s_code=code)

    def _engineer(self, rng: random.Random, person: Principal, day: int, calls: list[InfraCall]) -> None:
        weekend = clock.weekday(day) >= 5
        if rng.random() > (0.12 if weekend else 0.85):
            return
        label = Label(False, person.scenario if person.scenario == "travelling_engineer" else "engineer")
        if person.scenario in ("insider_departure",):
            label = Label(False, "engineer")
        tz = COUNTRIES[person.country]
        travel = self.travel.get(person.name)
        abroad = travel is not None and travel[0] <= day <= travel[1]
        if abroad and travel is not None:
            tz = COUNTRIES[travel[2]]
            net = self.world.network
            ip = net.address(net.system("residential", travel[2], rng), rng, pool=16)
        else:
            ip = person.office_ip if rng.random() < 0.7 else person.home_ip
        ts = clock.moment(rng, day, tz, "office")
        if rng.random() < 0.02:
            calls.append(InfraCall(ts=ts - 40, principal=person, service="signin", action="ConsoleLogin", ip=ip,
                                   user_agent=rng.choice(BROWSER_AGENTS), label=label, error="Failed authentication",
                                   mfa=False))
        calls.append(InfraCall(ts=ts, principal=person, service="signin", action="ConsoleLogin", ip=ip,
                               user_agent=rng.choice(BROWSER_AGENTS), label=label, mfa=True))
        if abroad and rng.random() < 0.5:  # VPN back to the office a few hours later: two places at once
            calls.append(InfraCall(ts=ts + rng.uniform(1, 4) * clock.HOUR, principal=person, service="signin",
                                   action="ConsoleLogin", ip=person.office_ip, user_agent=rng.choice(BROWSER_AGENTS),
                                   label=label, mfa=True))
        if rng.random() < 0.03:  # key rotation: a new credential, used from the usual place
            new_key = "AKIA" + hex_id(rng, 64).upper()
            calls.append(InfraCall(ts=ts + 300, principal=person, service="iam", action="CreateAccessKey", ip=ip,
                                   user_agent=CLI_AGENT, label=label, access_key=person.access_key,
                                   extra={"new_key": new_key}))
            person.access_key = new_key
        checkpoint = rng.choice(self.checkpoints)
        t = ts + rng.uniform(300, 3600)
        for _ in range(rng.randint(1, 3)):
            calls.append(self._s3(t, person, "ListObjects", ip, CLI_AGENT, label, bucket=CHECKPOINTS_BUCKET,
                                  key=checkpoint.prefix))
            t += rng.uniform(20, 600)
        for _ in range(rng.randint(1, 5)):
            bucket, key = rng.choice((
                (CHECKPOINTS_BUCKET, rng.choice(checkpoint.small_files())),
                (EVAL_BUCKET, f"runs/{checkpoint.model}/{checkpoint.version}/results-{rng.randrange(100)}.json"),
                (DATASETS_BUCKET, f"manifests/shard-{rng.randrange(400):04d}.json"),
            ))
            calls.append(self._s3(t, person, "GetObject", ip, CLI_AGENT, label, bucket=bucket, key=key,
                                  bytes_out=rng.randint(2_000, 80_000)))
            t += rng.uniform(10, 900)
        if rng.random() < 0.12:  # debugging a checkpoint: a shard or two
            for i in rng.sample(range(checkpoint.shards), min(checkpoint.shards, rng.randint(1, 2))):
                calls.append(self._s3(t, person, "GetObject", ip, CLI_AGENT, label, bucket=CHECKPOINTS_BUCKET,
                                      key=checkpoint.shard(i), bytes_out=checkpoint.shard_bytes))
                t += rng.uniform(60, 300)
        if person.role == "data-engineer" and rng.random() < 0.5:
            calls.append(self._s3(t, person, "PutObject", ip, CLI_AGENT, label, bucket=DATASETS_BUCKET,
                                  key=f"raw/{hex_id(rng, 32)}.parquet"))
        if person.role in ("ml-engineer", "sre", "researcher") and rng.random() < 0.6:
            t = ts + rng.uniform(600, 5 * 3600)
            calls.append(self._k8s(t, person, "list", "training/pods", ip, label))
            calls.append(self._k8s(t + 5, person, "get", f"training/pods/trainer-{rng.randrange(8)}/log", ip, label))
            if rng.random() < 0.25:
                calls.append(self._k8s(t + 40, person, "create", f"training/pods/trainer-{rng.randrange(8)}/exec", ip,
                                       label, 101))
            if rng.random() < 0.1:
                calls.append(self._k8s(t + 90, person, "create", "monitoring/pods/tensorboard-0/portforward", ip,
                                       label, 101))

    def _bulk_read(self, rng: random.Random, who: Principal, start: float, checkpoint: Checkpoint, label: Label,
                   session: str, calls: list[InfraCall], agent: str = BOTO_AGENT) -> float:
        ip = who.office_ip
        t = start
        calls.append(self._s3(t, who, "ListObjects", ip, agent, label, bucket=CHECKPOINTS_BUCKET, key=checkpoint.prefix,
                              session_name=session))
        for key in checkpoint.small_files():
            t += rng.uniform(0.2, 1.0)
            calls.append(self._s3(t, who, "GetObject", ip, agent, label, bucket=CHECKPOINTS_BUCKET, key=key,
                                  bytes_out=rng.randint(2_000, 200_000), session_name=session))
        for i in range(checkpoint.shards):
            t += rng.uniform(1.0, 12.0)
            calls.append(self._s3(t, who, "GetObject", ip, agent, label, bucket=CHECKPOINTS_BUCKET, key=checkpoint.shard(i),
                                  bytes_out=checkpoint.shard_bytes, session_name=session))
        return t

    def _jobs(self, rng: random.Random, day: int, calls: list[InfraCall]) -> None:
        world = self.world
        trainer = self.services["TrainingJobRole"]
        for _ in range(_poisson_small(rng, self.spec.jobs_per_week / 7)):
            session = f"train-{hex_id(rng, 32)}"
            start = clock.day_start(day) + rng.uniform(0, clock.DAY)
            label = Label(False, "training_job")
            checkpoint = rng.choice(self.checkpoints)
            calls.append(self._k8s(start - 30, trainer, "get", "training/secrets/hf-token", trainer.office_ip, label))
            end = self._bulk_read(rng, trainer, start, checkpoint, label, session, calls)
            for i in range(rng.randint(2, 6)):  # writes new checkpoints as it trains
                calls.append(self._s3(end + (i + 1) * rng.uniform(1800, 7200), trainer, "PutObject", trainer.office_ip,
                                      BOTO_AGENT, label, bucket=CHECKPOINTS_BUCKET,
                                      key=f"runs/{session}/step-{(i + 1) * 1000}/model.safetensors", session_name=session))
        evaluator = self.services["EvalPipelineRole"]
        releases = [when for when, _ in world.releases if clock.day_start(day) <= when < clock.day_start(day + 1)]
        if clock.weekday(day) == 2 or releases:
            start = releases[0] - 2 * clock.HOUR if releases else clock.day_start(day) + rng.uniform(2, 6) * clock.HOUR
            label = Label(False, "eval_pipeline")
            session = f"eval-{hex_id(rng, 32)}"
            end = self._bulk_read(rng, evaluator, start, rng.choice(self.checkpoints), label, session, calls)
            calls.append(self._s3(end + 900, evaluator, "PutObject", evaluator.office_ip, BOTO_AGENT, label,
                                  bucket=EVAL_BUCKET, key=f"runs/{session}/summary.json", session_name=session))
        backup = self.services["BackupRole"]
        label = Label(False, "backup_replication")
        t = clock.day_start(day) + 1 * clock.HOUR + rng.uniform(0, 600)
        session = f"backup-{hex_id(rng, 32)}"
        copies = [rng.choice(self.checkpoints)] if clock.weekday(day) == 6 else []
        for checkpoint in copies:  # weekly full copy of one checkpoint to the backup bucket
            for i in range(checkpoint.shards):
                t += rng.uniform(2, 20)
                calls.append(self._s3(t, backup, "CopyObject", backup.office_ip, BOTO_AGENT, label, bucket=BACKUP_BUCKET,
                                      key=checkpoint.shard(i), copy_source=f"{CHECKPOINTS_BUCKET}/{checkpoint.shard(i)}",
                                      session_name=session, region="us-west-2"))
        for _ in range(rng.randint(2, 10)):  # nightly incremental copies
            t += rng.uniform(2, 20)
            key = f"runs/{hex_id(rng, 32)}/model.safetensors"
            calls.append(self._s3(t, backup, "CopyObject", backup.office_ip, BOTO_AGENT, label, bucket=BACKUP_BUCKET,
                                  key=key, copy_source=f"{CHECKPOINTS_BUCKET}/{key}", session_name=session,
                                  region="us-west-2"))
        releaser = self.services["ReleasePipelineRole"]
        for when in releases:
            label = Label(False, "release_pipeline")
            session = f"release-{hex_id(rng, 32)}"
            checkpoint = self.checkpoints[0]
            t = when - clock.HOUR
            for i in range(checkpoint.shards):
                t += rng.uniform(1, 8)
                calls.append(self._s3(t, releaser, "CopyObject", releaser.office_ip, BOTO_AGENT, label,
                                      bucket=RELEASE_BUCKET, key=checkpoint.shard(i),
                                      copy_source=f"{CHECKPOINTS_BUCKET}/{checkpoint.shard(i)}", session_name=session))
                calls.append(self._s3(t + 0.5, releaser, "PutObjectAcl", releaser.office_ip, BOTO_AGENT, label,
                                      bucket=RELEASE_BUCKET, key=checkpoint.shard(i), session_name=session))

    # -- incidents -----------------------------------------------------------------------------------

    def _stolen(self, rng: random.Random, victim: Principal, when: float, country: str, checkpoint: Checkpoint,
                tamper: bool, calls: list[InfraCall]) -> None:
        net = self.world.network
        ip = net.address(net.system("hosting", country, rng), rng)
        label = Label(True, "stolen_credential", f"inc-stolen-{[p[0] for p in self.stolen_plans].index(victim) + 1}")
        agent = rng.choice((CLI_AGENT, "rclone/v1.66.0"))
        key = victim.access_key
        t = when
        calls.append(InfraCall(ts=t, principal=victim, service="sts", action="GetCallerIdentity", ip=ip, user_agent=agent,
                               label=label, access_key=key))
        t += rng.uniform(5, 60)
        calls.append(self._s3(t, victim, "ListBuckets", ip, agent, label, access_key=key))
        for _ in range(rng.randint(8, 25)):  # enumeration
            t += rng.uniform(2, 40)
            target = rng.choice(self.checkpoints)
            calls.append(self._s3(t, victim, "ListObjects", ip, agent, label, bucket=rng.choice((CHECKPOINTS_BUCKET, DATASETS_BUCKET, EVAL_BUCKET)),
                                  key=target.prefix, access_key=key))
        if tamper:
            t += rng.uniform(10, 120)
            calls.append(InfraCall(ts=t, principal=victim, service="s3", action="PutBucketLogging", ip=ip, user_agent=agent,
                                   label=label, bucket=CHECKPOINTS_BUCKET, access_key=key))
        for i in range(checkpoint.shards):  # the whole checkpoint within the hour
            t += rng.uniform(1, 40) if i % 4 else rng.uniform(1, 5)
            calls.append(self._s3(t, victim, "GetObject", ip, agent, label, bucket=CHECKPOINTS_BUCKET,
                                  key=checkpoint.shard(i), bytes_out=checkpoint.shard_bytes, access_key=key))
        for i in range(min(3, checkpoint.shards)):
            t += rng.uniform(5, 30)
            calls.append(self._s3(t, victim, "CopyObject", ip, agent, label, bucket=f"stash-{hex_id(rng, 24)}",
                                  key=checkpoint.shard(i), copy_source=f"{CHECKPOINTS_BUCKET}/{checkpoint.shard(i)}",
                                  access_key=key, extra={"outside_account": OUTSIDE_ACCOUNT}))
        t = when + rng.uniform(60, 600)  # the same person's kubeconfig, from the same address
        for verb, resource, code in (("list", "_cluster/namespaces", 200), ("list", "training/secrets", 200),
                                     ("get", "training/secrets/hf-token", 200),
                                     ("create", "training/pods/trainer-0/exec", 101),
                                     ("get", "kube-system/secrets/admin-token", 403)):
            t += rng.uniform(5, 90)
            calls.append(self._k8s(t, victim, verb, resource, ip, label, code))

    def _slow(self, rng: random.Random, thief: Principal, checkpoint: Checkpoint, order: list[int], start: float,
              day: int, calls: list[InfraCall]) -> None:
        if clock.day_start(day + 1) <= start or clock.weekday(day) >= 5 or not order:
            return
        label = Label(True, "low_and_slow", f"inc-slow-{[p[0] for p in self.slow_plans].index(thief) + 1}")
        tz = COUNTRIES[thief.country]
        t = max(start, clock.moment(rng, day, tz, "office"))
        calls.append(self._s3(t, thief, "ListObjects", thief.home_ip, CLI_AGENT, label, bucket=EVAL_BUCKET, key="runs/"))
        for _ in range(min(len(order), rng.randint(1, 4))):
            t += rng.uniform(600, 5400)
            i = order.pop()
            calls.append(self._s3(t, thief, "GetObject", thief.home_ip, CLI_AGENT, label, bucket=CHECKPOINTS_BUCKET,
                                  key=checkpoint.shard(i), bytes_out=checkpoint.shard_bytes))
            calls.append(self._s3(t + rng.uniform(30, 400), thief, "GetObject", thief.home_ip, CLI_AGENT, label,
                                  bucket=CHECKPOINTS_BUCKET, key=rng.choice(checkpoint.small_files()),
                                  bytes_out=rng.randint(2_000, 60_000)))

    def _insider(self, rng: random.Random, insider: Principal, start: float, bucket: str, day: int,
                 calls: list[InfraCall]) -> None:
        if clock.day_start(day + 1) <= start or clock.weekday(day) >= 5 or rng.random() < 0.3:
            return
        label = Label(True, "insider_departure", f"inc-insider-{[p[0] for p in self.insider_plans].index(insider) + 1}")
        checkpoint = rng.choice(self.checkpoints)
        t = max(start, clock.moment(rng, day, COUNTRIES[insider.country], "office"))
        for i in rng.sample(range(checkpoint.shards), min(checkpoint.shards, rng.randint(3, 10))):
            t += rng.uniform(20, 300)
            calls.append(self._s3(t, insider, "CopyObject", insider.office_ip, CLI_AGENT, label, bucket=bucket,
                                  key=checkpoint.shard(i), copy_source=f"{CHECKPOINTS_BUCKET}/{checkpoint.shard(i)}",
                                  extra={"outside_account": OUTSIDE_ACCOUNT}))
        if rng.random() < 0.5:  # a presigned URL, fetched from home that evening
            i = rng.randrange(checkpoint.shards)
            calls.append(self._s3(t + rng.uniform(4, 8) * clock.HOUR, insider, "GetObject", insider.home_ip,
                                  "curl/8.7.1", label, bucket=CHECKPOINTS_BUCKET, key=checkpoint.shard(i),
                                  bytes_out=checkpoint.shard_bytes, auth_method="QueryString"))
        if rng.random() < 0.3:
            calls.append(self._k8s(t + 600, insider, "create", "training/pods/trainer-1/portforward",
                                   insider.office_ip, label, 101))


def _service_scenario(role: str) -> str:
    return {
        "TrainingJobRole": "training_job", "EvalPipelineRole": "eval_pipeline", "BackupRole": "backup_replication",
        "ReleasePipelineRole": "release_pipeline",
    }[role]


def _poisson_small(rng: random.Random, mean: float) -> int:
    count, t = 0, rng.expovariate(1.0)
    while t < mean:
        count += 1
        t += rng.expovariate(1.0)
    return count
