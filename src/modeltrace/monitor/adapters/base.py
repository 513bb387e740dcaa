"""What an adapter is, and the context it reports problems through.

An adapter turns one :class:`~modeltrace.monitor.records.RawRecord` into zero or more events. It
raises :class:`RecordRejectedError` when the whole record is unusable, calls
:meth:`ParseContext.error` when one item of a batch is (one span of an OTLP batch),
:meth:`ParseContext.warn` when it drops one optional field, and :meth:`ParseContext.skip` when
the record is well-formed but not something the monitor models (an HTTP span without ``gen_ai.*``
attributes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from modeltrace.monitor.events import Event
from modeltrace.monitor.limits import IngestLimits
from modeltrace.monitor.records import RawRecord
from modeltrace.monitor.report import IngestIssue, IngestReport, IssueKind, Severity


class RecordRejectedError(Exception):
    """The record cannot become an event; ``kind`` and ``detail`` go into the ingest report."""

    def __init__(self, kind: IssueKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class Adapter(Protocol):
    """A log format. One whose records each hold exactly one event may also define
    ``event(record, ctx) -> Event``, returning what ``parse`` would yield; ingestion then calls it
    instead of making a generator per record."""

    name: str

    def matches(self, record: RawRecord) -> bool:
        """Cheap check of a record's shape; used to detect the format."""

    def parse(self, record: RawRecord, ctx: ParseContext) -> Iterator[Event]:
        """The events in the record (most formats: exactly one)."""


class ParseContext:
    """Where the current record came from, and the report its problems go to."""

    __slots__ = ("file", "format", "item", "limits", "on_issue", "record", "report")

    def __init__(
        self,
        file: str,
        limits: IngestLimits,
        report: IngestReport,
        on_issue: Callable[[IngestIssue], None] | None = None,
    ) -> None:
        self.file = file
        self.limits = limits
        self.report = report
        self.on_issue = on_issue
        self.record = RawRecord({}, 0)
        self.format: str | None = None
        # position of the item being parsed inside a batch record (a span among its line's spans)
        self.item: int | None = None

    @property
    def index(self) -> int | None:
        return self.record.index if self.item is None else self.item

    def origin(self) -> str:
        index, line = self.index, self.record.line
        return f"{self.file}:{line}" if index is None else f"{self.file}:{line}#{index}"

    def issue(self, kind: IssueKind, detail: str, severity: Severity, index: int | None, line: int) -> None:
        issue = IngestIssue(self.file, line, kind, detail[:300], severity, index, self.format)
        self.report.add(issue)
        if self.on_issue is not None:
            self.on_issue(issue)

    def error(self, kind: IssueKind, detail: str) -> None:
        self.issue(kind, detail, Severity.ERROR, self.index, self.record.line)

    def warn(self, kind: IssueKind, detail: str) -> None:
        self.issue(kind, detail, Severity.WARNING, self.index, self.record.line)

    def skip(self, reason: str) -> None:
        self.report.skipped_by_reason[reason] += 1
