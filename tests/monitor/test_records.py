"""The hostile-input JSON record reader: every shape, every failure located, memory bounded."""

from __future__ import annotations

import gzip
import json
import math
import random
import tracemalloc
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeltrace.monitor import records as records_module
from modeltrace.monitor.limits import IngestLimits
from modeltrace.monitor.records import RawRecord, ReadProblem, read_records
from modeltrace.monitor.report import IssueKind
from tests.monitor import samples

SMALL = IngestLimits(max_record_chars=4096, chunk_bytes=4096)


def read(path: Path, limits: IngestLimits = SMALL) -> tuple[list[RawRecord], list[ReadProblem]]:
    records: list[RawRecord] = []
    problems: list[ReadProblem] = []
    for item in read_records(path, limits):
        (problems if isinstance(item, ReadProblem) else records).append(item)  # type: ignore[arg-type]
    return records, problems


def test_json_lines_with_blank_lines_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"n": 1}\r\n\r\n   \n{"n": 2}\n{"n": 3}')
    records, problems = read(path)
    assert problems == []
    assert [(r.obj["n"], r.line) for r in records] == [(1, 1), (2, 4), (3, 5)]


def test_each_bad_line_is_located_and_the_rest_still_read(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"n": 1}\n'
        b'{"n": 2, "cut\n'  # truncated line
        b'{"n": 3}\n'
        b"not json at all\n"
        b'{"n": 4} trailing garbage\n'
        b"[1, 2]\n"
        b'"a string"\n'
        b'{"n": 5, "bad": "\xff\xfe"}\n'
        b'{"n": 6}\n'
        b'{"n": 7'  # the file ends inside a record
    )
    records, problems = read(path)
    assert [r.obj["n"] for r in records] == [1, 3, 4, 6]
    located = [(p.line, p.index, p.kind) for p in problems]
    assert located == [
        (2, None, IssueKind.TRUNCATED),
        (4, None, IssueKind.INVALID_JSON),
        (5, None, IssueKind.INVALID_JSON),
        (6, 0, IssueKind.NOT_AN_OBJECT),
        (6, 1, IssueKind.NOT_AN_OBJECT),
        (7, None, IssueKind.NOT_AN_OBJECT),
        (8, None, IssueKind.INVALID_UTF8),
        (10, None, IssueKind.TRUNCATED),
    ]


def test_invalid_utf8_costs_only_its_own_line_even_across_chunks(tmp_path: Path) -> None:
    good = b'{"text": "' + "ü".encode() * 3000 + b'"}\n'  # multi-byte characters straddle chunk borders
    path = tmp_path / "u.jsonl"
    path.write_bytes(good + b'{"text": "\xc3"}\n' + good + b'{"text": "\xed\xa0\x80"}\n' + good)
    records, problems = read(path, IngestLimits(max_record_chars=1 << 16, chunk_bytes=4096))
    assert len(records) == 3 and all(r.obj["text"] == "ü" * 3000 for r in records)
    assert [(p.line, p.kind) for p in problems] == [(2, IssueKind.INVALID_UTF8), (4, IssueKind.INVALID_UTF8)]


def test_an_oversized_line_is_skipped_without_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as handle:
        handle.write(b'{"n": 1}\n{"n": 2, "blob": "')
        chunk = b"x" * (1 << 20)
        for _ in range(48):  # a 48 MiB line
            handle.write(chunk)
        handle.write(b'"}\n{"n": 3}\n')
    limits = IngestLimits(max_record_chars=1 << 20, chunk_bytes=1 << 16)
    tracemalloc.start()
    records, problems = read(path, limits)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [r.obj["n"] for r in records] == [1, 3]
    assert [(p.line, p.kind) for p in problems] == [(2, IssueKind.RECORD_TOO_LARGE)]
    assert peak < 24 * (1 << 20), f"peak {peak / 2**20:.1f} MiB while skipping a 48 MiB line"


def test_garbage_line_without_newline_for_megabytes_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "garbage.log"
    path.write_bytes(b"\x00" * (3 << 20) + b'\n{"ok": true}\n')
    records, problems = read(path, IngestLimits(max_record_chars=1 << 16, chunk_bytes=1 << 16))
    assert [r.obj for r in records] == [{"ok": True}]
    assert len(problems) == 1 and problems[0].line == 1


