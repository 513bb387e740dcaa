"""The PostgreSQL store: the shared log, same schema as SQLite, in its own schema (``?schema=NAME``).

Each batch locks the single ``log_state`` row with ``SELECT … FOR UPDATE`` and advances it with a
compare-and-swap on the old size and root, so two integrators can never both sign a checkpoint of the
same size. A second writer *process* is refused up front by a session-level advisory lock keyed on the
schema (``pg_try_advisory_lock``), which PostgreSQL releases when the holder's connection ends, however
it ends. There is no per-leaf queue table: a batch goes straight from the caller to ``entries``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from modeltrace.ledger._sql import Cursor, SqlStore, SqlTransaction, refuse_second_writer
from modeltrace.ledger.log_errors import StoreError
from modeltrace.ledger.store import LogState

DEFAULT_SCHEMA = "modeltrace_ledger"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def split_url(url: str) -> tuple[str, str]:
    """(connection URL without our ``schema`` parameter, schema name)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = DEFAULT_SCHEMA
    kept: list[tuple[str, str]] = []
    for name, value in query:
        if name == "schema":
            schema = value
        else:
            kept.append((name, value))
    if _SCHEMA_NAME.fullmatch(schema) is None:
        raise StoreError(f"schema name {schema[:64]!r} must match [a-z_][a-z0-9_]*")
    return urlunsplit(parts._replace(query=urlencode(kept))), schema


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class PostgresStore(SqlStore):
    placeholder = "%s"
    blob_type = "BYTEA"
    int64_type = "BIGINT"
    driver_errors = (psycopg.Error,)

    def __init__(self, url: str) -> None:
        super().__init__()
        self._conninfo, self.schema = split_url(url)
        self.url = _redact(url)
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._writer = False

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            try:
                connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
                connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            except psycopg.Error as error:
                raise StoreError(
                    f"{self.url}: cannot connect to PostgreSQL: {str(error).strip()[:200]}"
                ) from None
            self._connection = connection
            self._writer = False
        return self._connection

    def _cursor(self) -> psycopg.Cursor[tuple[object, ...]]:
        return self._connect().cursor()

    def exists(self) -> bool:
        row = self._one(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = 'log_state'",
            (self.schema,),
        )
        return row is not None

    def create(self, state: LogState, log_secret: bytes, created: int) -> None:
        if self.exists():
            raise StoreError(f"{self.url} (schema {self.schema}): a log already exists here")
        with self._lock:
            connection = self._connect()
            try:
                with connection.transaction():
                    cursor = connection.cursor()
                    cursor.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                    )
                    for statement in self.schema_statements():
                        cursor.execute(statement.encode())
                    self._insert_state(cursor, state, log_secret, created)
            except psycopg.Error as error:
                raise StoreError(f"{self.url}: cannot create the log: {str(error).strip()[:200]}") from None

    def insert_rows(
        self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        # COPY streams a batch's rows in one statement; executemany (even pipelined) pays a bind and
        # execute per row, most of the PostgreSQL cost of an append once the dedup lookups were batched.
        if not rows:
            return
        assert isinstance(cursor, psycopg.Cursor)
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(column) for column in columns)
        )
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def state_for_update_sql(self) -> str:
        return "SELECT origin, vkey, size, root, checkpoint FROM log_state WHERE id = 1 FOR UPDATE"

    def _lock_key(self) -> int:
        digest = hashlib.sha256(b"modeltrace.ledger.writer\n" + self.schema.encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def acquire_writer(self) -> None:
        with self._lock:
            if self._writer:
                return
            row = self._one("SELECT pg_try_advisory_lock(?)", (self._lock_key(),))
            if not row or not row[0]:
                raise refuse_second_writer(f"{self.url} (schema {self.schema})")
            self._writer = True

    @contextlib.contextmanager
    def write(self) -> Iterator[SqlTransaction]:
        with self._lock:
            connection = self._connect()
            try:
                with connection.transaction():
                    transaction = SqlTransaction(self, connection.cursor())
                    yield transaction
                    self.crash_point("commit")
            except psycopg.Error as error:
                raise StoreError(f"{self.url}: write failed: {str(error).strip()[:200]}") from None

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()  # ends the session, releasing the advisory lock
                self._connection = None
            self._writer = False

    def drop(self) -> None:
        """Drop the log's schema and everything in it (tests and tear-down only)."""
        with self._lock:
            self._connect().execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )
