"""Hostile inputs through the real CLI: one clear line on stderr, exit 2, bounded memory, no hang.

Each case runs ``modeltrace inspect`` in a subprocess whose address space is capped, so a parser that
trusted a header and allocated what it claims would die instead of passing. The timeout is only a hang
guard; how fast the errors come is printed by ``benchmarks/hostile_bench.py``.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.weights.hostile_cases import CASES

#: Address-space cap for the child: generous for Python + numpy, far below any claimed size.
MEMORY_CAP = 1536 * 1024 * 1024
CLI = [sys.executable, "-m", "modeltrace.cli.main", "inspect"]


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_inspect(path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run(
        [*CLI, str(path)], capture_output=True, text=True, timeout=60, preexec_fn=_limit, env=env, check=False
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_gives_one_clear_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    build, pattern = CASES[case]
    path = build(tmp_path)
    result = run_inspect(path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: ") and str(path) in lines[0]
    assert re.search(pattern, lines[0], re.IGNORECASE), lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()
