"""Typed, bounded field extraction shared by the adapters.

Values come from untrusted JSON: a number may arrive as a string (OTLP encodes 64-bit integers as
strings), a flag as ``"true"``, a string with a lone surrogate. Each helper returns the value in its
schema type or ``None``; a present value of the wrong type is reported as a ``wrong_type`` warning
naming the field, so the event survives without the corrupted field.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

from modeltrace.monitor.adapters.base import ParseContext
from modeltrace.monitor.report import IssueKind

# Timestamps outside this window are corrupt or hostile, not old or future logs (1990 … 2200).
_MIN_TS, _MAX_TS = 631152000.0, 7258118400.0
# Below this an int converts to a finite float, so number() neither overflows nor warns.
_FLOAT_SAFE = 1 << 1000
_isfinite = math.isfinite
_HEX = "0123456789abcdef"


class AtypicalError(Exception):
    """A value a fast path does not handle (it would warn, or needs the general helper's care).

    The adapters' fast paths are side-effect free: on this error the record is parsed again, from the
    start, by the general path, which reports what there is to report.
    """


def clean(value: str) -> str:
    """The string with lone surrogates (from JSON ``\\ud800`` escapes) replaced, so it is valid UTF-8."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_digest(obj: Any) -> str:
    """First 32 hex digits of SHA-256 of the canonical JSON of ``obj``: an id for records without one."""
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def text(value: Any, ctx: ParseContext, name: str, max_chars: int | None = None) -> str | None:
    if value.__class__ is str:  # the common case first: this runs a dozen times per event
        limit = ctx.limits.max_field_chars if max_chars is None else max_chars
        return value if len(value) <= limit and value.isascii() else clean(value[:limit])
    if value is None:
        return None
    limit = ctx.limits.max_field_chars if max_chars is None else max_chars
    if isinstance(value, str):
        return clean(value[:limit])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    ctx.warn(IssueKind.WRONG_TYPE, f"{name}: expected text, got {_type_name(value)}")
    return None


def integer(value: Any, ctx: ParseContext, name: str) -> int | None:
    if value is None:
        return None
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and 0 < len(value) <= 24:
        try:
            return int(value)
        except ValueError:
            pass
    ctx.warn(
        IssueKind.WRONG_TYPE, f"{name}: expected an integer, got {_type_name(value)} {str(value)[:40]!r}"
    )
    return None


def count(value: Any, ctx: ParseContext, name: str) -> int | None:
    """A non-negative integer (token counts, bytes, n)."""
    result = integer(value, ctx, name)
    if result is not None and result < 0:
        ctx.warn(IssueKind.WRONG_TYPE, f"{name}: negative count {result}")
        return None
    return result


def number(value: Any, ctx: ParseContext, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError:  # an integer literal longer than any double (JSON allows it)
            result = math.nan
    elif isinstance(value, str) and 0 < len(value) <= 32:
        try:
            result = float(value)
        except ValueError:
            result = math.nan
    else:
        result = math.nan
    if math.isfinite(result):
        return result
    ctx.warn(IssueKind.WRONG_TYPE, f"{name}: expected a number, got {_type_name(value)} {str(value)[:40]!r}")
    return None


def flag(value: Any, ctx: ParseContext, name: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    ctx.warn(
        IssueKind.WRONG_TYPE, f"{name}: expected true/false, got {_type_name(value)} {str(value)[:40]!r}"
    )
    return None


def _epoch(value: float) -> float | None:
    if not math.isfinite(value):
        return None
    magnitude = abs(value)
    if magnitude >= 1e17:
        value /= 1e9  # nanoseconds (OTLP)
    elif magnitude >= 1e14:
        value /= 1e6
    elif magnitude >= 1e11:
        value /= 1e3
    return value if _MIN_TS <= value <= _MAX_TS else None


def parse_timestamp(value: Any) -> float | None:
    """Seconds since the epoch from ISO 8601 text or an epoch number in s, ms, µs or ns; None if unusable."""
    if value.__class__ is str and 20 <= len(value) <= 40 and value[-1] == "Z" and value[10] == "T":
        # the shape nearly every log writes (UTC, "Z"): straight to the C parser, once per event
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return _epoch(moment.timestamp())
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return _epoch(float(value))
        except OverflowError:  # an integer longer than any double
            return None
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return None
    stripped = value.strip()
    # ASCII only: str.isdigit() also accepts superscripts and other scripts' digits, which float() refuses
    if stripped.isascii() and stripped[:1].isdigit() and stripped.replace(".", "", 1).isdigit():
        return _epoch(float(stripped))
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _epoch(moment.timestamp())


# -- fast-path variants: the same result as the helper above for the values they accept, else
# AtypicalError. They take no context, because a value they accept is never reported.


def plain_text(value: Any, limit: int) -> str | None:
    """``text(value, ctx, name, limit)`` for a ``str`` or ``None``."""
    if value.__class__ is str:
        return value if len(value) <= limit and value.isascii() else clean(value[:limit])
    if value is None:
        return None
    raise AtypicalError


def plain_integer(value: Any) -> int | None:
    """``integer(value, ...)`` for an ``int`` or ``None``."""
    if value is None or value.__class__ is int:
        return value
    raise AtypicalError


def plain_count(value: Any) -> int | None:
    """``count(value, ...)`` for a non-negative ``int`` or ``None``."""
    if value is None or (value.__class__ is int and value >= 0):
        return value
    raise AtypicalError


def plain_number(value: Any) -> float | None:
    """``number(value, ...)`` for a finite ``float``, an ``int`` a float holds, or ``None``."""
    if value is None:
        return None
    if value.__class__ is float and _isfinite(value):
        return value  # float(value) of a float is the value itself
    if value.__class__ is int and -_FLOAT_SAFE < value < _FLOAT_SAFE:
        return float(value)
    raise AtypicalError


def plain_flag(value: Any) -> bool | None:
    """``flag(value, ...)`` for a ``bool`` or ``None``."""
    if value is None or value.__class__ is bool:
        return value
    raise AtypicalError


def plain_sub(value: Any) -> dict[str, Any]:
    """``sub(obj, key, ctx)`` given ``obj.get(key)``, for an object or ``None``."""
    if value.__class__ is dict:
        return value
    if value is None:
        return {}
    raise AtypicalError


def digest_field(value: Any, ctx: ParseContext, name: str) -> str | None:
    """A hash a log carries instead of text: hex, optionally ``sha256:``-prefixed; kept lower-case."""
    raw = text(value, ctx, name, 160)
    if raw is None:
        return None
    raw = raw.lower().removeprefix("sha256:")
    if raw and not raw.strip(_HEX):  # only hex digits (strip leaves whatever is not one)
        return raw
    ctx.warn(IssueKind.WRONG_TYPE, f"{name}: not a hex digest")
    return None


def plain_digest(value: Any) -> str | None:
    """``digest_field(value, ...)`` for ``None`` or a hex digest."""
    raw = plain_text(value, 160)
    if raw is None:
        return None
    raw = raw.lower().removeprefix("sha256:")
    if raw and not raw.strip(_HEX):
        return raw
    raise AtypicalError


def first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` present (and not null) in ``obj``."""
    for key in keys:
        value = obj.get(key)
        if value is not None:
            return value
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else ``{}`` (for nested parts whose absence is normal)."""
    return value if isinstance(value, dict) else {}


def sub(obj: dict[str, Any], key: str, ctx: ParseContext) -> dict[str, Any]:
    """``obj[key]`` if it is an object, ``{}`` if absent; a wrong type is a warning."""
    value = obj.get(key)
    if isinstance(value, dict):
        return value
    if value is not None:
        ctx.warn(IssueKind.WRONG_TYPE, f"{key}: expected an object, got {_type_name(value)}")
    return {}
