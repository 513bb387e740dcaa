"""The monitor's durable state in one SQLite file: per-file progress, detector aggregates, alerts.

Everything a restart needs is written in one transaction per commit — how many events of each file
were consumed (and the id of the last one, to notice a rewritten file), every detector row that changed
(per-account, per-principal, per-cluster aggregates as JSON), and the alerts raised since the last
commit (``INSERT OR IGNORE`` on the deterministic alert id, so an alert is stored once however often it
is raised). Events after the last commit are simply read again after a restart, so none is lost and
none is counted twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modeltrace.monitor.alerts import Alert
from modeltrace.monitor.detectors.base import Detector

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, events INTEGER NOT NULL, last_id TEXT);
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
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def progress(self) -> dict[str, tuple[int, str | None]]:
        return {p: (n, last) for p, n, last in self.db.execute("SELECT path, events, last_id FROM files")}

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

    def commit(
        self,
        detectors: Iterable[Detector],
        progress: dict[str, tuple[int, str | None]],
        alerts: list[Alert],
        meta: dict[str, str],
    ) -> list[dict[str, Any]]:
        """Write everything in one transaction; return the alerts that were new (in order)."""
        fresh: list[dict[str, Any]] = []
        with self.db:
            for detector in detectors:
                self.db.executemany(
                    "INSERT OR REPLACE INTO rows (detector, key, value) VALUES (?, ?, ?)",
                    [
                        (detector.name, key, json.dumps(detector.rows[key], separators=(",", ":")))
                        for key in sorted(detector.dirty)
                        if key in detector.rows
                    ],
                )
                detector.dirty.clear()
            self.db.executemany(
                "INSERT OR REPLACE INTO files (path, events, last_id) VALUES (?, ?, ?)",
                [(path, n, last) for path, (n, last) in progress.items()],
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
