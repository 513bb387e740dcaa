"""Transcript: hash chain, tamper evidence, torn lines, resume without re-querying."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from modeltrace.blackbox import Client, Endpoint, Transcript, TranscriptError, verify_transcript
from modeltrace.blackbox.transcript import GENESIS, canonical_json

from .conftest import Script


def _fill(path: Path, url: str, n: int) -> None:
    with Client(Endpoint(url, "m"), transcript=Transcript(path)) as c:
        for i in range(n):
            c.complete(f"prompt {i}", seed=1)


def test_chain_verifies_and_links(flaky: tuple[str, Script], tmp_path: Path) -> None:
    url, _ = flaky
    path = tmp_path / "t.jsonl"
    _fill(path, url, 4)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert verify_transcript(path) == 4
    assert lines[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(lines))
    assert "authorization" not in canonical_json(lines).lower()


def test_tampering_is_detected(flaky: tuple[str, Script], tmp_path: Path) -> None:
    url, _ = flaky
    path = tmp_path / "t.jsonl"
    _fill(path, url, 3)
    text = path.read_text()
    path.write_text(text.replace('"text":"ok"', '"text":"OK"', 1))
    with pytest.raises(TranscriptError, match="hash chain broken at line 1"):
        verify_transcript(path)
    lines = text.splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")  # a deleted line breaks the chain too
    with pytest.raises(TranscriptError, match="line 2"):
        Transcript(path)


def test_torn_last_line_is_dropped(flaky: tuple[str, Script], tmp_path: Path) -> None:
    url, _ = flaky
    path = tmp_path / "t.jsonl"
    _fill(path, url, 2)
    with path.open("a") as fh:
        fh.write('{"seq": 2, "kind": "resp')  # crash mid-write
    t = Transcript(path)
    assert t.count == 2 and verify_transcript(path) == 2


def test_resume_reuses_recorded_answers(flaky: tuple[str, Script], tmp_path: Path) -> None:
    url, script = flaky
    path = tmp_path / "t.jsonl"
    _fill(path, url, 3)
    assert script.hits == 3
    with Client(Endpoint(url, "m"), transcript=Transcript(path)) as c:
        for i in range(5):
            c.complete(f"prompt {i}", seed=1)
        # a second identical request is a new query: recorded answers are used once each
        c.complete("prompt 0", seed=1)
        assert (c.reused, c.sent) == (3, 3)
    assert script.hits == 6
    assert verify_transcript(path) == 6
