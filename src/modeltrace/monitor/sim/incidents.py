"""Weight-theft incidents in the infrastructure logs, each labelled with its principal, credential and target.

* :class:`StolenCredential` — an engineer's access key used from a hosting network in a new country:
  identity check → enumeration → (every other incident) bucket logging changed → every shard of a
  checkpoint within the hour → copies to a bucket in an outside account; the victim's Kubernetes
  credential lists secrets and execs into a pod from the same address.
* :class:`LowAndSlow` — a contractor's credential reads one to four shards a working day, in random
  order, in office hours, from its usual home address, next to ordinary small reads.
* :class:`InsiderDeparture` — an engineer whose departure date is in the HR directory copies shards to
  a personal bucket in another AWS account in office hours, and fetches others through presigned URLs
  from home, in the weeks before leaving.
"""

from __future__ import annotations

import random
from typing import Any

from modeltrace.monitor.sim import clock
from modeltrace.monitor.sim.estate import (
    CHECKPOINTS_BUCKET,
    CLI_AGENT,
    DATASETS_BUCKET,
    EVAL_BUCKET,
    OUTSIDE_ACCOUNT,
    Checkpoint,
    k8s,
    s3,
)
from modeltrace.monitor.sim.network import COUNTRIES
from modeltrace.monitor.sim.world import InfraCall, Label, Principal, World, hex_id


class StolenCredential:
    kind = "stolen_credential"

    def __init__(
        self, world: World, number: int, victim: Principal, checkpoints: list[Checkpoint], rng: random.Random
    ) -> None:
        self.world, self.principal, self.checkpoints = world, victim, checkpoints
        self.id = f"inc-stolen-{number}"
        self.when = world.start + rng.uniform(max(1.0, world.days * 0.45), world.days - 0.6) * clock.DAY
        self.country = rng.choice([c for c in ("NL", "SG", "RU", "VN", "BR", "TR") if c != victim.country])
        self.target = rng.choice(checkpoints)
        self.tamper = number % 2 == 1
        self.key = victim.access_key
        self.label = Label(True, self.kind, self.id)

    def record(self) -> dict[str, Any]:
        return {
            "type": "incident",
            "incident_id": self.id,
            "kind": self.kind,
            "principals": [self.principal.name],
            "credential": self.key,
            "start": self.when,
            "checkpoint": self.target.uri,
            "shards_total": self.target.shards,
            "logging_tampered": self.tamper,
            "attacker_country": self.country,
        }

    def day(self, rng: random.Random, day: int, calls: list[InfraCall]) -> None:
        if not clock.day_start(day) <= self.when < clock.day_start(day + 1):
            return
        net, victim, label, key = self.world.network, self.principal, self.label, self.key
        ip = net.address(net.system("hosting", self.country, rng), rng)
        agent = rng.choice((CLI_AGENT, "rclone/v1.66.0"))
        t = self.when
        calls.append(
            InfraCall(
                ts=t,
                principal=victim,
                service="sts",
                action="GetCallerIdentity",
                ip=ip,
                user_agent=agent,
                label=label,
                access_key=key,
            )
        )
        t += rng.uniform(5, 60)
        calls.append(s3(t, victim, "ListBuckets", ip, agent, label, access_key=key))
        for _ in range(rng.randint(8, 25)):  # enumeration
            t += rng.uniform(2, 40)
            bucket = rng.choice((CHECKPOINTS_BUCKET, DATASETS_BUCKET, EVAL_BUCKET))
            calls.append(
                s3(
                    t,
                    victim,
                    "ListObjects",
                    ip,
                    agent,
                    label,
                    bucket=bucket,
                    key=rng.choice(self.checkpoints).prefix,
                    access_key=key,
                )
            )
        if self.tamper:
            t += rng.uniform(10, 120)
            calls.append(
                s3(t, victim, "PutBucketLogging", ip, agent, label, bucket=CHECKPOINTS_BUCKET, access_key=key)
            )
        target = self.target
        for i in range(target.shards):  # the whole checkpoint within the hour
            t += rng.uniform(1, 40) if i % 4 else rng.uniform(1, 5)
            calls.append(
                s3(
                    t,
                    victim,
                    "GetObject",
                    ip,
                    agent,
                    label,
                    bucket=CHECKPOINTS_BUCKET,
                    key=target.shard(i),
                    bytes_out=target.shard_bytes,
                    access_key=key,
                )
            )
        stash = f"stash-{hex_id(rng, 24)}"
        for i in range(min(3, target.shards)):
            t += rng.uniform(5, 30)
            calls.append(
                s3(
                    t,
                    victim,
                    "CopyObject",
                    ip,
                    agent,
                    label,
                    bucket=stash,
                    key=target.shard(i),
                    copy_source=f"{CHECKPOINTS_BUCKET}/{target.shard(i)}",
                    access_key=key,
                    extra={"outside_account": OUTSIDE_ACCOUNT},
                )
            )
        t = self.when + rng.uniform(60, 600)  # the same person's kubeconfig, from the same address
        for verb, resource, code in (
            ("list", "_cluster/namespaces", 200),
            ("list", "training/secrets", 200),
            ("get", "training/secrets/hf-token", 200),
            ("create", "training/pods/trainer-0/exec", 101),
            ("get", "kube-system/secrets/admin-token", 403),
        ):
            t += rng.uniform(5, 90)
            calls.append(k8s(t, victim, verb, resource, ip, label, code))


