"""The estate under watch: one AWS account's buckets and checkpoints, and how actions on it are made.

Shared by the benign infrastructure actors (:mod:`.infra`) and the incidents (:mod:`.incidents`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from modeltrace.monitor.sim.world import InfraCall, Label, Principal

ACCOUNT_ID = "210987654321"
OUTSIDE_ACCOUNT = "444455556666"
CHECKPOINTS_BUCKET = "mt-ml-checkpoints"
DATASETS_BUCKET = "mt-ml-datasets"
EVAL_BUCKET = "mt-eval-results"
BACKUP_BUCKET = "mt-ml-backups"
RELEASE_BUCKET = "mt-release-artifacts"
BUCKETS = (CHECKPOINTS_BUCKET, DATASETS_BUCKET, EVAL_BUCKET, BACKUP_BUCKET, RELEASE_BUCKET)
CLI_AGENT = "aws-cli/2.17.20 md/Botocore#1.34.145 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.11.9"
BOTO_AGENT = "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.10.12"
KUBECTL_AGENT = "kubectl/v1.30.4 (linux/amd64) kubernetes/a51b3b7"
# space-separated on purpose: a name list is data, not code to review line by line
FIRST_NAMES = tuple(
    "alex sam maria wei priya jonas fatima kenji olga diego amara lena tomas yuki omar ines raj chloe ivan "  # noqa: SIM905
    "nora ben mei lucas sara".split()
)
LAST_NAMES = tuple(
    "ng smith garcia chen patel muller haddad sato ivanova lopez okafor berg novak tanaka farah costa rao "  # noqa: SIM905
    "martin petrov kim weber silva".split()
)


@dataclass(frozen=True)
class Checkpoint:
    """A sharded checkpoint in the checkpoints bucket (the thing worth stealing)."""

    model: str
    version: str
    shards: int
    shard_bytes: int

    @property
    def prefix(self) -> str:
        return f"models/{self.model}/{self.version}/"

    @property
    def uri(self) -> str:
        return f"s3://{CHECKPOINTS_BUCKET}/{self.prefix}"

    def shard(self, i: int) -> str:
        return f"{self.prefix}model-{i + 1:05d}-of-{self.shards:05d}.safetensors"

    def small_files(self) -> tuple[str, ...]:
        return tuple(
            self.prefix + n for n in ("config.json", "tokenizer.json", "model.safetensors.index.json")
        )


def s3(ts: float, who: Principal, action: str, ip: str, agent: str, label: Label, **fields: Any) -> InfraCall:
    # record the key in use now, not whatever the principal holds when the day is written out
    fields.setdefault("access_key", who.access_key or None)
    return InfraCall(
        ts=ts, principal=who, service="s3", action=action, ip=ip, user_agent=agent, label=label, **fields
    )


def k8s(
    ts: float, who: Principal, verb: str, resource: str, ip: str, label: Label, code: int = 200
) -> InfraCall:
    """A Kubernetes API call on ``namespace/resource[/name[/subresource]]`` (``_cluster``: cluster-wide)."""
    return InfraCall(
        ts=ts,
        principal=who,
        service="k8s",
        action=verb,
        ip=ip,
        user_agent=KUBECTL_AGENT,
        label=label,
        k8s_resource=resource,
        k8s_code=code,
    )


def signin(
    ts: float, who: Principal, ip: str, agent: str, label: Label, *, mfa: bool, failed: bool = False
) -> InfraCall:
    return InfraCall(
        ts=ts,
        principal=who,
        service="signin",
        action="ConsoleLogin",
        ip=ip,
        user_agent=agent,
        label=label,
        mfa=mfa,
        error="Failed authentication" if failed else None,
    )


def bulk_read(
    rng: random.Random,
    who: Principal,
    ip: str,
    start: float,
    checkpoint: Checkpoint,
    label: Label,
    calls: list[InfraCall],
    *,
    session: str | None = None,
    agent: str = BOTO_AGENT,
    gap: tuple[float, float] = (1, 12),
) -> float:
    """List a checkpoint, read its small files and every shard; the time of the last read."""
    t = start
    calls.append(
        s3(
            t,
            who,
            "ListObjects",
            ip,
            agent,
            label,
            bucket=CHECKPOINTS_BUCKET,
            key=checkpoint.prefix,
            session_name=session,
        )
    )
    for key in checkpoint.small_files():
        t += rng.uniform(0.2, 1.0)
        calls.append(
            s3(
                t,
                who,
                "GetObject",
                ip,
                agent,
                label,
                bucket=CHECKPOINTS_BUCKET,
                key=key,
                bytes_out=rng.randint(2_000, 200_000),
                session_name=session,
            )
        )
    for i in range(checkpoint.shards):
        t += rng.uniform(*gap)
        calls.append(
            s3(
                t,
                who,
                "GetObject",
                ip,
                agent,
                label,
                bucket=CHECKPOINTS_BUCKET,
                key=checkpoint.shard(i),
                bytes_out=checkpoint.shard_bytes,
                session_name=session,
            )
        )
    return t
