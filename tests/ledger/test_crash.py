"""Crash safety: SIGKILL the writer at every storage step of an append batch, again and again, then restart.

A child process appends batches and records every receipt it was given (fsync'd) — what a client was
told. ``MODELTRACE_LEDGER_CRASH_AT=<step>:<n>`` makes it SIGKILL itself the n-th time it reaches the
step, so each crash lands in the middle of a later batch, after earlier ones were acknowledged. The
next child resubmits the batch that was cut off. After every crash: ``verify`` passes, every
acknowledged entry is present with the leaf hash it was acknowledged with, and every checkpoint any
client was shown is a prefix of the current tree (a consistency proof verifies) — none is contradicted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from modeltrace.ledger.log import CRASH_ENV, CRASH_STEPS, Log
from modeltrace.ledger.proofs import verify_consistency
from tests.ledger import writer_child
from tests.ledger.logkit import new_log

REPO = Path(__file__).resolve().parents[2]
BATCH = 5


def _run_child(db: str, acks: Path, first: int, count: int, crash_at: str | None) -> int:
    """Run the writer in a forked child process (no interpreter start-up, so it can die many times)."""
    pid = os.fork()
    if pid == 0:  # the child: append, and let the crash hook SIGKILL us at the chosen step
        code = 1
        try:
            os.environ.pop(CRASH_ENV, None)
            if crash_at is not None:
                os.environ[CRASH_ENV] = crash_at
            code = writer_child.main(["batches", db, str(acks), str(first), str(count), str(BATCH)])
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    code = os.WEXITSTATUS(status)
    if code != 0:
        raise AssertionError(f"writer child exited with {code}")
    return 0


def test_the_crash_hook_works_in_a_fresh_interpreter(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.db")
    new_log(db).close()
    acks = tmp_path / "acks.jsonl"
    env = {**os.environ, CRASH_ENV: "tiles:2"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.ledger.writer_child", "batches", db, str(acks), "0", "3", str(BATCH)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert _check_after_restart(db, acks) == 1


def _check_after_restart(db: str, acks: Path) -> int:
    with Log.open(db) as log:
        report = log.verify(evidence=True)
        assert report.ok, report.problems
        state = log.state()
        acknowledged = [json.loads(line) for line in acks.read_text().splitlines()]
        for record in acknowledged:
            for index, leaf_hash in record["receipts"]:
                row = log.store.entry(index)
                assert row is not None, f"acknowledged entry {index} is missing"
                assert log.leaf(index).leaf_hash.hex() == leaf_hash, (
                    f"entry {index} is not what was acknowledged"
                )
            size, root = record["size"], bytes.fromhex(record["root"])
            if size < state.size:
                verify_consistency(
                    size, state.size, log.consistency_proof(size, state.size), root, state.root
                )
            else:
                assert (size, root) == (state.size, state.root)
        return len(acknowledged)


def test_sigkill_at_every_storage_step_loses_no_acknowledged_entry(db_url: str, tmp_path: Path) -> None:
    new_log(db_url).close()
    acks = tmp_path / "acks.jsonl"
    acks.touch()
    batch = 0
    kills = 0
    for step in CRASH_STEPS:
        for nth in (1, 2, 3):  # in the first batch of a run, and after one or two were acknowledged
            code = _run_child(db_url, acks, batch, 4, f"{step}:{nth}")
            assert code == -signal.SIGKILL, f"the writer never reached {step!r}"
            kills += 1
            acknowledged = _check_after_restart(db_url, acks)
            batch += nth - 1  # resume at the batch that was cut off: it is resubmitted
            assert acknowledged >= batch
    assert _run_child(db_url, acks, batch, 2, None) == 0
    _check_after_restart(db_url, acks)
    with Log.open(db_url) as log:
        # Resubmitted batches were deduplicated: each statement is in the log once.
        leaves = [row.leaf for row in log.store.entries(0, log.size)]
        assert len(leaves) == len(set(leaves))
        sizes = [row.size for row in log.store.checkpoints()]
        assert sizes == sorted(set(sizes))
    assert kills == 3 * len(CRASH_STEPS)
