"""The SQLite store: the default, one file per log.

WAL journal with ``synchronous=FULL``: a commit returns only after the WAL is fsync'd, so an
acknowledged batch survives a crash or power loss; readers never block the writer. One writer process:
an exclusive ``flock`` on ``<db>.writer`` held for the writer's lifetime (released by the kernel if the
process dies, so a killed writer never wedges the log); the write transaction is ``BEGIN IMMEDIATE``
and the state row is advanced by compare-and-swap, so even a writer that bypassed the lock could not
sign over another's checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from modeltrace.ledger._sql import SqlStore, SqlTransaction, refuse_second_writer
from modeltrace.ledger.log_errors import StoreError
from modeltrace.ledger.store import LogState


class SqliteStore(SqlStore):
    driver_errors = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.url = str(self.path)
        self._connection: sqlite3.Connection | None = None
        self._writer_lock: IO[bytes] | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            try:
                connection = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=30
                )
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=FULL")
                connection.execute("PRAGMA busy_timeout=30000")
            except sqlite3.Error as error:
                raise StoreError(f"{self.path}: cannot open SQLite database: {error}") from None
            self._connection = connection
        return self._connection

    def _cursor(self) -> sqlite3.Cursor:
        return self._connect().cursor()

    def exists(self) -> bool:
        if not self.path.exists():
            return False
        row = self._one("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'log_state'")
        return row is not None

    def create(self, state: LogState, log_secret: bytes, created: int) -> None:
        if self.exists():
            raise StoreError(f"{self.path}: a log already exists here")
        with self._lock:
            connection = self._connect()
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                for statement in self.schema_statements():
                    cursor.execute(statement)
                self._insert_state(cursor, state, log_secret, created)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        # The database holds the log's private key and the evidence: owner-only, like a key file.
        with contextlib.suppress(OSError):
            self.path.chmod(0o600)

    def state_for_update_sql(self) -> str:
        # BEGIN IMMEDIATE already holds SQLite's write lock for the whole transaction.
        return "SELECT origin, vkey, size, root, checkpoint FROM log_state WHERE id = 1"

    def acquire_writer(self) -> None:
        if self._writer_lock is not None:
            return
        lock_path = self.path.with_name(self.path.name + ".writer")
        handle = lock_path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise refuse_second_writer(self.url) from None
        self._writer_lock = handle

    @contextlib.contextmanager
    def write(self) -> Iterator[SqlTransaction]:
        with self._lock:
            cursor = self._connect().cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                raise StoreError(f"{self.path}: cannot start a write: {error}") from None
            try:
                yield SqlTransaction(self, cursor)
                self.crash_point("commit")
                cursor.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    cursor.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if self._writer_lock is not None:
                self._writer_lock.close()  # closing the descriptor releases the flock
                self._writer_lock = None