def test_records_wrapper_small_and_pretty_printed(tmp_path: Path) -> None:
    doc = {"Records": [{"eventName": f"E{i}"} for i in range(5)]}
    one_line = tmp_path / "one.json"
    one_line.write_text(json.dumps(doc))
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(doc, indent=2))
    for path in (one_line, pretty):
        records, problems = read(path)
        assert problems == []
        assert [r.obj["eventName"] for r in records] == [f"E{i}" for i in range(5)]
        assert [r.index for r in records] == list(range(5)) and {r.wrapper for r in records} == {"Records"}


def test_a_records_document_larger_than_the_bound_is_streamed(tmp_path: Path) -> None:
    records_in = [{"eventName": "GetObject", "eventID": f"id-{i}", "pad": "p" * 200} for i in range(3000)]
    path = tmp_path / "big.json.gz"
    with gzip.open(path, "wt") as handle:  # CloudTrail delivers gzip, all on one line
        json.dump({"Records": records_in}, handle)
    records, problems = read(path, IngestLimits(max_record_chars=8192, chunk_bytes=8192))
    assert problems == []
    assert [r.obj["eventID"] for r in records] == [f"id-{i}" for i in range(3000)]
    assert records[-1].index == 2999 and records[-1].line == 1


def test_eventlist_items_keep_their_context_when_streamed(tmp_path: Path) -> None:
    items = [{"auditID": str(i), "verb": "get", "pad": "q" * 300} for i in range(50)]
    path = tmp_path / "events.json"
    path.write_text(
        json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}, indent=1)
    )
    records, problems = read(path, IngestLimits(max_record_chars=2048, chunk_bytes=4096))
    assert problems == [] and len(records) == 50
    assert records[0].context["kind"] == "EventList" and records[0].wrapper == "items"
    assert records[1].line > records[0].line  # element lines are tracked while streaming


def test_a_broken_element_ends_only_its_document(tmp_path: Path) -> None:
    body = ",".join(json.dumps({"i": i, "pad": "z" * 100}) for i in range(40))
    path = tmp_path / "broken.json"
    path.write_text('{"Records": [' + body + ',{"i": 40, oops}]}\n{"after": 1}\n')
    records, problems = read(path, IngestLimits(max_record_chars=2048, chunk_bytes=4096))
    assert [r.obj.get("i") for r in records[:40]] == list(range(40))
    assert records[-1].obj == {"after": 1}
    assert len(problems) == 1 and problems[0].index == 40 and "40 elements" in problems[0].detail


def test_an_oversized_object_without_a_known_array_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "obj.jsonl"
    path.write_text(json.dumps({f"k{i}": "v" * 50 for i in range(200)}) + '\n{"n": 1}\n')
    records, problems = read(path, IngestLimits(max_record_chars=2048, chunk_bytes=4096))
    assert [r.obj for r in records] == [{"n": 1}]
    assert [(p.line, p.kind) for p in problems] == [(1, IssueKind.RECORD_TOO_LARGE)]


