"""RFC 8785 JSON Canonicalization Scheme (JCS) for the subset of JSON the ledger allows.

Entries are hashed and signed as bytes, so two encoders must agree on every byte. JCS fixes the three
things plain JSON leaves open: object members sorted by their names' UTF-16 code units (not code
points: U+1F600 sorts before U+FB33), no insignificant whitespace, and ECMAScript string and number
formatting. We allow only integers in the I-JSON safe range (|n| ≤ 2⁵³−1) as numbers, so
ECMAScript number formatting reduces to ``str(n)``; a float is refused rather than risk a second
formatting. Strings are escaped exactly as ``JSON.stringify`` does: ``\\" \\\\ \\b \\t \\n \\f \\r``,
``\\u00XX`` (lower-case hex) for the other C0 controls, everything else verbatim as UTF-8. Lone
surrogates cannot be encoded in UTF-8 and are refused.

:func:`loads` parses hostile bytes and insists they are *already* canonical, so a leaf has exactly
one encoding: duplicate names, floats, ``NaN``, whitespace, or any other spelling are rejected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

from modeltrace.ledger.errors import FormatError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32

JsonValue = None | bool | int | str | Sequence["JsonValue"] | Mapping[str, "JsonValue"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: str) -> str:
    # The json module's non-ASCII string encoder (C-accelerated) escapes exactly what JSON.stringify
    # does: '"', '\\', \b \t \n \f \r, other C0 controls as lower-case \u00xx, nothing else.
    if _SURROGATE.search(value):
        raise FormatError("JCS", "string contains a lone surrogate")
    return str(encode_basestring(value))


def _sort_key(name: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly like sequences of UTF-16 code units (RFC 8785 §3.2.3).
    return name.encode("utf-16-be", "surrogatepass")


def _encode(value: object, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise FormatError("JCS", f"nested deeper than {MAX_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise FormatError("JCS", f"integer {value} is outside the I-JSON safe range ±(2^53−1)")
        out.append(str(int(value)))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Mapping):
        names = list(value.keys())
        if any(not isinstance(name, str) for name in names):
            raise FormatError("JCS", "object member names must be strings")
        out.append("{")
        for position, name in enumerate(sorted(names, key=_sort_key)):
            if position:
                out.append(",")
            out.append(_string(name))
            out.append(":")
            _encode(value[name], out, depth + 1)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _encode(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, float):
        raise FormatError("JCS", f"non-integer number {value!r}: only integers are allowed")
    else:
        raise FormatError("JCS", f"cannot encode a {type(value).__name__}")


def dumps(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value`` (dicts, lists, str, int, bool, None)."""
    out: list[str] = []
    _encode(value, out, 0)
    return "".join(out).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise FormatError("JCS", f"duplicate member name {name[:40]!r}")
        result[name] = value
    return result


def _no_float(text: str) -> int:
    raise FormatError("JCS", f"non-integer number {text[:40]!r}")


def _no_constant(text: str) -> int:
    raise FormatError("JCS", f"{text} is not JSON")


def _safe_int(text: str) -> int:
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise FormatError("JCS", f"integer {text[:40]} is outside the I-JSON safe range ±(2^53−1)")
    return value


_C_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)
# Built once: json.loads with hooks would build a decoder (and its scanner) on every call.
_C_DECODER = json.JSONDecoder(parse_int=_safe_int, parse_float=_no_float, parse_constant=_no_constant)


def _fast_canonical(raw: bytes, text: str) -> Any:
    """The parsed value when ``raw`` is certainly canonical by a cheaper test than :func:`dumps`; else None.

    Appends parse every leaf, and the pure-Python encoder is most of that cost. The C encoder of the
    json module writes exactly JCS under conditions checked here: numbers are integers in the safe
    range (``_safe_int``; floats and constants refused at parse), every character is in the BMP (so
    code point order is UTF-16 code unit order), strings escaped as :func:`_string` does, and nesting
    is at most :data:`MAX_DEPTH` (bounded by the bracket count, which over-counts brackets in strings).
    Duplicate names need no hook: the re-encoding of the de-duplicated object is shorter than ``raw``.
    Anything the fast test does not accept goes to the exact path, which names the problem.
    """
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH or not (text.isascii() or max(text) < "\U00010000"):
        return None
    try:
        value = _C_DECODER.decode(text)
        canonical = _C_CANONICAL.encode(value).encode("utf-8")
    except (FormatError, ValueError, RecursionError, UnicodeEncodeError):
        return None
    return value if canonical == raw else None


def loads(data: bytes | str, *, max_bytes: int = 1 << 20, what: str = "JCS") -> Any:
    """Parse ``data`` and require it to be canonical JCS already (one encoding per value)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise FormatError(what, f"{len(raw)} bytes is larger than the limit of {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FormatError(what, f"not JSON: {str(error)[:80]}") from None
    fast = _fast_canonical(raw, text)
    if fast is not None:
        return fast
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_float=_no_float, parse_constant=_no_constant
        )
    except FormatError as error:
        raise FormatError(what, error.problem) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise FormatError(what, f"not JSON: {str(error)[:80]}") from None
    try:
        canonical = dumps(value)
    except FormatError as error:
        raise FormatError(what, error.problem) from None
    if canonical != raw:
        raise FormatError(what, "not in RFC 8785 canonical form")
    return value
