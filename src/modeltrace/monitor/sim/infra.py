"""People and jobs acting on the estate, benign ones included that look like theft; incidents mixed in.

Benign activity:

* engineers sign in with MFA (now and then after a typo), list prefixes, read configs and eval
  results and, when debugging, a shard or two; work in Kubernetes (``exec``, ``port-forward``); rotate
  their access keys (a new credential, used from the usual place);
* **travelling engineers** sign in from another country for days, and on a VPN back to the office
  from two places within hours, still reading shards;
* **training jobs** and the **evaluation pipeline** read *every* shard of a checkpoint within minutes
  (the pipeline right before each release), **backups** copy a whole checkpoint to another bucket
  every week and new objects every night, and the **release pipeline** copies a checkpoint out and
  makes it public on release day.

The incidents (:mod:`.incidents`) act through the same helpers, so their records differ only in what
they do, not in how they are logged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from modeltrace.monitor.sim import clock
from modeltrace.monitor.sim.estate import (
    ACCOUNT_ID,
    BACKUP_BUCKET,
    BOTO_AGENT,
    BUCKETS,
    CHECKPOINTS_BUCKET,
    CLI_AGENT,
    DATASETS_BUCKET,
    EVAL_BUCKET,
    FIRST_NAMES,
    LAST_NAMES,
    RELEASE_BUCKET,
    Checkpoint,
    bulk_read,
    k8s,
    s3,
    signin,
)
from modeltrace.monitor.sim.incidents import Incident, InsiderDeparture, LowAndSlow, StolenCredential
from modeltrace.monitor.sim.network import COUNTRIES
from modeltrace.monitor.sim.world import (
    ATTACK,
    BENIGN,
    BROWSER_AGENTS,
    InfraCall,
    Label,
    Principal,
    World,
    hex_id,
)

_ROLES = {"ml-engineer": 0.45, "researcher": 0.25, "data-engineer": 0.12, "sre": 0.12, "manager": 0.06}
_SERVICES = {
    "TrainingJobRole": "training_job",
    "EvalPipelineRole": "eval_pipeline",
    "BackupRole": "backup_replication",
    "ReleasePipelineRole": "release_pipeline",
}


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
    """Every infrastructure actor of one simulation (see the module docstring)."""

    def __init__(self, world: World, spec: InfraSpec) -> None:
        self.world, self.spec = world, spec
        rng = world.rng("infra", "setup")
        self._rng = world.rng("infra", "days")
        self._office = world.network.named("Modeltrace Labs")
        self.checkpoints = [
            Checkpoint(
                rng.choice(("mt-large", "mt-reason", "mt-small", "mt-code")),
                f"v{2025 + i // 12}.{i % 12 + 1:02d}",
                rng.randint(*spec.shards),
                rng.randint(4_600_000_000, 4_990_000_000),
            )
            for i in range(spec.checkpoints)
        ]
        self.people = self._hire(rng, spec.engineers)
        self.services = {
            role: Principal(
                name=role,
                kind="role",
                role="service",
                country="US",
                home_ip="",
                office_ip=f"10.20.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                access_key="",
                k8s_user="system:serviceaccount:training:trainer",
                scenario=scenario,
            )
            for role, scenario in _SERVICES.items()
        }
        pool = [p for p in self.people if p.role in ("ml-engineer", "researcher")] or list(self.people)
        rng.shuffle(pool)
        self.travel: dict[str, tuple[int, int, str]] = {}
        for person in pool[: spec.travellers]:
            first = rng.randrange(max(1, world.days - 4))
            abroad = rng.choice([c for c in ("JP", "SG", "BR", "FR", "AU", "KR") if c != person.country])
            self.travel[person.name] = (first, min(world.days - 1, first + rng.randint(3, 6)), abroad)
            person.scenario = "travelling_engineer"
        rest = pool[spec.travellers :]
        contractors = [
            self._person(rng, f"contractor.{rng.choice(LAST_NAMES)}{i}", "contractor", "US")
            for i in range(spec.slow)
        ]
        self.contractors = contractors
        self.incidents: list[Incident] = [
            StolenCredential(world, i + 1, victim, self.checkpoints, rng)
            for i, victim in enumerate(rest[: spec.stolen])
        ]
        self.incidents += [
            LowAndSlow(world, i + 1, c, self.checkpoints, rng) for i, c in enumerate(contractors)
        ]
        insiders = rest[spec.stolen : spec.stolen + spec.insiders]
        self.incidents += [
            InsiderDeparture(world, i + 1, p, self.checkpoints, rng) for i, p in enumerate(insiders)
        ]

    def _hire(self, rng: random.Random, count: int) -> list[Principal]:
        people, used = [], set()
        for _ in range(count):
            name = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}"
            while name in used:
                name = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{rng.randint(2, 99)}"
            used.add(name)
            country = rng.choices(("US", "GB", "DE", "IN", "CA"), (0.7, 0.1, 0.08, 0.07, 0.05))[0]
            people.append(
                self._person(rng, name, rng.choices(list(_ROLES), list(_ROLES.values()))[0], country)
            )
        return people

    def _person(self, rng: random.Random, name: str, role: str, country: str) -> Principal:
        net = self.world.network
        return Principal(
            name=name,
            kind="iam_user",
            role=role,
            country=country,
            home_ip=net.address(net.system("residential", country, rng), rng),
            office_ip=net.address(self._office, rng, pool=4),
            access_key="AKIA" + hex_id(rng, 64).upper(),
            k8s_user=f"{name}@corp.example",
        )

    # -- what the operator knows, and the ground truth ----------------------------------------------

    def directory(self) -> list[dict[str, Any]]:
        """HR/IdP directory rows: who works here, in which role (peer group), and who leaves when."""
        return [
            {
                "principal": p.name,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/{p.name}",
                "k8s_user": p.k8s_user,
                "role": p.role,
                "country": p.country,
                "departure_date": clock.date_text(p.departure_day) if p.departure_day is not None else "",
            }
            for p in [*self.people, *self.contractors]
        ]

    def inventory(self) -> dict[str, Any]:
        return {
            "cloud_account": ACCOUNT_ID,
            "buckets": list(BUCKETS),
            "checkpoints": [
                {"uri": c.uri, "shards": c.shards, "shard_bytes": c.shard_bytes} for c in self.checkpoints
            ],
        }

    def label_records(self) -> list[dict[str, Any]]:
        records = [incident.record() for incident in self.incidents]
        victims = {id(i.principal) for i in self.incidents if isinstance(i, StolenCredential)}
        for person in [*self.people, *self.contractors, *self.services.values()]:
            attack = person.scenario in (LowAndSlow.kind, InsiderDeparture.kind)
            label = ATTACK if attack else "compromised" if id(person) in victims else BENIGN
            records.append(
                {"type": "principal", "principal": person.name, "scenario": person.scenario, "label": label}
            )
        return records

    # -- per day ---------------------------------------------------------------------------------------

    def day(self, day: int) -> list[InfraCall]:
        rng = self._rng
        calls: list[InfraCall] = []
        for person in self.people:
            self._engineer(rng, person, day, calls)
        self._training(rng, day, calls)
        self._evaluation(rng, day, calls)
        self._backup(rng, day, calls)
        self._release(rng, day, calls)
        for incident in self.incidents:
            incident.day(rng, day, calls)
        return calls

    def _engineer(self, rng: random.Random, person: Principal, day: int, calls: list[InfraCall]) -> None:
        if rng.random() > (0.12 if clock.weekday(day) >= 5 else 0.85):
            return
        # an insider's everyday work is benign; only the copying out is the incident
        label = Label(
            False, "travelling_engineer" if person.scenario == "travelling_engineer" else "engineer"
        )
        tz = COUNTRIES[person.country]
        travel = self.travel.get(person.name)
        abroad = travel is not None and travel[0] <= day <= travel[1]
        if travel is not None and abroad:
            tz = COUNTRIES[travel[2]]
            net = self.world.network
            ip = net.address(net.system("residential", travel[2], rng), rng, pool=16)
        else:
            ip = person.office_ip if rng.random() < 0.7 else person.home_ip
        ts = clock.moment(rng, day, tz, "office")
        if rng.random() < 0.02:
            calls.append(
                signin(ts - 40, person, ip, rng.choice(BROWSER_AGENTS), label, mfa=False, failed=True)
            )
        calls.append(signin(ts, person, ip, rng.choice(BROWSER_AGENTS), label, mfa=True))
        if abroad and rng.random() < 0.5:  # VPN back to the office a few hours later: two places at once
            calls.append(
                signin(
                    ts + rng.uniform(1, 4) * clock.HOUR,
                    person,
                    person.office_ip,
                    rng.choice(BROWSER_AGENTS),
                    label,
                    mfa=True,
                )
            )
        if rng.random() < 0.03:  # key rotation: a new credential, used from the usual place
            new_key = "AKIA" + hex_id(rng, 64).upper()
            calls.append(
                InfraCall(
                    ts=ts + 300,
                    principal=person,
                    service="iam",
                    action="CreateAccessKey",
                    ip=ip,
                    user_agent=CLI_AGENT,
                    label=label,
                    access_key=person.access_key,
                    extra={"new_key": new_key},
                )
            )
            person.access_key = new_key
        checkpoint = rng.choice(self.checkpoints)
        t = ts + rng.uniform(300, 3600)
        for _ in range(rng.randint(1, 3)):
            calls.append(
                s3(
                    t,
                    person,
                    "ListObjects",
                    ip,
                    CLI_AGENT,
                    label,
                    bucket=CHECKPOINTS_BUCKET,
                    key=checkpoint.prefix,
                )
            )
            t += rng.uniform(20, 600)
        for _ in range(rng.randint(1, 5)):
            bucket, key = rng.choice(
                (
                    (CHECKPOINTS_BUCKET, rng.choice(checkpoint.small_files())),
                    (
                        EVAL_BUCKET,
                        f"runs/{checkpoint.model}/{checkpoint.version}/results-{rng.randrange(100)}.json",
                    ),
                    (DATASETS_BUCKET, f"manifests/shard-{rng.randrange(400):04d}.json"),
                )
            )
            calls.append(
                s3(
                    t,
                    person,
                    "GetObject",
                    ip,
                    CLI_AGENT,
                    label,
                    bucket=bucket,
                    key=key,
                    bytes_out=rng.randint(2_000, 80_000),
                )
            )
            t += rng.uniform(10, 900)
        if rng.random() < 0.12:  # debugging a checkpoint: a shard or two
            for i in rng.sample(range(checkpoint.shards), min(checkpoint.shards, rng.randint(1, 2))):
                calls.append(
                    s3(
                        t,
                        person,
                        "GetObject",
                        ip,
                        CLI_AGENT,
                        label,
                        bucket=CHECKPOINTS_BUCKET,
                        key=checkpoint.shard(i),
                        bytes_out=checkpoint.shard_bytes,
                    )
                )
                t += rng.uniform(60, 300)
        if person.role == "data-engineer" and rng.random() < 0.5:
            calls.append(
                s3(
                    t,
                    person,
                    "PutObject",
                    ip,
                    CLI_AGENT,
                    label,
                    bucket=DATASETS_BUCKET,
                    key=f"raw/{hex_id(rng, 32)}.parquet",
                )
            )
        if person.role in ("ml-engineer", "sre", "researcher") and rng.random() < 0.6:
            t = ts + rng.uniform(600, 5 * 3600)
            pod = f"trainer-{rng.randrange(8)}"
            calls.append(k8s(t, person, "list", "training/pods", ip, label))
            calls.append(k8s(t + 5, person, "get", f"training/pods/{pod}/log", ip, label))
            if rng.random() < 0.25:
                calls.append(k8s(t + 40, person, "create", f"training/pods/{pod}/exec", ip, label, 101))
            if rng.random() < 0.1:
                calls.append(
                    k8s(t + 90, person, "create", "monitoring/pods/tensorboard-0/portforward", ip, label, 101)
                )

    def _training(self, rng: random.Random, day: int, calls: list[InfraCall]) -> None:
        trainer = self.services["TrainingJobRole"]
        label = Label(False, "training_job")
        for _ in range(_poisson(rng, self.spec.jobs_per_week / 7)):
            session = f"train-{hex_id(rng, 32)}"
            start = clock.day_start(day) + rng.uniform(0, clock.DAY)
            calls.append(
                k8s(start - 30, trainer, "get", "training/secrets/hf-token", trainer.office_ip, label)
            )
            end = bulk_read(
                rng,
                trainer,
                trainer.office_ip,
                start,
                rng.choice(self.checkpoints),
                label,
                calls,
                session=session,
            )
            for i in range(rng.randint(2, 6)):  # writes new checkpoints as it trains
                calls.append(
                    s3(
                        end + (i + 1) * rng.uniform(1800, 7200),
                        trainer,
                        "PutObject",
                        trainer.office_ip,
                        BOTO_AGENT,
                        label,
                        bucket=CHECKPOINTS_BUCKET,
                        key=f"runs/{session}/step-{(i + 1) * 1000}/model.safetensors",
                        session_name=session,
                    )
                )

    def _releases_on(self, day: int) -> list[float]:
        return [
            when for when, _ in self.world.releases if clock.day_start(day) <= when < clock.day_start(day + 1)
        ]

    def _evaluation(self, rng: random.Random, day: int, calls: list[InfraCall]) -> None:
        releases = self._releases_on(day)
        if clock.weekday(day) != 2 and not releases:
            return
        evaluator = self.services["EvalPipelineRole"]
        label = Label(False, "eval_pipeline")
        session = f"eval-{hex_id(rng, 32)}"
        start = (
            releases[0] - 2 * clock.HOUR
            if releases
            else clock.day_start(day) + rng.uniform(2, 6) * clock.HOUR
        )
        end = bulk_read(
            rng,
            evaluator,
            evaluator.office_ip,
            start,
            rng.choice(self.checkpoints),
            label,
            calls,
            session=session,
        )
        calls.append(
            s3(
                end + 900,
                evaluator,
                "PutObject",
                evaluator.office_ip,
                BOTO_AGENT,
                label,
                bucket=EVAL_BUCKET,
                key=f"runs/{session}/summary.json",
                session_name=session,
            )
        )

    def _backup(self, rng: random.Random, day: int, calls: list[InfraCall]) -> None:
        backup = self.services["BackupRole"]
        label = Label(False, "backup_replication")
        t = clock.day_start(day) + 1 * clock.HOUR + rng.uniform(0, 600)
        session = f"backup-{hex_id(rng, 32)}"
        keys = [
            f"runs/{hex_id(rng, 32)}/model.safetensors" for _ in range(rng.randint(2, 10))
        ]  # nightly increments
        if clock.weekday(day) == 6:  # weekly full copy of one checkpoint
            checkpoint = rng.choice(self.checkpoints)
            keys += [checkpoint.shard(i) for i in range(checkpoint.shards)]
        for key in keys:
            t += rng.uniform(2, 20)
            calls.append(
                s3(
                    t,
                    backup,
                    "CopyObject",
                    backup.office_ip,
                    BOTO_AGENT,
                    label,
                    bucket=BACKUP_BUCKET,
                    key=key,
                    copy_source=f"{CHECKPOINTS_BUCKET}/{key}",
                    session_name=session,
                    region="us-west-2",
                )
            )

    def _release(self, rng: random.Random, day: int, calls: list[InfraCall]) -> None:
        releaser = self.services["ReleasePipelineRole"]
        label = Label(False, "release_pipeline")
        for when in self._releases_on(day):
            session = f"release-{hex_id(rng, 32)}"
            checkpoint = self.checkpoints[0]
            t = when - clock.HOUR
            for i in range(checkpoint.shards):  # copy out, then make public
                t += rng.uniform(1, 8)
                calls.append(
                    s3(
                        t,
                        releaser,
                        "CopyObject",
                        releaser.office_ip,
                        BOTO_AGENT,
                        label,
                        bucket=RELEASE_BUCKET,
                        key=checkpoint.shard(i),
                        copy_source=f"{CHECKPOINTS_BUCKET}/{checkpoint.shard(i)}",
                        session_name=session,
                    )
                )
                calls.append(
                    s3(
                        t + 0.5,
                        releaser,
                        "PutObjectAcl",
                        releaser.office_ip,
                        BOTO_AGENT,
                        label,
                        bucket=RELEASE_BUCKET,
                        key=checkpoint.shard(i),
                        session_name=session,
                    )
                )


def _poisson(rng: random.Random, mean: float) -> int:
    count, t = 0, rng.expovariate(1.0)
    while t < mean:
        count += 1
        t += rng.expovariate(1.0)
    return count