def test_deep_nesting_and_huge_integers_are_errors_not_crashes(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text("[" * 100_000 + "\n" + '{"n": ' + "9" * 10_000 + "}\n" + '{"ok": 1}\n')
    records, problems = read(path, IngestLimits(max_record_chars=1 << 20))
    assert [r.obj for r in records] == [{"ok": 1}]
    assert [p.kind for p in problems] == [IssueKind.INVALID_JSON, IssueKind.INVALID_JSON]


def test_truncated_gzip_is_reported_after_the_records_before_it(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(json.dumps({"n": i}).encode() + b"\n" for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    records, problems = read(path)
    assert 0 < len(records) < 2000
    assert [r.obj["n"] for r in records] == list(range(len(records)))
    assert problems[-1].kind in (IssueKind.DECOMPRESSION, IssueKind.TRUNCATED)


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    records, problems = read(tmp_path / "nope.jsonl")
    assert records == [] and problems[0].kind is IssueKind.UNREADABLE_FILE


_GOOD = st.fixed_dictionaries({"n": st.integers(0, 10**6), "s": st.text(max_size=30)})
_BAD = st.sampled_from([b'{"n": 1', b"nonsense", b'{"s": "\xff"}', b"}{", b"[1", b'{"a":}', b"\x00\x01"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(_GOOD, _BAD), min_size=1, max_size=40))
def test_every_line_is_either_a_record_or_a_problem_on_that_line(tmp_path: Path, lines: list[object]) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join((x if isinstance(x, bytes) else json.dumps(x).encode()) + b"\n" for x in lines))
    records, problems = read(path)
    good_lines = [i + 1 for i, x in enumerate(lines) if not isinstance(x, bytes)]
    bad_lines = [i + 1 for i, x in enumerate(lines) if isinstance(x, bytes)]
    assert [r.line for r in records] == good_lines
    assert sorted({p.line for p in problems}) == bad_lines


@pytest.mark.parametrize("chunk", [4096, 5000, 1 << 16])
def test_chunk_size_does_not_change_what_is_read(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"i": i, "t": "ß" * (i % 97)}) + "\n" for i in range(500)))
    records, problems = read(path, IngestLimits(max_record_chars=4096, chunk_bytes=chunk))
    assert problems == [] and [(r.obj["i"], r.line) for r in records] == [(i, i + 1) for i in range(500)]


# Characters and tokens whose insertion, deletion or substitution breaks JSON in the ways the native
# line decoder and the stdlib might disagree on: escapes, surrogates, non-finite numbers, huge numbers,
# control characters, structure.
_SPLICES = [
    *'{}[]",:\\ \t0123456789.eE+-', "\\u", "\\ud800", "\\udc80\\ud800", "é", "\udc80", "NaN", "-Infinity",
    "1e400", "9" * 40, "01", "\x00", "\x1f", "\x7f", "'", "true", "nul", "//", "\r",
]  # fmt: skip


def _mutated_lines(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    shapes = [
        json.dumps(samples.gateway()),
        json.dumps(samples.gateway_hashed(), ensure_ascii=False),
        json.dumps(samples.otlp_export()),
        json.dumps(samples.cloudtrail_get_object()),
        json.dumps(samples.k8s_exec()),
    ]
    out = []
    for _ in range(count):
        text = rng.choice(shapes)
        for _ in range(rng.randint(1, 3)):
            at, roll = rng.randrange(len(text) + 1), rng.random()
            splice = rng.choice(_SPLICES)
            if roll < 0.4:
                text = text[:at] + splice + text[at:]
            elif roll < 0.7:
                text = text[:at] + text[at + 1 :]
            else:
                text = text[:at] + splice + text[at + 1 :]
        out.append(text)
    return out


def _same(a: object, b: object) -> bool:
    """Equal JSON values of equal types (1 and 1.0 differ), NaN equal to NaN, key order included."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def test_the_native_line_decoder_takes_nothing_the_stdlib_refuses() -> None:
    native = records_module._LINE_DECODE
    assert native is not None
    taken = refused = 0
    for text in _mutated_lines(6000, seed=3):
        try:
            value = native(text)
        except (msgspec.DecodeError, ValueError, RecursionError):
            refused += 1
            continue
        taken += 1
        assert _same(value, json.loads(text)), text  # raises if the stdlib refuses what native took
    assert taken > 1000 and refused > 1000  # both sides of the fuzz exercised


def test_reading_with_the_native_line_decoder_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = _mutated_lines(1500, seed=4)
    # also lines that only the stdlib reads, a pretty-printed tail and bytes that are not UTF-8
    lines += ['{"v": NaN, "w": "\\ud800"}', '{"big": 1e400}', '{"n": ' + "7" * 50 + "}"]
    data = "\n".join(lines).encode("utf-8", "surrogateescape") + b'\n{"s": "\xff"}\n'
    path.write_bytes(data + json.dumps({"Records": [samples.cloudtrail_get_object()]}, indent=1).encode())

    def outcome() -> tuple[list[tuple[object, ...]], list[ReadProblem]]:
        records, problems = read(path)
        return [(r.line, r.index, r.wrapper, json.dumps(r.obj)) for r in records], problems

    native = outcome()
    monkeypatch.setattr(records_module, "_LINE_DECODE", None)
    assert native == outcome()
    assert len(native[0]) > 200 and len(native[1]) > 200
