"""``monitor run``: logs → featurizer → detectors → alerts, resumable (state in SQLite) and able to follow
growing files.

Order of work per event: advance the stream clock (at each new hour of event time every detector's
:meth:`~.detectors.base.Detector.tick` runs, for group-level scoring); an API request is featurized once
(:mod:`.featurize`) and handed with its features to the detectors that want requests, an infrastructure
event to those that want infrastructure. Every ``commit_every`` events, at the end of the input and at
each poll, the state store commits progress, aggregates and new alerts in one transaction; only then are
the new alerts appended to the alerts file. On start the alerts file is reconciled with the store (a torn
last line is cut, alerts the store has and the file lacks are appended), so a kill at any point neither
loses nor repeats an alert.

Files are read in *spans* (:class:`~.records.FileSpan`): the first read of a file is the span up to its
size; in follow mode each poll reads only the bytes appended since, up to the last complete line (a writer
mid-line is waited for, not reported as a malformed record). Progress is the span's start and how many of
its events were consumed, so a restart re-reads at most one span. Compressed files are read whole, once
per change of size.

Alerts are grouped into campaigns here. A campaign is a set of *nodes* — accounts, principals and link
keys (:attr:`~.alerts.Alert.links`). An alert joins the campaign that holds most of the nodes it names
(ties: the smaller id), or starts one, and the nodes it names that no campaign holds yet join it. An
alert that names a client script (a request fingerprint specific enough to name one,
:func:`~.featurize.names_one_script`) counts only its scripts: it joins the campaign holding them, or
starts one, whoever holds its accounts — accounts are also named by alerts on templates and schedules
several operators share, and the first of those to name an account must not decide its campaign for
good. An alert on shared infrastructure (a proxy /24: ``SHARED_INFRASTRUCTURE``) joins a campaign the
same way but claims only its link key, not its accounts: operators buy exits from the same providers,
people sit behind them too, and such alerts, raised early, decided the campaign of everyone behind
those exits. Nodes never move and campaigns never merge: merging on shared nodes chained the campaigns of
the full-scale simulation, through templates and schedules that several operators' crowds share, into
one campaign of 40,000 accounts, and absorbing only the campaigns an alert names half of still chained
ten of the ci set's fourteen campaigns into one. Alerts written by versions that merged list the ids they
merged (:attr:`~.alerts.Alert.merged`); :func:`~.alerts.campaign_of` folds them for a reader. Each
alert lists the accounts it claimed (:attr:`~.alerts.Alert.claimed`): a campaign's members are what its
alerts claimed, each account a member of one campaign. Its ``priority`` is its score scaled by the share of
the accounts it names that other campaigns do not hold yet: an alert most of whose accounts are other
campaigns' members is evidence about those, not a new lead, and a team reads campaigns by priority.
"""

from __future__ import annotations

import gc
import heapq
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from modeltrace.monitor.alerts import Alert
from modeltrace.monitor.detectors.base import Context, Detector
from modeltrace.monitor.events import ApiRequest, Event
from modeltrace.monitor.features import digest
from modeltrace.monitor.featurize import Featurizer, names_one_script
from modeltrace.monitor.ingest import ingest_span, log_files
from modeltrace.monitor.ipintel import IpIntel, enrich
from modeltrace.monitor.records import FileSpan
from modeltrace.monitor.report import IngestReport
from modeltrace.monitor.state import FileProgress, StateStore

HOUR = 3600.0
# link-key prefixes of coordination groups that share infrastructure rather than a client or a template:
# a proxy /24. Not residential exits (``exit:``), shared within a day: a narrower tie, and sparing their
# accounts too lost seed 0 (full scale, the tuning seed) a group and saved no false alert
SHARED_INFRASTRUCTURE = ("net:",)


def find_context(paths: Iterable[Path]) -> Path | None:
    """``context/`` next to (or above) the logs, as the simulator writes it."""
    for path in paths:
        for parent in [path, *path.resolve().parents][:4]:
            if (parent / "context").is_dir():
                return parent / "context"
    return None


