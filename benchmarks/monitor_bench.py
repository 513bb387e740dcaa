"""Throughput and memory of ``monitor run``: ingestion + featurizer + all detectors, events/s per core.

Input: the simulator's ``ci`` set (seed 0, SYNTHETIC logs in the real formats: gateway JSON lines, OTel
spans, CloudTrail, Kubernetes audit), generated once in a subprocess (so its memory is not counted here).
To reach ``--events`` (default 10,000,000) without writing 10M lines, the ci files are read again and
again *in process*: every pass re-parses the files (ingestion is measured every time) and then renames
the accounts and principals (``~<pass>`` suffix), shifts time by one week, gives events new ids and
prefixes each prompt with the pass number, so detector state grows as it would with that many distinct
customers and the featurizer's per-template memo does not answer every later pass for free (shared
frames still hit the chunk memo, as they would in real traffic).

Printed, all in this one run (CPU seconds of this process, so "per core"):

* the floor: ``json.loads`` of every line / of every Records file, the stdlib alone; and the same
  with msgspec's decoder, which ingestion uses for JSON lines (what decoding alone costs there);
* ingestion (reader, format detection, adapters, event objects);
* ingestion + featurizer;
* ingestion + featurizer + every default detector + SQLite state commits (``monitor run``);

with each one's ratio to the floor, and the peak RSS at the end (the detectors' state for all passes);
``--progress N`` prints the rate and RSS every N events of the long run, so a run stopped early still
says how far it got. The ingestion and featurizer stages freeze the garbage collector's survivors every
``commit_every`` events, as ``monitor run`` does at each commit: without it every full collection walks
the featurizer's memo again, and the featurizer's share read about 30 % higher than what it costs
inside the monitor.
The issue's target is ≥ 50,000 events/s per core end to end.

    python benchmarks/monitor_bench.py [--events 10000000] [--passes-for-stages 2]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import inspect
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from modeltrace.monitor import ApiRequest, Event, ingest_in_time_order, log_files
from modeltrace.monitor.detectors import default_detectors
from modeltrace.monitor.featurize import Featurizer
from modeltrace.monitor.run import Monitor, build

WEEK = 7 * 86400.0
COMMIT_EVERY = inspect.signature(Monitor).parameters["commit_every"].default


def json_floor(files: list[Path], loads: Callable[[bytes], Any] = json.loads) -> int:
    count = 0
    for path in files:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                count += len(loads(handle.read())["Records"])
            continue
        with path.open("rb") as handle:
            for line in handle:
                record = loads(line)
                spans = record.get("resourceSpans")
                count += sum(len(s["spans"]) for r in spans for s in r["scopeSpans"]) if spans else 1
    return count


def passes(logs: Path, total: int) -> Iterator[Event]:
    """``total`` events: the ci set again and again, each pass with its own accounts, week, ids, prompts."""
    produced, index = 0, 0
    while produced < total:
        for event in ingest_in_time_order([logs]):
            if index:
                # changed in place: each parse makes new event objects, and a copy per event
                # (dataclasses.replace) cost 6 % of the measured time, a cost no real run pays
                suffix = f"~{index}"
                event.ts += index * WEEK
                event.event_id += suffix
                if isinstance(event, ApiRequest):
                    if event.account_id is not None:
                        event.account_id += suffix
                    if event.prompt_text:
                        # a new prompt (for the featurizer's memo) as a new customer would send; the
                        # rest repeats, so chunk scores of shared frames are still reused as in real
                        # traffic
                        event.prompt_text = f"{index} {event.prompt_text}"
                else:
                    event.principal += suffix
            yield event
            produced += 1
            if produced >= total:
                return
        index += 1


def frozen(events: Iterator[Event], every: int = COMMIT_EVERY) -> Iterator[Event]:
    """``events``, freezing what the collector tracks every ``every`` events (``Monitor.commit`` does)."""
    for count, event in enumerate(events, 1):
        yield event
        if count % every == 0:
            gc.freeze()


def reporting(events: Iterator[Event], every: int) -> Iterator[Event]:
    """``events``, printing the rate so far and the peak RSS every ``every`` events."""
    began = time.process_time()
    for count, event in enumerate(events, 1):
        yield event
        if every and count % every == 0:
            rate = count / (time.process_time() - began)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"    {count:>12,} events  {rate:>9,.0f} events/s per core  peak RSS {peak:,.0f} MiB",
                flush=True,
            )


def cpu_rate(label: str, run: Callable[[], int], floor: float | None) -> float:
    began = time.process_time()
    count = run()
    rate = count / (time.process_time() - began)
    ratio = f"  ({rate / floor:.2f} x floor)" if floor else ""
    print(f"  {label:<44} {rate:>9,.0f} events/s per core{ratio}  [{count:,} events]", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="events through the full pipeline")
    parser.add_argument("--passes-for-stages", type=int, default=2, help="ci passes for the stage figures")
    parser.add_argument("--progress", type=int, default=0, help="report every N events of the long run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "ci"
        code = f"from modeltrace.monitor import simulate; simulate({str(root)!r}, 'ci', 0)"
        subprocess.run([sys.executable, "-c", code], check=True)
        logs = root / "logs"
        files = list(log_files([logs]))
        per_pass = sum(1 for _ in ingest_in_time_order([logs]))
        stage_events = per_pass * args.passes_for_stages
        print(f"ci set (seed 0): {per_pass:,} events per pass; stages over {stage_events:,} events")
        repeats = range(args.passes_for_stages)
        floor = cpu_rate("stdlib json floor", lambda: sum(json_floor(files) for _ in repeats), None)
        native = msgspec.json.Decoder().decode
        cpu_rate("msgspec json floor", lambda: sum(json_floor(files, native) for _ in repeats), floor)
        cpu_rate("ingest", lambda: sum(1 for _ in frozen(passes(logs, stage_events))), floor)

        def featurized() -> int:
            featurizer, count = Featurizer(), 0
            for event in frozen(passes(logs, stage_events)):
                if isinstance(event, ApiRequest):
                    featurizer.features(event)
                count += 1
            return count

        cpu_rate("ingest + featurizer", featurized, floor)

        def full(total: int, every: int = 0) -> Callable[[], int]:
            def run() -> int:
                monitor = build([logs], Path(work) / f"state-{total}.db", None, default_detectors)
                monitor.consume(reporting(passes(logs, total), every))
                monitor.finish()
                alerts = len(monitor.store.alerts())
                monitor.store.close()
                print(f"    ({alerts:,} alerts)")
                return monitor.events

            return run

        cpu_rate("ingest + featurizer + all detectors + state", full(stage_events), floor)
        if args.events > stage_events:
            print(f"full pipeline at {args.events:,} events (SQLite state on disk):")
            cpu_rate("ingest + featurizer + all detectors + state", full(args.events, args.progress), floor)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process {peak:,.0f} MiB (after {max(args.events, stage_events):,} events)")


if __name__ == "__main__":
    main()
