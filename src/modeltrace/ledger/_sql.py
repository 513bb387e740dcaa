"""The SQL both stores share: one schema and one set of statements, written once with ``?`` placeholders.

SQLite and PostgreSQL differ here only in the blob and 64-bit integer type names, the placeholder
(``%s`` for psycopg), how a write transaction starts and locks the state row, and how a second writer
is refused — the subclasses supply those.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from modeltrace.ledger.keys import KeyRecord
from modeltrace.ledger.log_errors import StoreError, WriterConflictError
from modeltrace.ledger.store import (
    SCHEMA_VERSION,
    BlobRow,
    CheckpointRow,
    EntryRow,
    LogState,
    NewEntry,
    SecretRow,
    Store,
    TileRow,
    WriteTransaction,
)
from modeltrace.ledger.tiles import TileRef

SCHEMA = """
CREATE TABLE log_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    origin TEXT NOT NULL,
    vkey TEXT NOT NULL,
    size {int64} NOT NULL,
    root {blob} NOT NULL,
    checkpoint {blob} NOT NULL,
    schema_version INTEGER NOT NULL
);
CREATE TABLE entries (
    idx {int64} PRIMARY KEY,
    leaf {blob} NOT NULL,
    type TEXT NOT NULL,
    kid TEXT NOT NULL,
    stmt TEXT NOT NULL
);
CREATE INDEX entries_type ON entries (type, idx);
CREATE INDEX entries_kid ON entries (kid, idx);
CREATE TABLE dedup (leaf_hash {blob} PRIMARY KEY, idx {int64} NOT NULL);
CREATE TABLE subjects (digest TEXT NOT NULL, idx {int64} NOT NULL, PRIMARY KEY (digest, idx));
CREATE TABLE tiles (
    level INTEGER NOT NULL,
    idx {int64} NOT NULL,
    width INTEGER NOT NULL,
    data {blob} NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE checkpoints (size {int64} PRIMARY KEY, note {blob} NOT NULL, cosigned {blob});
CREATE TABLE keys (
    kid TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    vkey TEXT NOT NULL,
    status TEXT NOT NULL,
    introduced {int64} NOT NULL,
    ended {int64}
);
CREATE TABLE evidence_secrets (
    stmt TEXT NOT NULL, name TEXT NOT NULL, salt {blob} NOT NULL, value {blob} NOT NULL,
    PRIMARY KEY (stmt, name)
);
CREATE TABLE evidence_blobs (stmt TEXT NOT NULL, kind TEXT NOT NULL, data {blob} NOT NULL,
    PRIMARY KEY (stmt, kind));
CREATE TABLE evidence_keys (kind TEXT NOT NULL, name TEXT NOT NULL, secret {blob} NOT NULL,
    created {int64} NOT NULL, PRIMARY KEY (kind, name));
"""

TABLES = (
    "log_state",
    "entries",
    "dedup",
    "subjects",
    "tiles",
    "checkpoints",
    "keys",
    "evidence_secrets",
    "evidence_blobs",
    "evidence_keys",
)


class Cursor(Protocol):
    def execute(self, sql: Any, params: Any = ...) -> Any: ...

    def executemany(self, sql: Any, params: Any) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


def _state(row: Any) -> LogState:
    return LogState(row[0], row[1], int(row[2]), bytes(row[3]), bytes(row[4]))


def _entry(row: Any) -> EntryRow:
    return EntryRow(int(row[0]), bytes(row[1]), row[2], row[3], row[4])


def _checkpoint(row: Any) -> CheckpointRow:
    return CheckpointRow(int(row[0]), bytes(row[1]), None if row[2] is None else bytes(row[2]))


def _key(row: Any) -> KeyRecord:
    return KeyRecord(row[0], row[1], row[2], row[3], int(row[4]), None if row[5] is None else int(row[5]))


class SqlTransaction(WriteTransaction):
    def __init__(self, store: SqlStore, cursor: Cursor) -> None:
        self._store = store
        self._cursor = cursor

    def _run(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        self._cursor.execute(self._store.sql(sql), params)
        return self._cursor

    def _many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            self._cursor.executemany(self._store.sql(sql), rows)

    def state(self) -> LogState:
        row = self._run(self._store.state_for_update_sql()).fetchone()
        if row is None:
            raise StoreError(f"{self._store.url}: not an initialised log")
        return _state(row)

    def entry(self, index: int) -> EntryRow | None:
        row = self._run("SELECT idx, leaf, type, kid, stmt FROM entries WHERE idx = ?", (index,)).fetchone()
        return None if row is None else _entry(row)

    def find(self, leaf_hash: bytes) -> int | None:
        row = self._run("SELECT idx FROM dedup WHERE leaf_hash = ?", (leaf_hash,)).fetchone()
        return None if row is None else int(row[0])

    def find_many(self, leaf_hashes: Sequence[bytes]) -> dict[bytes, int]:
        # One query per chunk instead of one per leaf: over PostgreSQL the per-leaf round trips were
        # the largest cost of an append batch. Chunks stay under SQLite's old 999-parameter limit.
        found: dict[bytes, int] = {}
        unique = list(dict.fromkeys(leaf_hashes))
        for first in range(0, len(unique), _FIND_CHUNK):
            chunk = unique[first : first + _FIND_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._run(f"SELECT leaf_hash, idx FROM dedup WHERE leaf_hash IN ({marks})", chunk)
            found.update((bytes(row[0]), int(row[1])) for row in rows.fetchall())
        return found

    def key_records(self) -> list[KeyRecord]:
        return [_key(row) for row in self._run(_KEYS_SQL).fetchall()]

    def tile(self, level: int, index: int) -> bytes | None:
        row = self._run("SELECT data FROM tiles WHERE level = ? AND idx = ?", (level, index)).fetchone()
        return None if row is None else bytes(row[0])

    def add_entries(self, entries: Sequence[NewEntry]) -> None:
        insert = self._store.insert_rows
        insert(
            self._cursor,
            "entries",
            ("idx", "leaf", "type", "kid", "stmt"),
            [(e.index, e.leaf, e.type, e.kid, e.stmt) for e in entries],
        )
        self._store.crash_point("entries")
        insert(self._cursor, "dedup", ("leaf_hash", "idx"), [(e.leaf_hash, e.index) for e in entries])
        insert(
            self._cursor,
            "subjects",
            ("digest", "idx"),
            [(subject, e.index) for e in entries for subject in e.subjects],
        )

    def add_evidence(self, secrets: Sequence[SecretRow], blobs: Sequence[BlobRow]) -> None:
        # A duplicate statement carries the same commitments, hence the same salts: keep the first.
        self._many(
            "INSERT INTO evidence_secrets (stmt, name, salt, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [(s.stmt, s.name, s.salt, s.value) for s in secrets],
        )
        self._many(
            "INSERT INTO evidence_blobs (stmt, kind, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(b.stmt, b.kind, b.data) for b in blobs],
        )

    def put_keys(self, records: Sequence[KeyRecord]) -> None:
        self._many(
            "INSERT INTO keys (kid, org, vkey, status, introduced, ended) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kid) DO UPDATE SET status = excluded.status, ended = excluded.ended",
            [(r.kid, r.org, r.vkey, r.status, r.introduced, r.ended) for r in records],
        )

    def put_tiles(self, tiles: Mapping[TileRef, bytes]) -> None:
        self._many(
            "INSERT INTO tiles (level, idx, width, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (level, idx) DO UPDATE SET width = excluded.width, data = excluded.data",
            [(tile.level, tile.index, tile.width, data) for tile, data in sorted(tiles.items())],
        )

    def add_checkpoint(self, size: int, note: bytes) -> None:
        self._run("INSERT INTO checkpoints (size, note) VALUES (?, ?)", (size, note))

    def advance(self, old: LogState, new: LogState) -> None:
        cursor = self._run(
            "UPDATE log_state SET size = ?, root = ?, checkpoint = ? WHERE id = 1 AND size = ? AND root = ?",
            (new.size, new.root, new.checkpoint, old.size, old.root),
        )
        if cursor.rowcount != 1:
            raise WriterConflictError(
                f"{self._store.url}: the log moved past size {old.size} under this writer; refusing to sign"
            )


_FIND_CHUNK = 500
_KEYS_SQL = "SELECT kid, org, vkey, status, introduced, ended FROM keys ORDER BY introduced"


class SqlStore(Store):
    """Everything but connecting, locking and starting a write transaction."""

    placeholder = "?"
    blob_type = "BLOB"
    int64_type = "INTEGER"
    #: the driver's exception classes, reported as one-line :class:`StoreError`\ s
    driver_errors: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # -- dialect hooks -------------------------------------------------------------------------------
    @abstractmethod
    def _cursor(self) -> Cursor: ...

    @abstractmethod
    def state_for_update_sql(self) -> str: ...

    @abstractmethod
    def write(self) -> AbstractContextManager[WriteTransaction]: ...

    def sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def insert_rows(
        self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        """Insert new rows (no conflict handling) in the current transaction; dialects may bulk-load."""
        if rows:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(self.sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"), rows)

    def schema_statements(self) -> list[str]:
        ddl = SCHEMA.format(blob=self.blob_type, int64=self.int64_type)
        return [statement.strip() for statement in ddl.split(";") if statement.strip()]

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            try:
                cursor = self._cursor()
                cursor.execute(self.sql(sql), params)
                return cursor.fetchall()
            except self.driver_errors as error:
                raise StoreError(f"{self.url}: {str(error).strip()[:200]}") from None

    def _one(self, sql: str, params: Sequence[object] = ()) -> Any:
        rows = self._query(sql, params)
        return rows[0] if rows else None

    # -- public log ----------------------------------------------------------------------------------
    def state(self) -> LogState:
        row = self._one("SELECT origin, vkey, size, root, checkpoint FROM log_state WHERE id = 1")
        if row is None:
            raise StoreError(f"{self.url}: not an initialised log")
        return _state(row)

    def entry(self, index: int) -> EntryRow | None:
        row = self._one("SELECT idx, leaf, type, kid, stmt FROM entries WHERE idx = ?", (index,))
        return None if row is None else _entry(row)

    def entries(self, start: int, end: int) -> Iterator[EntryRow]:
        # Pages, so verifying a large log never holds more than one page of leaves.
        position = start
        while position < end:
            rows = self._query(
                "SELECT idx, leaf, type, kid, stmt FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
                (position, min(end, position + 4096)),
            )
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            position = int(rows[-1][0]) + 1

    def find(self, leaf_hash: bytes) -> int | None:
        row = self._one("SELECT idx FROM dedup WHERE leaf_hash = ?", (leaf_hash,))
        return None if row is None else int(row[0])

    def dedup(self) -> Iterator[tuple[bytes, int]]:
        for row in self._query("SELECT leaf_hash, idx FROM dedup ORDER BY idx"):
            yield bytes(row[0]), int(row[1])

    def subjects(self) -> Iterator[tuple[str, int]]:
        for row in self._query("SELECT digest, idx FROM subjects ORDER BY idx, digest"):
            yield row[0], int(row[1])

    def tile(self, level: int, index: int) -> TileRow | None:
        row = self._one(
            "SELECT level, idx, width, data FROM tiles WHERE level = ? AND idx = ?", (level, index)
        )
        return None if row is None else TileRow(int(row[0]), int(row[1]), int(row[2]), bytes(row[3]))

    def tiles(self) -> Iterator[TileRow]:
        for row in self._query("SELECT level, idx, width, data FROM tiles ORDER BY level, idx"):
            yield TileRow(int(row[0]), int(row[1]), int(row[2]), bytes(row[3]))

    def checkpoints(self) -> Iterator[CheckpointRow]:
        for row in self._query("SELECT size, note, cosigned FROM checkpoints ORDER BY size"):
            yield _checkpoint(row)

    def checkpoint(self, size: int) -> CheckpointRow | None:
        row = self._one("SELECT size, note, cosigned FROM checkpoints WHERE size = ?", (size,))
        return None if row is None else _checkpoint(row)

    def cosigned_checkpoints(self, *, below: int, above: int) -> Iterator[CheckpointRow]:
        # Pages down the primary key: a log holds a checkpoint per batch, and the caller usually stops
        # at the first one whose cosignatures it accepts.
        while below > above + 1:
            rows = self._query(
                "SELECT size, note, cosigned FROM checkpoints WHERE size < ? AND size > ? "
                "AND cosigned IS NOT NULL ORDER BY size DESC LIMIT 64",
                (below, above),
            )
            if not rows:
                return
            for row in rows:
                yield _checkpoint(row)
            below = int(rows[-1][0])

    def add_cosigned(self, size: int, note: bytes) -> None:
        with self._lock:
            cursor = self._cursor()
            cursor.execute(self.sql("UPDATE checkpoints SET cosigned = ? WHERE size = ?"), (note, size))
            self._commit_if_needed()

    def _commit_if_needed(self) -> None:
        """Autocommit dialects need nothing; others commit here."""

    def key_records(self) -> list[KeyRecord]:
        return [_key(row) for row in self._query(_KEYS_SQL)]

    def search(
        self,
        *,
        entry_type: str | None = None,
        kid: str | None = None,
        org: str | None = None,
        subject: str | None = None,
        start: int = 0,
        limit: int = 100,
    ) -> list[EntryRow]:
        clauses, params = ["e.idx >= ?"], [start]
        joins = ""
        if entry_type:
            clauses.append("e.type = ?")
            params.append(entry_type)  # type: ignore[arg-type]
        if kid:
            clauses.append("e.kid = ?")
            params.append(kid)  # type: ignore[arg-type]
        if org:
            joins += " JOIN keys k ON k.kid = e.kid"
            clauses.append("k.org = ?")
            params.append(org)  # type: ignore[arg-type]
        if subject:
            joins += " JOIN subjects s ON s.idx = e.idx"
            clauses.append("s.digest = ?")
            params.append(subject)  # type: ignore[arg-type]
        sql = (
            f"SELECT e.idx, e.leaf, e.type, e.kid, e.stmt FROM entries e{joins} "
            f"WHERE {' AND '.join(clauses)} ORDER BY e.idx LIMIT ?"
        )
        return [_entry(row) for row in self._query(sql, [*params, limit])]

    # -- evidence ------------------------------------------------------------------------------------
    def secrets(self, stmt: str) -> list[SecretRow]:
        rows = self._query(
            "SELECT stmt, name, salt, value FROM evidence_secrets WHERE stmt = ? ORDER BY name", (stmt,)
        )
        return [SecretRow(row[0], row[1], bytes(row[2]), bytes(row[3])) for row in rows]

    def blob(self, stmt: str, kind: str) -> bytes | None:
        row = self._one("SELECT data FROM evidence_blobs WHERE stmt = ? AND kind = ?", (stmt, kind))
        return None if row is None else bytes(row[0])

    def evidence_key(self, kind: str, name: str) -> bytes | None:
        row = self._one("SELECT secret FROM evidence_keys WHERE kind = ? AND name = ?", (kind, name))
        return None if row is None else bytes(row[0])

    def put_evidence_key(self, kind: str, name: str, secret: bytes, created: int) -> bytes:
        with self._lock:
            cursor = self._cursor()
            cursor.execute(
                self.sql(
                    "INSERT INTO evidence_keys (kind, name, secret, created) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING"
                ),
                (kind, name, secret, created),
            )
            self._commit_if_needed()
        stored = self.evidence_key(kind, name)
        assert stored is not None
        return stored

    def shred(
        self,
        *,
        stmt: str | None = None,
        name: str | None = None,
        kind: str | None = None,
        key: tuple[str, str] | None = None,
    ) -> int:
        if key is not None:
            sql, params = "DELETE FROM evidence_keys WHERE kind = ? AND name = ?", key
        elif stmt is not None and name is not None:
            sql, params = "DELETE FROM evidence_secrets WHERE stmt = ? AND name = ?", (stmt, name)
        elif stmt is not None and kind is not None:
            sql, params = "DELETE FROM evidence_blobs WHERE stmt = ? AND kind = ?", (stmt, kind)
        else:
            raise StoreError("shred needs (stmt, name), (stmt, kind) or a key")
        with self._lock:
            cursor = self._cursor()
            cursor.execute(self.sql(sql), params)
            count = cursor.rowcount
            self._commit_if_needed()
        return int(count)

    def _insert_state(self, cursor: Cursor, state: LogState, log_secret: bytes, created: int) -> None:
        cursor.execute(
            self.sql(
                "INSERT INTO log_state (id, origin, vkey, size, root, checkpoint, schema_version) "
                "VALUES (1, ?, ?, ?, ?, ?, ?)"
            ),
            (state.origin, state.vkey, state.size, state.root, state.checkpoint, SCHEMA_VERSION),
        )
        cursor.execute(
            self.sql("INSERT INTO checkpoints (size, note) VALUES (?, ?)"), (state.size, state.checkpoint)
        )
        cursor.execute(
            self.sql("INSERT INTO evidence_keys (kind, name, secret, created) VALUES ('log', ?, ?, ?)"),
            (state.origin, log_secret, created),
        )


def refuse_second_writer(url: str) -> WriterConflictError:
    return WriterConflictError(f"{url}: another process is this log's writer; refusing to write")