class _FileCursor:
    """Where one file stands, updated as its events are processed (a mutable :class:`FileProgress`)."""

    __slots__ = ("events", "last_id", "line", "offset", "skip")

    def __init__(self, state: FileProgress) -> None:
        self.events, self.last_id = state.events, state.last_id
        self.offset, self.line, self.skip = state.offset, state.line, state.skip

    def snapshot(self) -> FileProgress:
        return FileProgress(self.events, self.last_id, self.offset, self.line, self.skip)


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
        freeze_gc: bool = True,
    ) -> None:
        self.detectors = detectors
        self.store = store
        self.alerts_path = alerts_path
        self.intel = intel
        self.commit_every = commit_every
        self.on_alert = on_alert
        self.freeze_gc = freeze_gc
        self.report = IngestReport()
        self.featurizer = Featurizer()
        self.cursors = {path: _FileCursor(state) for path, state in store.progress().items()}
        self.hour = float(store.meta("hour", "0") or 0)
        self.events = 0
        self._pending: list[Alert] = []
        self._campaigns = Detector()
        self._campaigns.name = "_campaigns"
        for detector in [*detectors, self._campaigns]:
            store.load(detector)
        self._reconcile()

    @property
    def progress(self) -> dict[str, FileProgress]:
        return {path: cursor.snapshot() for path, cursor in self.cursors.items()}

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
    def _resolve(self, campaign: str) -> str:
        """The campaign ``campaign`` was merged into, following merges (rows ``merged:<id>``)."""
        rows, seen = self._campaigns.rows, {campaign}
        while (alias := rows.get("merged:" + campaign)) is not None and str(alias["c"]) not in seen:
            # the guard: state from versions that kept an account's row under its bare name could hold
            # an account named "merged:<id>" pointing back at its own campaign
            campaign = str(alias["c"])
            seen.add(campaign)
        return campaign

    def _campaign(self, alert: Alert) -> None:
        members = alert.accounts or [f"principal:{p}" for p in alert.principals]
        nodes = list(dict.fromkeys([*members, *(f"link:{link}" for link in alert.links)]))
        # a node's row is "node:<name>", so an account named like a bookkeeping row ("merged:…") is
        # never read as one
        rows = self._campaigns.rows
        # a client script (a specific request fingerprint) names one operator, where accounts are also
        # named by alerts on templates and schedules that several operators share: an alert that names a
        # script goes where that script is held, or starts a campaign of its own
        scripts = [node for node in nodes if node.startswith("link:") and names_one_script(node[5:])]
        owner: dict[str, str] = {}  # node → the campaign that holds it
        for node in nodes:
            row = rows.get("node:" + node)
            if row is not None:
                owner[node] = self._resolve(str(row["c"]))
        held: dict[str, int] = {}  # campaign → how many of the alert's nodes (scripts) it holds
        for node in scripts or nodes:
            if node in owner:
                held[owner[node]] = held.get(owner[node], 0) + 1
        campaign = min(held, key=lambda c: (-held[c], c)) if held else "cmp-" + digest(alert.id)
        # what the alert adds as a lead: a coordination alert on a template four operators share names
        # one account of each, three of them already in those operators' campaigns, and the campaign
        # it starts is the one person left (on the full-scale sets most of the false alerts were such
        # campaigns). Its priority is its score scaled by the share of the accounts it names that no
        # other campaign holds; its own campaign's accounts count as new, so evidence piling onto a
        # campaign keeps its weight.
        elsewhere = sum(owner.get(node, campaign) != campaign for node in members)
        alert.priority = alert.score * (1 - elsewhere / len(members)) if members else alert.score
        # a proxy /24 is bought from one provider by many operators: such an alert joins the campaign
        # that holds most of it, but its accounts stay free for the alerts that say who they are (their
        # script, their template, their own behaviour)
        shared = bool(alert.links) and alert.links[0].startswith(SHARED_INFRASTRUCTURE)
        claimed: list[str] = []
        for node in [f"link:{link}" for link in alert.links] if shared else nodes:
            if "node:" + node not in rows:
                self._campaigns.row("node:" + node)["c"] = campaign
                if not node.startswith("link:"):
                    claimed.append(node)
        alert.campaign, alert.claimed = campaign, claimed

    def _emit(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._campaign(alert)
            self._pending.append(alert)

    def _tick(self, now: float) -> None:
        for detector in self.detectors:
            self._emit(detector.tick(now))

    def process(self, stream: Iterable[tuple[_FileCursor, Event]]) -> None:
        with _one_blas_thread():
            self._process(stream)

    def _process(self, stream: Iterable[tuple[_FileCursor, Event]]) -> None:
        featurize = self.featurizer.features
        on_request = [d.observe_request for d in self.detectors if d.requests]
        on_infra = [d.observe_infra for d in self.detectors if d.infra]
        emit, commit_every = self._emit, self.commit_every
        next_hour = self.hour + HOUR if self.hour else 0.0
        for cursor, event in stream:
            if event.ts >= next_hour:
                hour = (event.ts // HOUR) * HOUR
                if hour > self.hour:
                    if self.hour:
                        self._tick(hour)
                    self.hour = hour
                next_hour = self.hour + HOUR
            if isinstance(event, ApiRequest):
                features = featurize(event)
                for observe in on_request:
                    found = observe(event, features)
                    if found:
                        emit(found)
            else:
                for observe_infra in on_infra:
                    found = observe_infra(event)
                    if found:
                        emit(found)
            cursor.events += 1
            cursor.skip += 1
            cursor.last_id = event.event_id
            self.events += 1
            if self.events % commit_every == 0:
                self.commit()

    def consume(self, events: Iterable[Event], source: str = "<stream>") -> None:
        """Process events that do not come from files (a benchmark's generator, a queue consumer); their
        progress is counted under ``source``."""
        cursor = self.cursors.setdefault(source, _FileCursor(FileProgress(0, None)))
        self.process((cursor, event) for event in events)

    def finish(self) -> None:
        """End of the input: score groups on what was seen, then commit."""
        with _one_blas_thread():
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
        if self.freeze_gc:
            # The detectors' state is millions of long-lived, acyclic dicts and lists; every full
            # collection of the cyclic GC re-scanned all of it, ~6 % of the run time at 300k events and
            # growing with the state (20 % faster end to end at 300k with this). Freezing what is alive
            # at a commit exempts it from later collections; reference counting still frees it.
            gc.freeze()

    # -- input ---------------------------------------------------------------------------------------
    def _span_events(self, path: Path, whole_lines: bool) -> Iterator[tuple[_FileCursor, Event]] | None:
        """The unread events of ``path`` with its cursor, or None when there is nothing new to read."""
        key = str(path)
        cursor = self.cursors.get(key)
        if cursor is None:
            cursor = self.cursors[key] = _FileCursor(FileProgress(0, None))
        try:
            size = path.stat().st_size
        except OSError:
            return None
        compressed = _is_compressed(path)
        if compressed:
            if cursor.offset == size and size:
                return None
            span, resume = FileSpan(), cursor.skip  # read whole; skip what was consumed
        else:
            end = _last_line_end(path, cursor.offset, size) if whole_lines else size
            if end <= cursor.offset:
                return None
            span, resume = FileSpan(cursor.offset, end, cursor.line), cursor.skip
        return self._events(path, cursor, span, resume, size if compressed else None)

    def _events(
        self, path: Path, cursor: _FileCursor, span: FileSpan, resume: int, compressed_size: int | None
    ) -> Iterator[tuple[_FileCursor, Event]]:
        # problems are reported once: a span re-read after a restart reports into a scratch report
        report = self.report if resume == 0 else IngestReport()
        events: Iterable[Event] = ingest_span(path, span, report=report)
        if self.intel is not None:
            events = enrich(events, self.intel)
        last_id = cursor.last_id
        for index, event in enumerate(events):
            if index < resume:
                if index == resume - 1 and last_id is not None and event.event_id != last_id:
                    raise RuntimeError(f"{path}: changed since it was read (event {resume} is not {last_id})")
                continue
            yield cursor, event
        # every event of the span was processed (merge asks for the next one only after that)
        if compressed_size is not None:
            cursor.offset = compressed_size
        else:
            cursor.offset, cursor.line, cursor.skip = span.end or cursor.offset, span.end_line, 0

    def read(self, paths: list[Path], *, whole_lines: bool = False) -> int:
        """Read what is new in every file, merged by time; ``whole_lines`` stops each file at its last
        complete line (follow mode) instead of reading a torn last line as a malformed record."""
        before = self.events
        streams = [s for p in log_files(paths) if (s := self._span_events(p, whole_lines)) is not None]
        self.process(heapq.merge(*streams, key=lambda item: item[1].ts))
        self.commit()
        return self.events - before

    def follow(self, paths: list[Path], poll: float = 1.0, idle_exit: float | None = None) -> None:
        idle_since = time.monotonic()
        while True:
            if self.read(paths, whole_lines=True):
                idle_since = time.monotonic()
            elif idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                self.finish()
                return
            time.sleep(poll)


def _one_blas_thread() -> threadpool_limits:
    """Detectors run with one BLAS thread: the window and coverage tests multiply matrices of a few
    thousand rows, where OpenBLAS's extra threads busy-wait for each other and about double the CPU a
    test costs (window_shift 17 → 9 µs per event of the throughput bench's stream, on 2 cores). A
    monitor is a one-thread stream processor; its cost per core is what sizes a deployment."""
    return threadpool_limits(limits=1, user_api="blas")


def _is_compressed(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _last_line_end(path: Path, start: int, size: int) -> int:
    """The offset just after the last newline in ``[start, size)``, or ``start`` when there is none."""
    with path.open("rb") as handle:
        end = size
        while end > start:
            begin = max(start, end - (1 << 16))
            handle.seek(begin)
            block = handle.read(end - begin)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return begin + newline + 1
            end = begin
    return start


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
