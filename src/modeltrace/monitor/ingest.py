"""Logs in → a stream of events out, with a report of everything that could not be used.

:func:`ingest` is the one entry point detectors consume: it walks files and folders, detects each
record's format, and yields :class:`~modeltrace.monitor.events.ApiRequest` and
:class:`~modeltrace.monitor.events.InfraEvent` objects one at a time, in file order (files sorted by
path). :func:`ingest_in_time_order` interleaves the files by event time instead, for detectors that
keep time windows. Memory stays bounded by one record per open file, whatever the input size.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from modeltrace.monitor.adapters import (
    FORMATS,
    Adapter,
    ParseContext,
    RecordRejectedError,
    detect,
    new_adapters,
)
from modeltrace.monitor.events import Event
from modeltrace.monitor.limits import DEFAULT_LIMITS, IngestLimits
from modeltrace.monitor.records import FileSpan, RawRecord, ReadProblem, read_records
from modeltrace.monitor.report import IngestIssue, IngestReport, IssueKind, Severity

# Folders are walked for these; a file named explicitly is read whatever its name.
LOG_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log", ".gz")


def log_files(paths: Iterable[str | Path], report: IngestReport | None = None) -> Iterator[Path]:
    """The files to read: each file as given, each folder's log files recursively in sorted order."""
    for path in map(Path, paths):
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = child.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if child.name.endswith(LOG_SUFFIXES):
                    yield child
                elif report is not None:
                    report.files_skipped.append(str(child))
        else:
            yield path


def ingest(
    paths: Iterable[str | Path],
    *,
    report: IngestReport | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
    format: str | None = None,
    on_issue: Callable[[IngestIssue], None] | None = None,
) -> Iterator[Event]:
    """Every event in the logs at ``paths``; problems go to ``report`` (and each one to ``on_issue``).

    ``format`` forces one adapter (``gateway``, ``otel``, ``cloudtrail``, ``k8s_audit``) instead of
    detecting each record's format.
    """
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown log format {format!r}; known: {', '.join(FORMATS)}")
    report = report if report is not None else IngestReport()
    adapters = new_adapters()
    for path in log_files(paths, report):
        report.files += 1
        yield from _ingest_file(path, adapters, report, limits, format, on_issue)


def ingest_span(
    path: Path,
    span: FileSpan,
    *,
    report: IngestReport | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
) -> Iterator[Event]:
    """The events in one byte span of one file (see :class:`~.records.FileSpan`): what ``--follow``
    reads when a file grew. ``span.end_line`` is set once the iterator is exhausted."""
    report = report if report is not None else IngestReport()
    report.files += 1
    yield from _ingest_file(path, new_adapters(), report, limits, None, None, span)


def _ingest_file(
    path: Path,
    adapters: dict[str, Adapter],
    report: IngestReport,
    limits: IngestLimits,
    forced: str | None,
    on_issue: Callable[[IngestIssue], None] | None,
    span: FileSpan | None = None,
) -> Iterator[Event]:
    ctx = ParseContext(str(path), limits, report, on_issue)
    current: Adapter | None = adapters[forced] if forced else None
    records_by_format, events_by_format = report.records_by_format, report.events_by_format
    # adapters whose records hold one event each: called directly, without a generator per record
    single: dict[str, Callable[[RawRecord, ParseContext], Event] | None] = {
        name: getattr(adapter, "event", None) for name, adapter in adapters.items()
    }
    for item in read_records(path, limits, span):
        if isinstance(item, ReadProblem):
            ctx.format = current.name if current else None
            ctx.issue(item.kind, item.detail, Severity.ERROR, item.index, item.line)
            continue
        ctx.record = item
        # Most files hold one format: try the last one first, detect only when it does not fit.
        if forced is None and (current is None or not current.matches(item)):
            current = detect(item, adapters)
            if current is None:
                ctx.format = None
                keys = ", ".join(sorted(map(str, item.obj))[:8])
                ctx.error(IssueKind.UNKNOWN_FORMAT, f"record matches no known log format (keys: {keys})")
                continue
        assert current is not None
        name = current.name
        ctx.format = name
        records_by_format[name] += 1
        one = single[name]
        try:
            if one is not None:
                event = one(item, ctx)
                events_by_format[name] += 1
                yield event
            else:
                for event in current.parse(item, ctx):
                    events_by_format[name] += 1
                    yield event
        except RecordRejectedError as rejected:
            ctx.error(rejected.kind, rejected.detail)


def ingest_in_time_order(
    paths: Iterable[str | Path],
    *,
    report: IngestReport | None = None,
    limits: IngestLimits = DEFAULT_LIMITS,
    format: str | None = None,
    on_issue: Callable[[IngestIssue], None] | None = None,
) -> Iterator[Event]:
    """The events of all files merged by ``ts`` (all files open at once, one record each in memory).

    Each file must itself be in time order, as logs written while things happen are — to within clock
    skew and batching, which then show as small inversions in the merged stream, not as lost events.
    """
    report = report if report is not None else IngestReport()
    streams = [
        ingest([path], report=report, limits=limits, format=format, on_issue=on_issue)
        for path in log_files(paths, report)
    ]
    return heapq.merge(*streams, key=operator.attrgetter("ts"))
