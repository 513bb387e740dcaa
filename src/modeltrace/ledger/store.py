"""The storage interface of the log, and :func:`open_store` to pick SQLite or PostgreSQL from a URL.

Two halves, kept apart on purpose:

* the **public log** — ``entries`` (leaf bytes and search columns), ``dedup`` (leaf hash → index),
  ``subjects``, ``tiles`` (C2SP tlog-tiles hash tiles, one row per tile at its current width),
  ``checkpoints`` (every signed checkpoint, by size) and ``log_state`` (the latest one, the row a writer
  locks); ``keys`` is the organisation-key registry derived from ``org.key`` entries. All of it can be
  published or mirrored; ``verify`` re-derives all of it from the leaves.
* the owner's **evidence store** — ``evidence_secrets`` (salt and value behind each commitment),
  ``evidence_blobs`` (file lists, access records, manifests), ``evidence_keys`` (the log's signing key,
  pseudonym keys per month). Nothing public is derived from it; deleting a row is crypto-shredding.

A batch is written in one transaction (:meth:`Store.write`): the log state is locked, entries, evidence,
tiles and the new signed checkpoint are written, and the checkpoint row is advanced with a
compare-and-swap on the old size and root, then committed. A crash at any point leaves either the old
state or the new one, never a checkpoint without its entries; acknowledgements are sent only after the
commit returns. One writer process per log is enforced (:meth:`Store.acquire_writer`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from modeltrace.ledger.keys import KeyRecord
from modeltrace.ledger.log_errors import StoreError
from modeltrace.ledger.tiles import TileRef

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LogState:
    """The latest signed checkpoint and what it commits to."""

    origin: str
    vkey: str
    size: int
    root: bytes
    checkpoint: bytes


@dataclass(frozen=True)
class EntryRow:
    """A stored entry: the leaf bytes and the search columns derived from them."""

    index: int
    leaf: bytes
    type: str
    kid: str
    stmt: str


@dataclass(frozen=True)
class NewEntry:
    index: int
    leaf: bytes
    leaf_hash: bytes
    type: str
    kid: str
    stmt: str
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class SecretRow:
    stmt: str
    name: str
    salt: bytes
    value: bytes  # JCS


@dataclass(frozen=True)
class BlobRow:
    stmt: str
    kind: str
    data: bytes


@dataclass(frozen=True)
class TileRow:
    level: int
    index: int
    width: int
    data: bytes


@dataclass(frozen=True)
class CheckpointRow:
    size: int
    note: bytes
    cosigned: bytes | None


class WriteTransaction(ABC):
    """One append batch, inside a database transaction that holds the log state locked."""

    @abstractmethod
    def state(self) -> LogState: ...

    @abstractmethod
    def entry(self, index: int) -> EntryRow | None: ...

    @abstractmethod
    def find(self, leaf_hash: bytes) -> int | None: ...

    def find_many(self, leaf_hashes: Sequence[bytes]) -> dict[bytes, int]:
        """The stored index of each of ``leaf_hashes`` that the log already holds (absent ones left out)."""
        found: dict[bytes, int] = {}
        for digest in leaf_hashes:
            index = self.find(digest)
            if index is not None:
                found[digest] = index
        return found

    @abstractmethod
    def key_records(self) -> list[KeyRecord]: ...

    @abstractmethod
    def tile(self, level: int, index: int) -> bytes | None: ...

    @abstractmethod
    def add_entries(self, entries: Sequence[NewEntry]) -> None: ...

    @abstractmethod
    def add_evidence(self, secrets: Sequence[SecretRow], blobs: Sequence[BlobRow]) -> None: ...

    @abstractmethod
    def put_keys(self, records: Sequence[KeyRecord]) -> None: ...

    @abstractmethod
    def put_tiles(self, tiles: Mapping[TileRef, bytes]) -> None: ...

    @abstractmethod
    def add_checkpoint(self, size: int, note: bytes) -> None: ...

    @abstractmethod
    def advance(self, old: LogState, new: LogState) -> None:
        """Compare-and-swap the log state from ``old`` to ``new``; :class:`WriterConflictError` if moved."""


class Store(ABC):
    """A log's database: the public log tables and the owner's evidence tables."""

    url: str
    _crash_hook: Callable[[str], None] | None = None

    def set_crash_hook(self, hook: Callable[[str], None] | None) -> None:
        """A test hook called at named points inside a write (``hook(step)``), to inject crashes."""
        self._crash_hook = hook

    def crash_point(self, step: str) -> None:
        if self._crash_hook is not None:
            self._crash_hook(step)

    # -- lifecycle ---------------------------------------------------------------------------------
    @abstractmethod
    def create(self, state: LogState, log_secret: bytes, created: int) -> None:
        """Create the schema and the first (size 0) state; refuses an existing log."""

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def acquire_writer(self) -> None:
        """Become the log's only writer; :class:`WriterConflictError` if another process is."""

    @abstractmethod
    def write(self) -> AbstractContextManager[WriteTransaction]:
        """A write transaction: committed when the block exits normally, rolled back otherwise."""

    @abstractmethod
    def close(self) -> None: ...

    # -- public log --------------------------------------------------------------------------------
    @abstractmethod
    def state(self) -> LogState: ...

    @abstractmethod
    def entry(self, index: int) -> EntryRow | None: ...

    @abstractmethod
    def entries(self, start: int, end: int) -> Iterator[EntryRow]: ...

    @abstractmethod
    def find(self, leaf_hash: bytes) -> int | None: ...

    @abstractmethod
    def dedup(self) -> Iterator[tuple[bytes, int]]: ...

    @abstractmethod
    def subjects(self) -> Iterator[tuple[str, int]]: ...

    @abstractmethod
    def tile(self, level: int, index: int) -> TileRow | None: ...

    @abstractmethod
    def tiles(self) -> Iterator[TileRow]: ...

    @abstractmethod
    def checkpoints(self) -> Iterator[CheckpointRow]: ...

    @abstractmethod
    def checkpoint(self, size: int) -> CheckpointRow | None:
        """The checkpoint of tree size ``size`` (one keyed lookup), or ``None``."""

    @abstractmethod
    def cosigned_checkpoints(self, *, below: int, above: int) -> Iterator[CheckpointRow]:
        """Checkpoints that carry a cosigned copy, of sizes in ``(above, below)``, largest first."""

    @abstractmethod
    def add_cosigned(self, size: int, note: bytes) -> None:
        """Store a cosigned copy of the checkpoint of ``size`` (witness cosignatures gathered later)."""

    @abstractmethod
    def key_records(self) -> list[KeyRecord]: ...

    @abstractmethod
    def search(
        self,
        *,
        entry_type: str | None = None,
        kid: str | None = None,
        org: str | None = None,
        subject: str | None = None,
        start: int = 0,
        limit: int = 100,
    ) -> list[EntryRow]: ...

    # -- evidence store ----------------------------------------------------------------------------
    @abstractmethod
    def secrets(self, stmt: str) -> list[SecretRow]: ...

    @abstractmethod
    def blob(self, stmt: str, kind: str) -> bytes | None: ...

    @abstractmethod
    def evidence_key(self, kind: str, name: str) -> bytes | None: ...

    @abstractmethod
    def put_evidence_key(self, kind: str, name: str, secret: bytes, created: int) -> bytes:
        """Store a key unless one exists; returns the stored one (so two callers agree)."""

    @abstractmethod
    def shred(
        self,
        *,
        stmt: str | None = None,
        name: str | None = None,
        kind: str | None = None,
        key: tuple[str, str] | None = None,
    ) -> int:
        """Delete evidence: a secret (stmt, name), a blob (stmt, kind) or a key (kind, name)."""


def open_store(db: str | Path) -> Store:
    """``postgresql://…`` (``?schema=NAME`` picks the schema) or a SQLite file path / ``sqlite:///path``."""
    text = str(db)
    if text.startswith(("postgresql://", "postgres://")):
        from modeltrace.ledger.store_postgres import PostgresStore

        return PostgresStore(text)
    if text.startswith("sqlite://"):
        text = text[len("sqlite://") :]
        if not text.startswith("/"):
            raise StoreError(f"{db}: use sqlite:///absolute/path or a plain file path")
    if "://" in text:
        raise StoreError(f"{db}: unsupported database URL (use a SQLite path or postgresql://…)")
    from modeltrace.ledger.store_sqlite import SqliteStore

    return SqliteStore(Path(text))
