"""Restart: a ``monitor run --follow`` killed mid-stream and restarted loses no event and repeats no alert."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_info, threadpool_limits

from modeltrace.monitor.alerts import Alert
from modeltrace.monitor.detectors import default_detectors
from modeltrace.monitor.detectors.base import Context, Detector
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import RequestFeatures
from modeltrace.monitor.run import build
from modeltrace.monitor.simulate import simulate
from modeltrace.monitor.state import StateStore
from tests.monitor import samples

CLI = [sys.executable, "-c", "from modeltrace.cli.main import app; app()", "monitor", "run"]


def _progress(state: Path, target: Path) -> int:
    """Events of ``target`` the running monitor has committed, read without writing to its state."""
    if not state.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT events FROM files WHERE path = ?", (str(target),)).fetchone()
    except sqlite3.Error:  # not created yet, or mid-commit
        return 0
    return int(row[0]) if row else 0


def test_killed_follow_run_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    simulate(sim, "ci", 3)
    source = sorted((sim / "logs" / "gateway").glob("*.jsonl"))[:3]
    lines = [line for path in source for line in path.read_text().splitlines(keepends=True)]
    live = tmp_path / "live" / "logs"
    live.mkdir(parents=True)
    (tmp_path / "live" / "context").symlink_to(sim / "context")
    target = live / "requests.jsonl"
    target.write_text("".join(lines[: len(lines) // 3]))
    state, alerts = tmp_path / "state.db", tmp_path / "alerts.jsonl"
    args = [str(live), "--state", str(state), "--alerts", str(alerts), "--quiet"]
    proc = subprocess.Popen([*CLI, *args, "--follow", "--poll", "0.2"], start_new_session=True)
    try:
        # wait until the first third is committed, append the rest, and kill while it is being read:
        # a fixed sleep let a fast run finish everything before the kill
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _progress(state, target):
            time.sleep(0.1)
        with target.open("a") as handle:
            handle.write("".join(lines[len(lines) // 3 :]))
        time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = StateStore(state).progress().get(str(target), (0, None))[0]
    assert 0 < done < len(lines), "the kill should land mid-stream"
    subprocess.run([*CLI, *args], check=True, timeout=120)
    assert StateStore(state).progress()[str(target)][0] == len(lines)
    kept = [json.loads(line) for line in alerts.read_text().splitlines()]
    written = [alert["id"] for alert in kept]
    assert len(written) == len(set(written))
    clean = build([live], None, None, default_detectors)
    clean.read([live])
    clean.finish()
    assert set(written) == {a["id"] for a in clean.store.alerts()}
    # the restart kept the campaigns' memberships too: every account claimed once, by the same alert
    claims = [(alert["id"], account) for alert in kept for account in alert["claimed"]]
    assert claims and len({account for _, account in claims}) == len(claims)
    assert set(claims) == {(a["id"], account) for a in clean.store.alerts() for account in a["claimed"]}
    # and each alert's priority, which reads what other campaigns held when it was placed
    assert {a["id"]: a["priority"] for a in kept} == {a["id"]: a["priority"] for a in clean.store.alerts()}


def test_follow_reads_only_appended_bytes_and_waits_for_whole_lines(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    simulate(sim, "ci", 5)
    source = sorted((sim / "logs" / "gateway").glob("*.jsonl"))[0]
    lines = source.read_bytes().splitlines(keepends=True)[:300]
    live = tmp_path / "live"
    live.mkdir()
    target = live / "requests.jsonl"
    target.write_bytes(b"".join(lines[:100]))
    monitor = build([live], tmp_path / "state.db", None, default_detectors, context_dir=sim / "context")
    assert monitor.read([live], whole_lines=True) == 100
    first = monitor.progress[str(target)]
    assert (first.offset, first.line, first.skip) == (target.stat().st_size, 101, 0)
    # half a line: nothing is read (and nothing reported) until the writer finishes it
    with target.open("ab") as handle:
        handle.write(b"".join(lines[100:200]) + lines[200][:40])
    assert monitor.read([live], whole_lines=True) == 100
    with target.open("ab") as handle:
        handle.write(lines[200][40:] + b"".join(lines[201:]))
    assert monitor.read([live], whole_lines=True) == 100
    assert monitor.report.errors == 0
    final = monitor.progress[str(target)]
    assert (final.events, final.offset, final.line) == (300, target.stat().st_size, 301)
    assert monitor.read([live], whole_lines=True) == 0  # nothing new: nothing re-read
    monitor.store.close()
    # a restart resumes at the stored offset: only a new line is read
    with target.open("ab") as handle:
        handle.write(lines[0])
    again = build([live], tmp_path / "state.db", None, default_detectors, context_dir=sim / "context")
    assert again.read([live], whole_lines=True) == 1


class _BlasThreads(Detector):
    """Records how many BLAS threads each call sees (the real detectors' matrix products run there)."""

    name = "blas_threads"
    requests = True

    def __init__(self, context: Context | None = None) -> None:
        super().__init__(context)
        self.seen: set[int] = set()

    def _record(self) -> None:
        self.seen |= {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        self._record()
        return []

    def tick(self, now: float) -> list[Alert]:
        self._record()
        return []


def test_detectors_run_with_one_blas_thread(tmp_path: Path) -> None:
    # OpenBLAS's extra threads busy-wait on a window test's small products and double its CPU; the
    # monitor runs its detectors with one, whatever the process was given
    logs = tmp_path / "logs"
    logs.mkdir()
    first = samples.gateway("req_1")
    later = samples.gateway("req_2", timestamp="2026-03-02T13:00:00.000Z")  # a tick between the two
    (logs / "requests.jsonl").write_bytes(samples.line(first) + samples.line(later))
    probe = _BlasThreads()
    with threadpool_limits(limits=2, user_api="blas"):
        monitor = build([logs], None, None, lambda context: [probe])
        monitor.read([logs])
        monitor.finish()
        outside = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    assert outside == {2}  # the limit is lifted when the monitor returns
    assert monitor.events == 2 and probe.seen == {1}
