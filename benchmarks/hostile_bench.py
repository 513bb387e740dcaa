"""How fast and how small each hostile input is refused by ``modeltrace inspect``.

For every case of ``tests/weights/hostile_cases.py`` (truncated files, a 2^60 header length, overlapping
or out-of-range offsets, absurd GGUF counts, a pickle calling ``os.system``, a zip bomb, a folder with
no weights, garbage), runs the CLI in a subprocess and prints wall time, the child's peak RSS, the exit
code and the error line; and, as the baseline measured in the same run, the same figures for
``modeltrace --version`` (interpreter start and imports only). Target: each refusal within a second
of the baseline, with memory near the baseline's.

    python benchmarks/hostile_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.weights.hostile_cases import CASES


def run(args: list[str]) -> tuple[float, int, int, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "modeltrace.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    line = (result.stderr.strip().splitlines() or [""])[-1]
    return elapsed, max(peak, before), result.returncode, line


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = min(run(["--version"])[0] for _ in range(args.repeat))
    print(f"{'case':24} {'seconds':>8} {'- base':>8} {'exit':>5}  error")
    print(f"{'(baseline --version)':24} {base:8.3f} {0:8.3f} {0:5d}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (build, _) in sorted(CASES.items()):
            folder = Path(tmp) / name
            folder.mkdir()
            path = build(folder)
            times = [run(["inspect", str(path)]) for _ in range(args.repeat)]
            best = min(times, key=lambda t: t[0])
            worst = max(worst, best[0] - base)
            print(f"{name:24} {best[0]:8.3f} {best[0] - base:8.3f} {best[2]:5d}  {best[3][:90]}")
    # ru_maxrss of children is the largest child so far: one figure for the whole run.
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest child peak RSS over all runs: {largest:.0f} MB")
    print(f"worst refusal time above baseline: {worst:.3f} s (target < 1 s)")


if __name__ == "__main__":
    main()
