"""Strict readers for the small textual atoms the C2SP formats share: base64, decimals, lines.

Every C2SP text format (signed-note, tlog-checkpoint, tlog-proof, tlog-policy) is hostile input, and the
same three mistakes recur in parsers: lenient base64 (whitespace, missing padding, non-zero trailing bits,
so two encodings verify as one), decimals with signs, spaces or leading zeros, and unbounded lengths.
These helpers refuse all three and raise :class:`FormatError` naming the format.
"""

from __future__ import annotations

import base64
import binascii
import re

from modeltrace.ledger.errors import FormatError

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
# ASCII control characters other than newline (signed-note §Format); DEL is allowed there, as in Go.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str, *, max_bytes: int) -> bytes:
    """RFC 4648 §4 base64 with padding, canonical only: re-encoding must give back the same text."""
    if len(text) > 4 * ((max_bytes + 2) // 3):
        raise FormatError(what, f"base64 text of {len(text)} characters is longer than allowed")
    if len(text) % 4 or _BASE64.fullmatch(text) is None:
        raise FormatError(what, "invalid base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(what, "invalid base64") from None
    if b64encode(data) != text:
        raise FormatError(what, "non-canonical base64")
    return data


def parse_decimal(text: str, what: str, *, maximum: int) -> int:
    """An ASCII decimal with no sign, spaces or leading zeros (except ``0``), at most ``maximum``."""
    # len check first: int() of a hostile 10⁶-digit string is quadratic.
    if len(text) > len(str(maximum)) or _DECIMAL.fullmatch(text) is None:
        raise FormatError(what, f"not a canonical decimal: {text[:40]!r}")
    value = int(text)
    if value > maximum:
        raise FormatError(what, f"{value} is larger than {maximum}")
    return value


def decode_utf8(data: bytes | str, what: str, *, max_bytes: int) -> str:
    """Bytes (or str) → str, strictly UTF-8 and bounded in size before anything else looks at it."""
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError(what, "text is not valid Unicode (lone surrogate)") from None
    else:
        raw = bytes(data)
    if len(raw) > max_bytes:
        raise FormatError(what, f"{len(raw)} bytes is larger than the limit of {max_bytes}")
    try:
        return raw.decode("utf-8") if not isinstance(data, str) else data
    except UnicodeDecodeError as error:
        raise FormatError(what, f"invalid UTF-8 at byte {error.start}") from None
