"""A writer process for the crash and two-writer tests: ``python -m tests.ledger.writer_child``.

``hold DB``: become the log's writer, say ``ready``, and keep the writer role until stdin closes.
``batches DB ACKS FIRST COUNT SIZE``: append batches FIRST..FIRST+COUNT-1 of SIZE statements and, after
each returns, append one JSON line per batch to ACKS (fsync'd) with every receipt — what a client was
told. ``MODELTRACE_LEDGER_CRASH_AT`` (read by the log) kills the process at a storage step.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from modeltrace.ledger import statements
from modeltrace.ledger.entries import SignedStatement, sign
from modeltrace.ledger.log import Log, Receipt
from modeltrace.ledger.log_errors import WriterConflictError
from tests.ledger.logkit import TIME, attestation, org_key


def batch(number: int, size: int, log: Log) -> list[SignedStatement]:
    """Deterministic attestations (resubmitting a batch gives the same leaves) plus one salted statement."""
    items = [attestation(number * 1000 + i) for i in range(size - 1)]
    # A correction with committed details: exercises the evidence tables in the same transaction.
    items.append(
        sign(
            statements.correction(log.ref(0), f"batch {number}", details=f"secret {number}", time=TIME),
            org_key(),
        )
    )
    return items


def append_retrying(log: Log, items: list[SignedStatement]) -> list[Receipt]:
    # A SIGKILLed writer's PostgreSQL session may take a moment to end and free its advisory lock.
    deadline = time.monotonic() + 10
    while True:
        try:
            return log.append(items)
        except WriterConflictError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main(argv: list[str]) -> int:
    mode, db = argv[0], argv[1]
    log = Log.open(db)
    if mode == "hold":
        log.append([attestation(10_000_000 + os.getpid())])
        print("ready", flush=True)
        sys.stdin.read()
        log.close()
        return 0
    acks_path, first, count, size = argv[2], int(argv[3]), int(argv[4]), int(argv[5])
    with Path(acks_path).open("a", encoding="utf-8") as acks:
        for number in range(first, first + count):
            receipts = append_retrying(log, batch(number, size, log))
            record = {
                "batch": number,
                "receipts": [[r.index, r.leaf_hash.hex()] for r in receipts],
                "size": receipts[0].size,
                "root": receipts[0].root.hex(),
            }
            acks.write(json.dumps(record) + "\n")
            acks.flush()
            os.fsync(acks.fileno())
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