class LowAndSlow:
    kind = "low_and_slow"

    def __init__(
        self, world: World, number: int, thief: Principal, checkpoints: list[Checkpoint], rng: random.Random
    ) -> None:
        self.world, self.principal = world, thief
        self.id = f"inc-slow-{number}"
        self.target = max(checkpoints, key=lambda c: c.shards)
        self.order = list(range(self.target.shards))
        rng.shuffle(self.order)
        self.start = world.start + rng.uniform(0.5, 2.0) * clock.DAY
        self.label = Label(True, self.kind, self.id)
        thief.scenario = self.kind

    def record(self) -> dict[str, Any]:
        return {
            "type": "incident",
            "incident_id": self.id,
            "kind": self.kind,
            "principals": [self.principal.name],
            "credential": self.principal.access_key,
            "start": self.start,
            "checkpoint": self.target.uri,
            "shards_total": self.target.shards,
        }

    def day(self, rng: random.Random, day: int, calls: list[InfraCall]) -> None:
        if clock.day_start(day + 1) <= self.start or clock.weekday(day) >= 5 or not self.order:
            return
        thief, label, target = self.principal, self.label, self.target
        ip = thief.home_ip
        t = max(self.start, clock.moment(rng, day, COUNTRIES[thief.country], "office"))
        calls.append(s3(t, thief, "ListObjects", ip, CLI_AGENT, label, bucket=EVAL_BUCKET, key="runs/"))
        for _ in range(min(len(self.order), rng.randint(1, 4))):
            t += rng.uniform(600, 5400)
            calls.append(
                s3(
                    t,
                    thief,
                    "GetObject",
                    ip,
                    CLI_AGENT,
                    label,
                    bucket=CHECKPOINTS_BUCKET,
                    key=target.shard(self.order.pop()),
                    bytes_out=target.shard_bytes,
                )
            )
            calls.append(
                s3(
                    t + rng.uniform(30, 400),
                    thief,
                    "GetObject",
                    ip,
                    CLI_AGENT,
                    label,
                    bucket=CHECKPOINTS_BUCKET,
                    key=rng.choice(target.small_files()),
                    bytes_out=rng.randint(2_000, 60_000),
                )
            )


class InsiderDeparture:
    kind = "insider_departure"

    def __init__(
        self, world: World, number: int, insider: Principal, checkpoints: list[Checkpoint], rng: random.Random
    ) -> None:
        self.world, self.principal, self.checkpoints = world, insider, checkpoints
        self.id = f"inc-insider-{number}"
        insider.departure_day = world.days + rng.randint(1, 5)
        insider.scenario = self.kind
        self.start = world.start + world.days * rng.uniform(0.55, 0.7) * clock.DAY
        self.bucket = f"{insider.name.split('.')[0]}-personal-archive-{hex_id(rng, 16)}"
        self.label = Label(True, self.kind, self.id)

    def record(self) -> dict[str, Any]:
        return {
            "type": "incident",
            "incident_id": self.id,
            "kind": self.kind,
            "principals": [self.principal.name],
            "credential": self.principal.access_key,
            "start": self.start,
            "destination": f"s3://{self.bucket}/",
            "departure_day": self.principal.departure_day,
        }

    def day(self, rng: random.Random, day: int, calls: list[InfraCall]) -> None:
        if clock.day_start(day + 1) <= self.start or clock.weekday(day) >= 5 or rng.random() < 0.3:
            return
        insider, label = self.principal, self.label
        checkpoint = rng.choice(self.checkpoints)
        t = max(self.start, clock.moment(rng, day, COUNTRIES[insider.country], "office"))
        for i in rng.sample(range(checkpoint.shards), min(checkpoint.shards, rng.randint(3, 10))):
            t += rng.uniform(20, 300)
            calls.append(
                s3(
                    t,
                    insider,
                    "CopyObject",
                    insider.office_ip,
                    CLI_AGENT,
                    label,
                    bucket=self.bucket,
                    key=checkpoint.shard(i),
                    copy_source=f"{CHECKPOINTS_BUCKET}/{checkpoint.shard(i)}",
                    extra={"outside_account": OUTSIDE_ACCOUNT},
                )
            )
        if rng.random() < 0.5:  # a presigned URL, fetched from home that evening
            calls.append(
                s3(
                    t + rng.uniform(4, 8) * clock.HOUR,
                    insider,
                    "GetObject",
                    insider.home_ip,
                    "curl/8.7.1",
                    label,
                    bucket=CHECKPOINTS_BUCKET,
                    key=checkpoint.shard(rng.randrange(checkpoint.shards)),
                    bytes_out=checkpoint.shard_bytes,
                    auth_method="QueryString",
                )
            )
        if rng.random() < 0.3:
            calls.append(
                k8s(
                    t + 600,
                    insider,
                    "create",
                    "training/pods/trainer-1/portforward",
                    insider.office_ip,
                    label,
                    101,
                )
            )


Incident = StolenCredential | LowAndSlow | InsiderDeparture
