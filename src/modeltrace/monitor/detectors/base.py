"""The detector interface and the keyed aggregates every detector keeps (and the state store persists).

A detector sees every event it asks for once, in stream order — API requests with the features the
featurizer computed for them once for all detectors (:meth:`Detector.observe_request`), infrastructure
events as they are (:meth:`Detector.observe_infra`) — and is asked at each hour of stream time whether a
group-level condition now holds (:meth:`Detector.tick`). Its memory is a dict
of JSON-able rows keyed by account, principal, cluster or checkpoint (:attr:`Detector.rows`); rows it
changed are listed in :attr:`Detector.dirty` and rows it dropped in :attr:`Detector.removed`, so the
store writes (and deletes) only those, and a restarted run loads them back and carries on as if it had
never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeltrace.monitor.alerts import Alert
from modeltrace.monitor.events import ApiRequest, InfraEvent
from modeltrace.monitor.featurize import RequestFeatures

Row = dict[str, Any]


@dataclass
class Context:
    """What an operator knows besides the logs (the simulator writes these under ``context/``)."""

    checkpoints: dict[str, int] = field(default_factory=dict)  # checkpoint URI prefix → shard count
    departures: dict[str, float] = field(default_factory=dict)  # principal → departure time (epoch s)
    daily_limits: dict[str, int] = field(default_factory=dict)  # account → daily request limit
    releases: list[tuple[float, str]] = field(default_factory=list)

    @classmethod
    def from_dir(cls, path: Path | None) -> Context:
        import csv
        import json
        from datetime import UTC, datetime

        ctx = cls()
        if path is None or not path.is_dir():
            return ctx
        inventory = path / "inventory.json"
        if inventory.is_file():
            data = json.loads(inventory.read_text(encoding="utf-8"))
            for item in data.get("checkpoints", []):
                ctx.checkpoints[str(item["uri"])] = int(item["shards"])
        directory = path / "directory.csv"
        if directory.is_file():
            with directory.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    if row.get("departure_date"):
                        when = datetime.fromisoformat(row["departure_date"]).replace(tzinfo=UTC)
                        ctx.departures[row["principal"]] = when.timestamp()
        accounts = path / "accounts.csv"
        if accounts.is_file():
            with accounts.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    if row.get("daily_request_limit"):
                        ctx.daily_limits[row["account_id"]] = int(row["daily_request_limit"])
        releases = path / "releases.json"
        if releases.is_file():
            for item in json.loads(releases.read_text(encoding="utf-8")):
                released = datetime.fromisoformat(str(item["time"]).replace("Z", "+00:00")).timestamp()
                ctx.releases.append((released, str(item["model"])))
        return ctx


class Detector:
    """Base class: keyed JSON rows, dirty tracking, and no-op hooks.

    ``requests`` and ``infra`` say which events a detector wants, so the monitor calls it only with those.
    """

    name = "detector"
    requests = False
    infra = False

    def __init__(self, context: Context | None = None) -> None:
        self.context = context or Context()
        self.rows: dict[str, Row] = {}
        self.dirty: set[str] = set()
        self.removed: set[str] = set()

    def row(self, key: str, make: Any = None) -> Row:
        row = self.rows.get(key)
        if row is None:
            row = make() if make is not None else {}
            self.rows[key] = row
            self.removed.discard(key)
        self.dirty.add(key)
        return row

    def forget(self, key: str) -> None:
        """Drop a row (an expired address, a group merged into another); the next commit deletes it."""
        if self.rows.pop(key, None) is not None:
            self.dirty.discard(key)
            self.removed.add(key)

    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        return []

    def before_commit(self) -> None:
        """Put state kept outside :attr:`rows` for speed into rows, so the commit persists it."""

    def after_load(self) -> None:
        """Rebuild state kept outside :attr:`rows` from the rows a restart loaded."""

    def observe_infra(self, event: InfraEvent) -> list[Alert]:
        return []

    def tick(self, now: float) -> list[Alert]:
        return []


def add_capped(items: list[Any], value: Any, cap: int) -> bool:
    """Append ``value`` if new and there is room; True if it was new (whether or not it fitted)."""
    if value in items:
        return False
    if len(items) < cap:
        items.append(value)
    return True


def principal_name(principal: str) -> str:
    """``arn:…:user/kenji.weber`` → ``kenji.weber``; ``kenji.weber@corp.example`` → ``kenji.weber``;
    an assumed-role session ARN → the role name."""
    if ":assumed-role/" in principal:
        return principal.split(":assumed-role/", 1)[1].split("/", 1)[0]
    return principal.rsplit("/", 1)[-1].split("@", 1)[0]


def checkpoint_shard(context: Context, resource: str | None) -> tuple[str, str] | None:
    """``(checkpoint URI, object key)`` when ``resource`` is a weight shard of a known checkpoint."""
    if not resource:
        return None
    for uri in context.checkpoints:
        if resource.startswith(uri):
            name = resource[len(uri) :]
            if name.endswith((".safetensors", ".bin", ".pt", ".gguf")):
                return uri, name
    return None
