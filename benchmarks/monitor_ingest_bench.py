"""Ingest throughput of the monitor adapters (events per second, one core), measured in this run.

Two inputs, both from the simulator (SYNTHETIC logs in the real formats):

* the ``ci`` set (seed 0), generated into a temporary folder first (its generation time is printed);
* a set of about ``--events`` events (default 1,000,000) made of hard links to the ci files repeated,
  so it costs no disk and measures parsing, not the disk (``--events 0`` skips it).

For each, it prints events/s of ``modeltrace.monitor.ingest`` (reader + format detection + adapters +
event objects) next to the baseline of the same process reading the same files with the standard
library alone (``json.loads`` per line; ``gzip`` + ``json.load`` for Records files), and the ratio
ingest/baseline, plus peak RSS. The issue's target for the whole pipeline (ingest + all detectors) is
≥ 50,000 events/s per core; this measures the ingest share of it.

    python benchmarks/monitor_ingest_bench.py [--events 1000000] [--dir D] [--repeat 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import resource
import tempfile
import time
from pathlib import Path

from modeltrace.monitor import IngestReport, ingest, log_files
from modeltrace.monitor.simulate import simulate


def baseline(files: list[Path]) -> int:
    count = 0
    for path in files:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                count += len(json.load(handle)["Records"])
            continue
        with path.open("rb") as handle:
            for line in handle:
                record = json.loads(line)
                spans = record.get("resourceSpans")
                count += sum(len(s["spans"]) for r in spans for s in r["scopeSpans"]) if spans else 1
    return count


def modeltrace_ingest(files: list[Path]) -> int:
    report = IngestReport()
    count = sum(1 for _ in ingest(files, report=report))
    assert report.errors == 0, report.to_dict()["errors_by_kind"]
    return count


def best_rate(label: str, fn: object, files: list[Path], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        began = time.perf_counter()
        count = fn(files)  # type: ignore[operator]
        best = max(best, count / (time.perf_counter() - began))
    print(f"  {label:<22} {best:>10,.0f} events/s  ({count:,} events)")
    return best


def measure(name: str, files: list[Path], repeat: int) -> None:
    print(f"{name}: {len(files)} files, {sum(p.stat().st_size for p in files) / 2**20:,.0f} MiB")
    base = best_rate("stdlib json baseline", baseline, files, repeat)
    ours = best_rate("monitor.ingest", modeltrace_ingest, files, repeat)
    print(f"  ratio ingest/baseline  {ours / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="size of the large set (0 skips it)")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best is printed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        root = Path(work) / "ci"
        began = time.perf_counter()
        summary = simulate(root, "ci", 0)
        print(f"simulate ci: {sum(summary.events.values()):,} events in {time.perf_counter() - began:.1f} s")
        files = list(log_files([root / "logs"]))
        measure("ci set", files, args.repeat)
        if args.events > 0:
            copies = math.ceil(args.events / sum(summary.events.values()))
            big = Path(work) / "large"
            linked = []
            for i in range(copies):
                for path in files:
                    target = big / f"copy{i:03d}" / path.relative_to(root / "logs")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.link(path, target)
                    linked.append(target)
            measure(f"large set ({copies} x ci)", sorted(linked), 1)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
