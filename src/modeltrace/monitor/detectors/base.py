"""The detector interface and the keyed aggregates every detector keeps (and the state store persists).

A detector sees every event once, in stream order (:meth:`Detector.observe`), and is asked at each hour
of stream time whether a group-level condition now holds (:meth:`Detector.tick`). Its memory is a dict
of JSON-able rows keyed by account, principal, cluster or checkpoint (:attr:`Detector.rows`); rows it
changed are listed in :attr:`Detector.dirty`, so the store writes only those, and a restarted run
loads them back and carries on as if it had never stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeltrace.monitor.alerts import Alert
from modeltrace.monitor.events import Event

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
    """Base class: keyed JSON rows, dirty tracking, and no-op hooks."""

    name = "detector"

    def __init__(self, context: Context | None = None) -> None:
        self.context = context or Context()
        self.rows: dict[str, Row] = {}
        self.dirty: set[str] = set()

    def row(self, key: str, make: Any = None) -> Row:
        row = self.rows.get(key)
        if row is None:
            row = make() if make is not None else {}
            self.rows[key] = row
        self.dirty.add(key)
        return row

    def observe(self, event: Event) -> list[Alert]:
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
