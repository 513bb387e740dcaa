"""The HTML report, rendered by a real headless Chromium (installed by .ci/run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from modeltrace.lineage import compare
from modeltrace.lineage.report_html import write_report
from tests.lineage.test_compare_synthetic import disguise
from tests.weights import synth

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synth, "VOCAB", 2048)
        tensors, config = synth.architecture("llama", seed=21)
        base = synth.write_hf(folder / "base", tensors, config)
        suspect = synth.write_hf(folder / "suspect", disguise(tensors), config)
    report = compare(base, suspect)
    return write_report(report, folder / "out" / "report.html")


def test_page_embeds_the_whole_json_report(report_page: Path) -> None:
    page = report_page.read_text()
    match = re.search(r'<script type="application/json" id="report-json">(.*?)</script>', page, re.S)
    assert match is not None
    data = json.loads(match.group(1).replace("<\\/", "</"))
    assert data["verdict"] == "derived"
    assert data["layer_map"] == {"0": 0, "1": 1}
    assert oct(report_page.stat().st_mode & 0o777) == "0o644"
    assert not list(report_page.parent.glob(".*.tmp"))


def test_chromium_renders_the_verdict_and_the_heatmap(report_page: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must install it")
        pytest.skip("chromium not installed here (CI installs it)")
    profile = tmp_path / "profile"
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", report_page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert '<b id="verdict-word">DERIVED</b>' in dom
    assert "shares weight lineage" in dom
    assert dom.count("<rect ") == 4  # 2 × 2 layers
    assert 'stroke="#000"' in dom  # the recovered layer map is outlined
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1000,1200",
            report_page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000
