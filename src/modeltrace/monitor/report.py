"""What ingestion saw: counts per format, every malformed record counted by kind, the first ones listed.

Logs come from adversaries and from buggy exporters. A record we cannot use is never fatal and never
dropped silently: it becomes an :class:`IngestIssue` (file, line, index inside an array, kind, a short
reason), counted in :class:`IngestReport` and — up to ``max_listed`` — kept in it. Pass ``on_issue``
to :func:`modeltrace.monitor.ingest.ingest` to receive every issue, unbounded.

Errors reject a record (or one span of an OTLP batch). Warnings keep the event but drop one optional
field that had the wrong type; they carry line numbers too, because a field an attacker can corrupt
silently is a field a detector cannot trust.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class IssueKind(StrEnum):
    RECORD_TOO_LARGE = "record_too_large"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    TRUNCATED = "truncated"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_FORMAT = "unknown_format"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    BAD_TIMESTAMP = "bad_timestamp"
    UNREADABLE_FILE = "unreadable_file"
    DECOMPRESSION = "decompression_error"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class IngestIssue:
    """One problem, located: ``file:line`` and, inside a ``Records``/``items``/span array, the index."""

    file: str
    line: int
    kind: IssueKind
    detail: str
    severity: Severity = Severity.ERROR
    index: int | None = None
    format: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" + (f"#{self.index}" if self.index is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "index": self.index,
            "kind": str(self.kind),
            "severity": str(self.severity),
            "format": self.format,
            "detail": self.detail,
        }


@dataclass(slots=True)
class IngestReport:
    """Complete counts; ``issues`` keeps the first ``max_listed`` issues, ``issues_not_listed`` the rest."""

    max_listed: int = 1000
    files: int = 0
    files_skipped: list[str] = field(default_factory=list)
    records_by_format: Counter[str] = field(default_factory=Counter)
    events_by_format: Counter[str] = field(default_factory=Counter)
    errors_by_format: Counter[str] = field(default_factory=Counter)
    errors_by_kind: Counter[str] = field(default_factory=Counter)
    warnings_by_kind: Counter[str] = field(default_factory=Counter)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    issues: list[IngestIssue] = field(default_factory=list)
    issues_not_listed: int = 0

    @property
    def events(self) -> int:
        return sum(self.events_by_format.values())

    @property
    def errors(self) -> int:
        return sum(self.errors_by_kind.values())

    @property
    def warnings(self) -> int:
        return sum(self.warnings_by_kind.values())

    def add(self, issue: IngestIssue) -> None:
        if issue.severity is Severity.ERROR:
            self.errors_by_kind[str(issue.kind)] += 1
            self.errors_by_format[issue.format or "unknown"] += 1
        else:
            self.warnings_by_kind[str(issue.kind)] += 1
        if len(self.issues) < self.max_listed:
            self.issues.append(issue)
        else:
            self.issues_not_listed += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "files_skipped": list(self.files_skipped),
            "events": self.events,
            "errors": self.errors,
            "warnings": self.warnings,
            "records_by_format": dict(sorted(self.records_by_format.items())),
            "events_by_format": dict(sorted(self.events_by_format.items())),
            "errors_by_format": dict(sorted(self.errors_by_format.items())),
            "errors_by_kind": dict(sorted(self.errors_by_kind.items())),
            "warnings_by_kind": dict(sorted(self.warnings_by_kind.items())),
            "skipped_by_reason": dict(sorted(self.skipped_by_reason.items())),
            "issues": [issue.to_dict() for issue in self.issues],
            "issues_not_listed": self.issues_not_listed,
        }
