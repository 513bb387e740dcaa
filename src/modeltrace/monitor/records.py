"""JSON records out of a log file that may be huge, broken or hostile, one at a time.

One reader serves every format, because real exports mix shapes: JSON lines (gateway logs, OTLP file
exports, Kubernetes audit logs, CloudTrail via CloudWatch), concatenated or pretty-printed JSON, and
*wrapper documents* — CloudTrail's ``{"Records": [...]}``, a Kubernetes ``EventList``'s ``items``,
OTLP's ``{"resourceSpans": [...]}`` — which may be one multi-megabyte line. gzip is detected by its
magic bytes (CloudTrail delivers ``.json.gz``).

Guarantees:

* Memory is bounded by ``IngestLimits.max_record_chars`` plus one read chunk, whatever the input: a
  record is decoded from a sliding buffer; a larger one is skipped up to the next newline without
  being held. A wrapper document larger than the bound is streamed element by element instead.
* A bad record costs only itself: the reader reports it (line, index inside an array, kind, reason)
  and resynchronises at the next line. Inside an oversized wrapper document, which has no lines to
  resynchronise on, an error ends that document and says how many elements were read.
* Invalid UTF-8 is detected per record (bytes are decoded with ``surrogateescape`` and a record whose
  text holds an escaped byte is rejected), so one bad byte does not poison the rest of the file.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import msgspec

from modeltrace.monitor.limits import DEFAULT_LIMITS, IngestLimits
from modeltrace.monitor.report import IssueKind

_DECODER = json.JSONDecoder()
# the C scanner behind raw_decode, called directly on the hot path (raw_decode only wraps it)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
# msgspec's decoder, for whole JSON lines: 2.7x the stdlib's speed on gateway records (4.3 vs 11.4 us),
# and it accepts nothing the stdlib rejects and decodes what both accept to equal values (integers of any
# size included; tests/monitor/test_records.py fuzzes that). What it rejects and the stdlib takes
# (NaN, Infinity, lone surrogate escapes, 1e400) goes to the stdlib path, so the records are the same.
# A test sets this to None to read a file both ways.
_LINE_DECODE: Callable[[str], Any] | None = msgspec.json.Decoder().decode
_WHITESPACE = re.compile(r"[ \t\r\n]*")
# surrogateescape turns each byte that is not UTF-8 into one of these; JSON text cannot contain them
# otherwise (an escaped "\udc80" in JSON is six ASCII characters).
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
# raw_decode reports running out of input at (or a few characters before, inside a literal such as
# "tru" or "12.") the end of the buffer; an error further back is a real error.
_INCOMPLETE_MARGIN = 8
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_PRETTY_OPENING = re.compile(r"[\[{][ \t\r]*\n")


def _holds_escaped_byte(text: str) -> bool:
    """Whether decoded text holds a byte that was not UTF-8, without a regex pass over the chunk.

    The ``surrogateescape`` decoder emits a surrogate only for such a byte (UTF-8-encoded surrogates are
    invalid UTF-8 and escaped byte by byte), so the text holds one exactly when it does not encode as
    strict UTF-8; ``isascii`` answers that in O(1) for all-ASCII text.
    """
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class RawRecord:
    """One JSON object from the file: where it was, and whether it came out of a wrapper array.

    ``index`` is the position inside the wrapper (or top-level) array, ``wrapper`` the array's key
    (``Records``, ``items``, ``resourceSpans``), ``context`` the document's small scalar members.
    """

    __slots__ = ("context", "index", "line", "obj", "wrapper")

    def __init__(
        self,
        obj: dict[str, Any],
        line: int,
        index: int | None = None,
        wrapper: str | None = None,
        context: Mapping[str, Any] = _EMPTY,
    ) -> None:
        self.obj, self.line, self.index, self.wrapper, self.context = obj, line, index, wrapper, context


@dataclass(frozen=True, slots=True)
class ReadProblem:
    line: int
    index: int | None
    kind: IssueKind
    detail: str


class _BadRecordError(Exception):
    def __init__(self, kind: IssueKind, detail: str, line: int | None = None, index: int | None = None):
        super().__init__(detail)
        self.kind, self.detail, self.line, self.index = kind, detail, line, index


class _TooLargeError(Exception):
    pass


def _wrapper_key(obj: Mapping[str, Any]) -> str | None:
    if isinstance(obj.get("Records"), list):
        return "Records"
    if isinstance(obj.get("resourceSpans"), list):
        return "resourceSpans"
    if isinstance(obj.get("items"), list) and str(obj.get("kind", "")).endswith("List"):
        return "items"
    return None


def _is_wrapper_member(key: str, context: Mapping[str, Any]) -> bool:
    return key in ("Records", "resourceSpans") or (
        key == "items" and str(context.get("kind", "")).endswith("List")
    )


def _is_scalar(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, bool | int | float)
        or (isinstance(value, str) and len(value) < 256)
    )


class _Buffer:
    """A sliding window of decoded text over a binary stream, with the line number at ``pos``."""

    def __init__(self, stream: BinaryIO, limits: IngestLimits, compressed: bool) -> None:
        self._stream = stream
        self._limits = limits
        self._compressed = compressed
        # Strict until the first byte that is not UTF-8: valid input then needs no scan for escaped
        # bytes. Its errors mode switches to surrogateescape there (see _decode).
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.text = ""
        self.pos = 0
        self.base = 0  # characters dropped from the front of the window so far
        self.line = 1
        self.eof = False
        self.dirty = False  # the window holds bytes that were not UTF-8
        self._started = False

    # -- window management ------------------------------------------------------------------------

    def fill(self) -> None:
        if self.eof:
            return
        try:
            data = self._stream.read(self._limits.chunk_bytes)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise _BadRecordError(IssueKind.DECOMPRESSION, f"gzip stream broken: {exc}", self.line) from None
        except OSError as exc:
            kind = IssueKind.DECOMPRESSION if self._compressed else IssueKind.UNREADABLE_FILE
            raise _BadRecordError(kind, f"read failed: {exc}", self.line) from None
        new, escaped = self._decode(data)
        if not data:
            self.eof = True
        if not self._started:
            self._started = True
            new = new.removeprefix("\ufeff")
        if self.pos:
            self.base += self.pos
            self.text = self.text[self.pos :]
            self.pos = 0
            if self.dirty:
                self.dirty = _holds_escaped_byte(self.text)
        if new:
            self.text += new
            if escaped:
                self.dirty = True

    def _decode(self, data: bytes) -> tuple[str, bool]:
        """The text of the next bytes, and whether it holds escaped bytes that were not UTF-8.

        What a ``surrogateescape`` decoder would return: a failed strict call leaves the decoder's state as
        it was (the incremental decoder buffers undecided bytes only on success), and strict and
        ``surrogateescape`` decode valid bytes alike, so the same bytes are decoded again the other way.
        """
        decoder = self._decoder
        if decoder.errors == "strict":
            try:
                return decoder.decode(data, final=not data), False
            except UnicodeDecodeError:
                decoder.errors = "surrogateescape"
        new = decoder.decode(data, final=not data)
        return new, _holds_escaped_byte(new)

    def advance(self, new_pos: int) -> None:
        self.line += self.text.count("\n", self.pos, new_pos)
        self.pos = new_pos

    def skip_whitespace(self) -> bool:
        """Move to the next non-blank character; False at the end of the input."""
        text, pos = self.text, self.pos
        if pos + 1 < len(text) and text[pos] == "\n" and text[pos + 1] not in " \t\r\n":
            # JSON lines: the newline that ended the last record, then the next one
            self.pos, self.line = pos + 1, self.line + 1
            return True
        while True:
            end = _WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            self.advance(end)
            if end < len(self.text):
                return True
            if self.eof:
                return False
            self.fill()

    def skip_line(self) -> None:
        """Resynchronise after a bad record: drop everything up to and including the next newline."""
        while True:
            newline = self.text.find("\n", self.pos)
            if newline >= 0:
                self.advance(newline + 1)
                return
            self.pos = len(self.text)  # no newline in it: nothing to count
            if self.eof:
                return
            self.fill()

    def has_escaped_bytes(self, start: int, end: int) -> bool:
        return self.dirty and _ESCAPED_BYTE.search(self.text, start, end) is not None

    # -- decoding -----------------------------------------------------------------------------------

    def decode(self, max_chars: int) -> tuple[Any, int]:
        """The JSON value at ``pos`` and where it ends; reads more input as needed, up to ``max_chars``."""
        text, pos = self.text, self.pos
        if _LINE_DECODE is not None:
            # JSON lines: the object that fills the rest of this line, decoded natively; its end is
            # taken as the newline (what lies between is whitespace). An array or scalar, a line
            # longer than max_chars, or any error takes the exact path below, as before.
            newline = text.find("\n", pos, pos + max_chars + 1)
            if newline >= 0:
                try:
                    value = _LINE_DECODE(text[pos:newline])
                # DecodeError (not a ValueError in msgspec 0.18); UnicodeEncodeError (an escaped byte)
                except (msgspec.DecodeError, ValueError, RecursionError):
                    pass
                else:
                    if value.__class__ is dict:
                        return value, newline
        try:
            # the usual case, a whole object already in the window: the loop below would return it as is
            value, end = _SCAN(text, pos)
        except (StopIteration, ValueError, RecursionError):
            pass  # the loop below decodes it again, and reads more input or reports the error
        else:
            if value.__class__ is dict and end - pos <= max_chars:
                return value, end
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                incomplete = (
                    exc.pos >= len(self.text) - _INCOMPLETE_MARGIN
                    or exc.msg.startswith("Unterminated string")
                    or exc.msg.startswith("Invalid \\uXXXX")
                )
                if incomplete and not self.eof:
                    if len(self.text) - self.pos >= max_chars:
                        raise _TooLargeError from None
                    self.fill()
                    continue
                if incomplete:
                    raise _BadRecordError(
                        IssueKind.TRUNCATED, f"input ends inside a JSON value ({exc.msg})"
                    ) from None
                newline = self.text.find("\n", self.pos, exc.pos + 1)
                if newline >= 0 and not self.text[newline : exc.pos].strip():
                    # the error sits at the start of the next line: this line was cut short
                    raise _BadRecordError(
                        IssueKind.TRUNCATED, f"line ends inside a JSON value ({exc.msg})"
                    ) from None
                column = exc.pos - self.pos
                raise _BadRecordError(
                    IssueKind.INVALID_JSON, f"{exc.msg} at character {column} of the record"
                ) from None
            except RecursionError:
                raise _BadRecordError(IssueKind.INVALID_JSON, "JSON nested too deeply") from None
            except ValueError as exc:  # e.g. an integer literal with more digits than Python converts
                raise _BadRecordError(IssueKind.INVALID_JSON, str(exc)[:200]) from None
            if end - self.pos > max_chars:
                raise _TooLargeError
            if end == len(self.text) and not self.eof and not isinstance(value, dict | list | str):
                self.fill()  # a number or literal may continue in the next chunk
                continue
            return value, end


class _RecordReader:
    def __init__(self, buffer: _Buffer, limits: IngestLimits) -> None:
        self._buf = buffer
        self._limits = limits

    def records(self) -> Iterator[RawRecord | ReadProblem]:
        buf, limit = self._buf, self._limits.max_record_chars
        # JSON lines unless the file opens like pretty-printed JSON ("{" or "[" alone on the first
        # line): in JSON lines a record never spans lines, so one that does is a line cut short
        # followed by another line that happened to complete it.
        multiline: bool | None = None
        while True:
            try:
                if not buf.skip_whitespace():
                    return
                line, start = buf.line, buf.pos
                if multiline is None:
                    while len(buf.text) - buf.pos < 256 and not buf.eof:
                        buf.fill()
                    multiline = _PRETTY_OPENING.match(buf.text, buf.pos) is not None
                try:
                    value, end = buf.decode(limit)
                except _TooLargeError:
                    if buf.text[buf.pos] in "{[":
                        try:
                            yield from self._walk_document()
                        except _BadRecordError as bad:
                            yield ReadProblem(bad.line or buf.line, bad.index, bad.kind, bad.detail)
                            if bad.kind in (IssueKind.DECOMPRESSION, IssueKind.UNREADABLE_FILE):
                                return
                            buf.skip_line()
                    else:
                        yield ReadProblem(
                            line, None, IssueKind.RECORD_TOO_LARGE, f"record longer than {limit} characters"
                        )
                        buf.skip_line()
                    continue
                except _BadRecordError as bad:
                    yield ReadProblem(line, None, bad.kind, bad.detail)
                    if bad.kind in (IssueKind.DECOMPRESSION, IssueKind.UNREADABLE_FILE):
                        return
                    buf.skip_line()
                    continue
                if not multiline and buf.text.find("\n", start, end) >= 0:
                    yield ReadProblem(line, None, IssueKind.TRUNCATED, "line ends inside a JSON value")
                    buf.skip_line()
                    continue
                escaped = buf.dirty and buf.has_escaped_bytes(start, end)
                if multiline:
                    buf.advance(end)
                else:
                    buf.pos = end  # no newline inside: checked above
                if escaped:
                    yield ReadProblem(
                        line, None, IssueKind.INVALID_UTF8, "record contains bytes that are not UTF-8"
                    )
                    continue
                if value.__class__ is dict and (
                    ("Records" not in value and "resourceSpans" not in value and "items" not in value)
                    or _wrapper_key(value) is None
                ):
                    yield RawRecord(value, line)  # the common case, without a nested generator
                else:
                    yield from self._expand(value, line)
            except _BadRecordError as bad:  # decompression or I/O failure while skipping
                yield ReadProblem(bad.line or buf.line, bad.index, bad.kind, bad.detail)
                return

    def _expand(self, value: Any, line: int) -> Iterator[RawRecord | ReadProblem]:
        if isinstance(value, dict):
            wrapper = _wrapper_key(value)
            if wrapper is None:
                yield RawRecord(value, line)
                return
            context: Mapping[str, Any] = MappingProxyType(
                {k: v for k, v in value.items() if k != wrapper and _is_scalar(v)}
            )
            items = value[wrapper]
        elif isinstance(value, list):
            wrapper, context, items = None, _EMPTY, value
        else:
            yield ReadProblem(
                line, None, IssueKind.NOT_AN_OBJECT, f"a JSON {type(value).__name__}, not an object"
            )
            return
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield RawRecord(item, line, index, wrapper, context)
            else:
                kind = type(item).__name__
                yield ReadProblem(line, index, IssueKind.NOT_AN_OBJECT, f"array element is a JSON {kind}")

    # -- streaming a document too large to decode at once ------------------------------------------

    def _walk_document(self) -> Iterator[RawRecord | ReadProblem]:
        if self._buf.text[self._buf.pos] == "[":
            yield from self._walk_array(None, _EMPTY)
        else:
            yield from self._walk_object()

    def _expect(self, char: str, what: str) -> None:
        buf = self._buf
        if not buf.skip_whitespace():
            raise _BadRecordError(IssueKind.TRUNCATED, f"input ends where {what} was expected", buf.line)
        if buf.text[buf.pos] != char:
            raise _BadRecordError(
                IssueKind.INVALID_JSON, f"expected {what}, found {buf.text[buf.pos]!r}", buf.line
            )
        buf.advance(buf.pos + 1)

    def _walk_object(self) -> Iterator[RawRecord | ReadProblem]:
        buf, limits = self._buf, self._limits
        start = buf.base + buf.pos
        buf.advance(buf.pos + 1)
        context: dict[str, Any] = {}
        streamed = False
        while True:
            if not buf.skip_whitespace():
                raise _BadRecordError(IssueKind.TRUNCATED, "input ends inside a JSON object", buf.line)
            char = buf.text[buf.pos]
            if char == "}":
                buf.advance(buf.pos + 1)
                break
            if char == ",":
                buf.advance(buf.pos + 1)
                continue
            if char != '"':
                raise _BadRecordError(
                    IssueKind.INVALID_JSON, f"expected a member name, found {char!r}", buf.line
                )
            try:
                key, end = buf.decode(limits.max_field_chars)
            except _TooLargeError:
                raise _BadRecordError(IssueKind.RECORD_TOO_LARGE, "member name too long", buf.line) from None
            buf.advance(end)
            self._expect(":", "':'")
            if not buf.skip_whitespace():
                raise _BadRecordError(IssueKind.TRUNCATED, "input ends before a member value", buf.line)
            if _is_wrapper_member(key, context) and buf.text[buf.pos] == "[":
                streamed = True
                yield from self._walk_array(key, MappingProxyType(dict(context)))
                continue
            if not streamed and buf.base + buf.pos - start > limits.max_record_chars:
                break
            try:
                value, end = buf.decode(limits.max_record_chars)
            except _TooLargeError:
                raise _BadRecordError(
                    IssueKind.RECORD_TOO_LARGE,
                    f"member {key[:80]!r} longer than {limits.max_record_chars} characters",
                    buf.line,
                ) from None
            buf.advance(end)
            if len(context) < limits.max_context_keys and _is_scalar(value):
                context[key] = value
        if not streamed:
            raise _BadRecordError(
                IssueKind.RECORD_TOO_LARGE,
                f"object longer than {limits.max_record_chars} characters and not a Records/items/"
                "resourceSpans document",
                buf.line,
            )

    def _walk_array(self, key: str | None, context: Mapping[str, Any]) -> Iterator[RawRecord | ReadProblem]:
        buf, limit = self._buf, self._limits.max_record_chars
        name = key or "top-level"
        buf.advance(buf.pos + 1)
        index = 0
        while True:
            if not buf.skip_whitespace():
                raise _BadRecordError(
                    IssueKind.TRUNCATED,
                    f"input ends inside the {name} array after {index} elements",
                    buf.line,
                )
            char = buf.text[buf.pos]
            if char == "]":
                buf.advance(buf.pos + 1)
                return
            if char == ",":
                buf.advance(buf.pos + 1)
                continue
            line, start = buf.line, buf.pos
            try:
                value, end = buf.decode(limit)
            except _TooLargeError:
                raise _BadRecordError(
                    IssueKind.RECORD_TOO_LARGE,
                    f"element {index} of the {name} array is longer than {limit} characters; "
                    "the rest of the document was skipped",
                    line,
                    index,
                ) from None
            except _BadRecordError as bad:
                bad.line, bad.index = line, index
                bad.detail += f"; the rest of the {name} array was skipped after {index} elements"
                raise
            escaped = buf.has_escaped_bytes(start, end)
            buf.advance(end)
            if escaped:
                yield ReadProblem(
                    line, index, IssueKind.INVALID_UTF8, "record contains bytes that are not UTF-8"
                )
            elif isinstance(value, dict):
                yield RawRecord(value, line, index, key, context)
            else:
                kind = type(value).__name__
                yield ReadProblem(line, index, IssueKind.NOT_AN_OBJECT, f"array element is a JSON {kind}")
            index += 1


@dataclass(slots=True)
class FileSpan:
    """A byte range of an uncompressed log file, and the line number it starts on.

    ``monitor run --follow`` reads only what was appended since the last poll: ``start`` is where the
    previous read ended (always just after a newline), ``end`` the size the file had, at a newline, when
    the poll looked. After the read, ``end_line`` is the line number the next span starts on.
    """

    start: int = 0
    end: int | None = None
    first_line: int = 1
    end_line: int = 1


class _Limited:
    """At most ``remaining`` bytes of a stream: a writer appending past the span is not read half-way."""

    def __init__(self, stream: BinaryIO, remaining: int) -> None:
        self._stream, self._remaining = stream, remaining

    def read(self, size: int = -1) -> bytes:
        size = self._remaining if size < 0 else min(size, self._remaining)
        data = self._stream.read(size) if size > 0 else b""
        self._remaining -= len(data)
        return data


def read_records(
    path: str | Path, limits: IngestLimits = DEFAULT_LIMITS, span: FileSpan | None = None
) -> Iterator[RawRecord | ReadProblem]:
    """Every JSON object in the file (or in ``span`` of it), in order, or a :class:`ReadProblem` where one
    could not be read."""
    try:
        raw = Path(path).open("rb")  # noqa: SIM115 -- closed by the with below; open errors are reported
    except OSError as exc:
        yield ReadProblem(0, None, IssueKind.UNREADABLE_FILE, f"cannot open: {exc.strerror or exc}")
        return
    with raw:
        try:
            compressed = raw.peek(2)[:2] == b"\x1f\x8b"
            if span is not None and span.start and not compressed:
                raw.seek(span.start)
        except OSError as exc:
            yield ReadProblem(0, None, IssueKind.UNREADABLE_FILE, f"cannot read: {exc.strerror or exc}")
            return
        if span is not None and compressed and (span.start or span.end is not None):
            raise ValueError(f"{path}: a byte span of a compressed file cannot be read")
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
        if span is not None and span.end is not None:
            stream = _Limited(stream, span.end - span.start)  # type: ignore[assignment]
        buffer = _Buffer(stream, limits, compressed)
        if span is not None:
            buffer.line = span.first_line
        yield from _RecordReader(buffer, limits).records()
        if span is not None:
            span.end_line = buffer.line
