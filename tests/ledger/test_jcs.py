"""RFC 8785 (JCS) canonical JSON: the encoder's bytes, and the parser's refusal of any other spelling."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeltrace.ledger import jcs
from modeltrace.ledger.errors import FormatError


def test_rfc8785_sorting_example_orders_names_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: U+1F600 (a surrogate pair, D83D…) sorts before U+FB33, unlike code point order.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    names = list(json.loads(jcs.dumps(value)))
    assert names == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert sorted(value) != names  # code point order would differ: the test can tell


def test_string_escapes_are_those_of_json_stringify() -> None:
    encoded = jcs.dumps(['\u0000\u001f\u007f\u2028"\\\b\f\n\r\t', "é€😀", "\u0010"])
    assert encoded == (
        b'["\\u0000\\u001f\x7f\xe2\x80\xa8\\"\\\\\\b\\f\\n\\r\\t",' + '"é€😀"'.encode() + b',"\\u0010"]'
    )


def test_structure_numbers_and_literals() -> None:
    value = {"b": [1, -2, 0, 9007199254740991], "a": {"y": None, "x": True}, "c": False, "": ""}
    assert jcs.dumps(value) == b'{"":"","a":{"x":true,"y":null},"b":[1,-2,0,9007199254740991],"c":false}'


@pytest.mark.parametrize(
    "value",
    [1.5, 2**53, -(2**53), float("nan"), {"a": object()}, {1: "x"}, "\ud800", ["\udfff"]],
)
def test_dumps_refuses_what_it_cannot_encode_canonically(value: object) -> None:
    with pytest.raises(FormatError):
        jcs.dumps(value)


@pytest.mark.parametrize(
    "text",
    [
        b'{"b":1,"a":2}',  # members out of order
        b'{"a": 1}',  # whitespace
        b'{"a":1,"a":1}',  # duplicate name
        b'{"a":1.0}',  # a float, even an integral one
        b'{"a":1e2}',
        b'{"a":-0}',
        b'{"a":NaN}',
        b'{"a":"\\u00e9"}',  # an escape JSON.stringify would not write
        b'{"a":"\\/"}',
        b'{"a":9007199254740992}',  # beyond the I-JSON safe range
        b'\xef\xbb\xbf{"a":1}',  # BOM
        b'{"a":1}\n',
        b'{"a":"\xff"}',  # not UTF-8
        b'{"a":',
    ],
)
def test_loads_refuses_every_non_canonical_spelling(text: bytes) -> None:
    with pytest.raises(FormatError):
        jcs.loads(text)


def test_loads_bounds_size_and_depth() -> None:
    with pytest.raises(FormatError, match="larger than"):
        jcs.loads(b'"' + b"x" * 100 + b'"', max_bytes=50)
    deep = b"[" * 40 + b"]" * 40
    with pytest.raises(FormatError):
        jcs.loads(deep)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=("Cs",)), max_size=8), children, max_size=4
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trip_and_agreement_with_the_json_module(value: object) -> None:
    encoded = jcs.dumps(value)
    assert jcs.loads(encoded) == value
    assert json.loads(encoded) == value
    assert jcs.dumps(json.loads(encoded)) == encoded


def _accepted(data: bytes) -> bool:
    try:
        jcs.loads(data)
    except FormatError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_only_the_canonical_spelling_is_accepted(value: object) -> None:
    # loads takes a fast path through the json module's C encoder; spellings that C encoder writes
    # itself (code-point member order, ASCII escapes, insertion order) must still be refused unless
    # they are byte for byte the canonical one.
    canonical = jcs.dumps(value)
    spellings = {
        canonical,
        json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(),
        json.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode(),
        json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(),
    }
    for spelling in spellings:
        assert _accepted(spelling) == (spelling == canonical), spelling


def test_code_point_member_order_is_refused_where_it_differs_from_utf16() -> None:
    value = {"\ufb33": 1, "\U0001f600": 2}
    by_code_point = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    assert by_code_point != jcs.dumps(value) and not _accepted(by_code_point)
    assert jcs.loads(jcs.dumps(value)) == value
