"""Access-event batches: who fetched which artifact, from where and why — provable, but pseudonymous.

One ``access.event`` entry covers a batch of records read from a JSON Lines access log::

    {"time": 1767225600 | "2026-01-01T00:00:00Z", "actor": "alice@example.com", "artifact": "…",
     "country": "DE", "purpose": "evaluation", "contract": "C-42", "action": "download"}

People appear only as keyed pseudonyms ``HMAC-SHA256(org pseudonym key for the month, actor)``: the
owner can re-identify a person (recompute the pseudonym for a name under investigation) while the key
exists; destroying the month's key (crypto-shredding) ends that for good, and every proof stays valid
because the log never held the key. Each record is a canonical JSON leaf with its own random salt, so
a record of low-entropy fields cannot be guessed back from the batch root; the entry publishes the
root, the record count, the artifacts and counts by country and purpose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeltrace.ledger import jcs
from modeltrace.ledger.commitments import ItemTree
from modeltrace.ledger.entry_types import country, text, token
from modeltrace.ledger.errors import FormatError
from modeltrace.ledger.log_errors import EntryError

PSEUDONYM_DOMAIN = b"aiprov/pseudonym/v1\n"
MAX_RECORDS = 1_000_000
MAX_LINE_BYTES = 16384
_FIELDS = frozenset({"time", "actor", "artifact", "country", "purpose", "contract", "action"})


def pseudonym(key: bytes, actor: str) -> str:
    return hmac.new(key, PSEUDONYM_DOMAIN + actor.encode("utf-8"), hashlib.sha256).hexdigest()


def period_of(timestamp: int) -> str:
    """The pseudonym rotation period of a record: its UTC month."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m")


def _parse_time(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**40:
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FormatError(where, f"time {value[:40]!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise FormatError(where, f"time {value[:40]!r} has no time zone")
        return int(parsed.timestamp())
    raise FormatError(where, "time must be Unix seconds or an ISO 8601 string")


@dataclass(frozen=True)
class AccessRecord:
    time: int
    actor: str
    artifact: str
    country: str
    purpose: str
    contract: str | None = None
    action: str = "download"


def read_access_log(path: Path) -> list[AccessRecord]:
    """Records from a JSON Lines access log, each checked; errors name the file and line."""
    records: list[AccessRecord] = []
    try:
        handle = path.open("rb")
    except OSError as error:
        raise FormatError(str(path), f"cannot read access log: {error.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            if len(raw) > MAX_LINE_BYTES:
                raise FormatError(where, f"line longer than {MAX_LINE_BYTES} bytes")
            if not raw.strip():
                continue
            if len(records) >= MAX_RECORDS:
                raise FormatError(str(path), f"more than {MAX_RECORDS} records in one batch")
            try:
                item = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise FormatError(where, "not a JSON object") from None
            records.append(_record(item, where))
    if not records:
        raise FormatError(str(path), "access log has no records")
    return records


def _record(item: Any, where: str) -> AccessRecord:
    if not isinstance(item, dict):
        raise FormatError(where, "not a JSON object")
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise FormatError(where, f"unknown field(s) {', '.join(unknown)}")
    missing = sorted({"time", "actor", "artifact", "country", "purpose"} - set(item))
    if missing:
        raise FormatError(where, f"missing field(s) {', '.join(missing)}")
    try:
        text(256)(item["actor"], "actor")
        text(300)(item["artifact"], "artifact")
        country(item["country"], "country")
        token(item["purpose"], "purpose")
        if item.get("contract") is not None:
            text(128)(item["contract"], "contract")
        token(item.get("action", "download"), "action")
    except EntryError as error:
        raise FormatError(where, error.problem) from None
    return AccessRecord(
        _parse_time(item["time"], where),
        item["actor"],
        item["artifact"],
        item["country"],
        item["purpose"],
        item.get("contract"),
        item.get("action", "download"),
    )


@dataclass(frozen=True)
class AccessBatch:
    """Pseudonymised record leaves, their tree, and the public aggregates of the entry."""

    leaves: tuple[bytes, ...]
    pub: dict[str, object]

    def tree(self) -> ItemTree:
        return ItemTree(list(self.leaves))

    def evidence(self) -> bytes:
        return b"\n".join(self.leaves) + b"\n"

    @staticmethod
    def leaves_from_evidence(data: bytes) -> list[bytes]:
        return [line for line in data.split(b"\n") if line]


def build_batch(records: Sequence[AccessRecord], key_for: Callable[[str], bytes], time: int) -> AccessBatch:
    """Pseudonymise ``records`` with the key of each record's month and aggregate the public counts."""
    leaves: list[bytes] = []
    for record in records:
        month = period_of(record.time)
        leaf: dict[str, object] = {
            "action": record.action,
            "actor": pseudonym(key_for(month), record.actor),
            "artifact": record.artifact,
            "country": record.country,
            "period": month,
            "purpose": record.purpose,
            "salt": secrets.token_hex(16),
            "time": record.time,
        }
        if record.contract is not None:
            leaf["contract"] = record.contract
        leaves.append(jcs.dumps(leaf))
    tree = ItemTree(leaves)
    artifacts = sorted({record.artifact for record in records})
    if len(artifacts) > 16:
        raise FormatError(
            "access batch", f"{len(artifacts)} artifacts; split the batch (at most 16 per entry)"
        )
    pub: dict[str, object] = {
        "time": time,
        "batch_root": tree.root.hex(),
        "records": len(records),
        "artifacts": artifacts,
        "by_country": dict(sorted(Counter(record.country for record in records).items())),
        "by_purpose": dict(sorted(Counter(record.purpose for record in records).items())),
        "periods": sorted({period_of(record.time) for record in records}),
    }
    return AccessBatch(tuple(leaves), pub)
