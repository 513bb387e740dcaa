"""``monitor run``: logs → detectors → alerts, resumable (state in SQLite) and able to follow growing files.

Order of work per event: advance the stream clock (at each new hour of event time every detector's
:meth:`~.detectors.base.Detector.tick` runs, for group-level scoring), then every detector observes the
event. Every ``commit_every`` events, at the end of the input and at each poll, the state store commits
progress, aggregates and new alerts in one transaction; only then are the new alerts appended to the
alerts file. On start the alerts file is reconciled with the store (a torn last line is cut, alerts the
store has and the file lacks are appended), so a kill at any point neither loses nor repeats an alert.

In follow mode a file is read again only when it grew and ends with a newline (a writer mid-line is
waited for, not reported as a malformed record); the events already consumed are skipped by count.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from modeltrace.monitor.alerts import Alert
from modeltrace.monitor.detectors.base import Context, Detector
from modeltrace.monitor.events import Event
from modeltrace.monitor.features import digest
from modeltrace.monitor.ingest import ingest, log_files
from modeltrace.monitor.ipintel import IpIntel, enrich
from modeltrace.monitor.report import IngestReport
from modeltrace.monitor.state import StateStore

HOUR = 3600.0


def find_context(paths: Iterable[Path]) -> Path | None:
    """``context/`` next to (or above) the logs, as the simulator writes it."""
    for path in paths:
        for parent in [path, *path.resolve().parents][:4]:
            if (parent / "context").is_dir():
                return parent / "context"
    return None


class Monitor:
    def __init__(
        self,
        detectors: list[Detector],
        store: StateStore,
        alerts_path: Path | None = None,
        *,
        intel: IpIntel | None = None,
        commit_every: int = 20000,
        on_alert: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.detectors = detectors
        self.store = store
        self.alerts_path = alerts_path
        self.intel = intel
        self.commit_every = commit_every
        self.on_alert = on_alert
        self.report = IngestReport()
        self.progress = store.progress()
        self.hour = float(store.meta("hour", "0") or 0)
        self.events = 0
        self._pending: list[Alert] = []
        self._campaigns = Detector()
        self._campaigns.name = "_campaigns"
        for detector in [*detectors, self._campaigns]:
            store.load(detector)
        self._reconcile()

    # -- alerts file ---------------------------------------------------------------------------------
    def _reconcile(self) -> None:
        if self.alerts_path is None:
            return
        seen: set[str] = set()
        if self.alerts_path.exists():
            data = self.alerts_path.read_bytes()
            cut = data.rfind(b"\n") + 1
            if cut < len(data):
                with self.alerts_path.open("r+b") as handle:
                    handle.truncate(cut)
            for line in data[:cut].splitlines():
                seen.add(json.loads(line)["id"])
        missing = [a for a in self.store.alerts() if a["id"] not in seen]
        self._append(missing)

    def _append(self, alerts: list[dict[str, Any]]) -> None:
        if self.alerts_path is None or not alerts:
            return
        with self.alerts_path.open("a", encoding="utf-8") as handle:
            for alert in alerts:
                handle.write(json.dumps(alert, ensure_ascii=False, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    # -- processing ----------------------------------------------------------------------------------
    def _campaign(self, alert: Alert) -> None:
        members = alert.accounts or [f"principal:{p}" for p in alert.principals]
        rows = self._campaigns.rows
        known = sorted({str(rows[m]["c"]) for m in members if m in rows})
        campaign = known[0] if known else "cmp-" + digest(alert.id)
        for member in members:
            if member not in rows or rows[member]["c"] != campaign:
                self._campaigns.row(member)["c"] = campaign
        alert.campaign = campaign

    def _emit(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._campaign(alert)
            self._pending.append(alert)

    def _tick(self, now: float) -> None:
        for detector in self.detectors:
            self._emit(detector.tick(now))

    def process(self, stream: Iterable[tuple[str, Event]]) -> None:
        for path, event in stream:
            hour = (event.ts // HOUR) * HOUR
            if hour > self.hour:
                if self.hour:
                    self._tick(hour)
                self.hour = hour
            for detector in self.detectors:
                found = detector.observe(event)
                if found:
                    self._emit(found)
            count, _ = self.progress.get(path, (0, None))
            self.progress[path] = (count + 1, event.event_id)
            self.events += 1
            if self.events % self.commit_every == 0:
                self.commit()

    def finish(self) -> None:
        """End of the input: score groups on what was seen, then commit."""
        self._tick(self.hour + HOUR)
        self.commit()

    def commit(self) -> None:
        fresh = self.store.commit(
            [*self.detectors, self._campaigns], self.progress, self._pending, {"hour": repr(self.hour)}
        )
        self._pending = []
        self._append(fresh)
        if self.on_alert is not None:
            for alert in fresh:
                self.on_alert(alert)

    # -- input ---------------------------------------------------------------------------------------
    def _file_events(self, path: Path) -> Iterator[tuple[str, Event]]:
        key = str(path)
        skip, last_id = self.progress.get(key, (0, None))
        events: Iterable[Event] = ingest([path], report=self.report if skip == 0 else IngestReport())
        if self.intel is not None:
            events = enrich(events, self.intel)
        for index, event in enumerate(events):
            if index < skip:
                if index == skip - 1 and last_id is not None and event.event_id != last_id:
                    raise RuntimeError(f"{path}: changed since it was read (event {skip} is not {last_id})")
                continue
            yield key, event

    def read(self, paths: list[Path], only: set[str] | None = None) -> int:
        """Read every file (or only those in ``only``) from where it stopped, merged by time."""
        before = self.events
        files = [p for p in log_files(paths) if only is None or str(p) in only]
        streams = [self._file_events(p) for p in files]
        self.process(heapq.merge(*streams, key=lambda item: item[1].ts))
        self.commit()
        return self.events - before

    def follow(self, paths: list[Path], poll: float = 1.0, idle_exit: float | None = None) -> None:
        sizes: dict[str, int] = {}
        idle_since = time.monotonic()
        while True:
            changed: set[str] = set()
            for path in log_files(paths):
                try:
                    size = path.stat().st_size
                except OSError:
                    continue
                if size != sizes.get(str(path)) and _ends_with_newline(path, size):
                    sizes[str(path)] = size
                    changed.add(str(path))
            if changed and self.read(paths, changed):
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                self.finish()
                return
            time.sleep(poll)


def _ends_with_newline(path: Path, size: int) -> bool:
    if path.suffix == ".gz" or size == 0:
        return size > 0
    with path.open("rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) == b"\n"


def build(
    paths: list[Path],
    state: Path | None,
    alerts: Path | None,
    detectors: Callable[[Context], list[Detector]],
    context_dir: Path | None = None,
    on_alert: Callable[[dict[str, Any]], None] | None = None,
) -> Monitor:
    context_dir = context_dir or find_context(paths)
    context = Context.from_dir(context_dir)
    intel_path = context_dir / "ip_intel.csv" if context_dir else None
    intel = IpIntel.from_csv(intel_path) if intel_path is not None and intel_path.is_file() else None
    store = StateStore(state if state is not None else ":memory:")
    return Monitor(detectors(context), store, alerts, intel=intel, on_alert=on_alert)
