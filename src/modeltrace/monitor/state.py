"""The monitor's durable state in one SQLite file: per-file progress, detector aggregates, alerts.

Everything a restart needs is written in one transaction per commit — for each file, how many events
were consumed, the id of the last one (to notice a rewritten file) and where reading resumes (the byte
offset and line of the span being read, and how many of its events were consumed; see
:class:`FileProgress`), every detector row that changed (per-account, per-principal, per-cluster
aggregates as JSON) or was dropped, and the alerts raised since the last
commit (``INSERT OR IGNORE`` on the deterministic alert id, so an alert is stored once however often it
is raised). Events after the last commit are simply read again after a restart, so none is lost and
none is counted twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from modeltrace.monitor.alerts import Alert
from modeltrace.monitor.detectors.base import Detector


class FileProgress(NamedTuple):
    """How far one file was consumed.

    ``events`` in all and the id of the last one; reading resumes at byte ``offset`` (line ``line``),
    skipping the ``skip`` events of that span already consumed. A compressed file cannot be entered in
    the middle: its ``offset`` stays 0 until it was read whole, then holds its size (so a poll reads it
    again only if it changed) and ``skip`` counts its events.
    """

    events: int
    last_id: str | None
    offset: int = 0
    line: int = 1
    skip: int = 0


# json.dumps with separators builds an encoder per call; a commit encodes every changed row
_ENCODE_ROW = json.JSONEncoder(separators=(",", ":")).encode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, events INTEGER NOT NULL, last_id TEXT,
                                  offset INTEGER NOT NULL DEFAULT 0, line INTEGER NOT NULL DEFAULT 1,
                                  skip INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS rows (detector TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                                 PRIMARY KEY (detector, key));
CREATE TABLE IF NOT EXISTS alerts (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
                                   body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StateStore:
    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path)
        self.db.executescript(_SCHEMA)
        # a state file from before offsets were kept: resume it by skipping counted events from byte 0
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(files)")}
        if "skip" not in columns:
            self.db.executescript(
                "ALTER TABLE files ADD COLUMN offset INTEGER NOT NULL DEFAULT 0;"
                "ALTER TABLE files ADD COLUMN line INTEGER NOT NULL DEFAULT 1;"
                "ALTER TABLE files ADD COLUMN skip INTEGER NOT NULL DEFAULT 0;"
                "UPDATE files SET skip = events;"
            )
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def progress(self) -> dict[str, FileProgress]:
        return {
            row[0]: FileProgress(*row[1:])
            for row in self.db.execute("SELECT path, events, last_id, offset, line, skip FROM files")
        }

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def load(self, detector: Detector) -> None:
        detector.rows = {
            key: json.loads(value)
            for key, value in self.db.execute(
                "SELECT key, value FROM rows WHERE detector = ?", (detector.name,)
            )
        }
        detector.dirty.clear()
        detector.after_load()

    def commit(
        self,
        detectors: Iterable[Detector],
        progress: dict[str, FileProgress],
        alerts: list[Alert],
        meta: dict[str, str],
    ) -> list[dict[str, Any]]:
        """Write everything in one transaction; return the alerts that were new (in order)."""
        fresh: list[dict[str, Any]] = []
        with self.db:
            for detector in detectors:
                detector.before_commit()
                self.db.executemany(
                    "INSERT OR REPLACE INTO rows (detector, key, value) VALUES (?, ?, ?)",
                    [
                        (detector.name, key, _ENCODE_ROW(detector.rows[key]))
                        for key in sorted(detector.dirty)
                        if key in detector.rows
                    ],
                )
                detector.dirty.clear()
                self.db.executemany(
                    "DELETE FROM rows WHERE detector = ? AND key = ?",
                    [(detector.name, key) for key in sorted(detector.removed)],
                )
                detector.removed.clear()
            self.db.executemany(
                "INSERT OR REPLACE INTO files (path, events, last_id, offset, line, skip) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(path, *state) for path, state in progress.items()],
            )
            self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
            for alert in alerts:
                body = alert.to_dict()
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO alerts (id, body) VALUES (?, ?)",
                    (alert.id, json.dumps(body, ensure_ascii=False, separators=(",", ":"))),
                )
                if cursor.rowcount:
                    fresh.append(body)
        return fresh

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(body) for (body,) in self.db.execute("SELECT body FROM alerts ORDER BY seq")]
