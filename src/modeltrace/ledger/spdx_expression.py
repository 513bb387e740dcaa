"""SPDX license expressions (SPDX 3.0 SimpleLicensing Annex / SPDX 2.3 Annex D): a syntax check.

::

    idstring            = 1*(ALPHA / DIGIT / "-" / ".")
    license-ref         = ["DocumentRef-" idstring ":"] "LicenseRef-" idstring
    addition-ref        = ["DocumentRef-" idstring ":"] "AdditionRef-" idstring
    simple-expression   = license-id / license-id "+" / license-ref
    compound-expression = simple-expression
                        / simple-expression "WITH" (exception-id / addition-ref)
                        / compound-expression "AND" compound-expression
                        / compound-expression "OR" compound-expression
                        / "(" compound-expression ")"

``WITH`` binds tighter than ``AND``, which binds tighter than ``OR``. Operators must be upper case (the
spec matches them case-sensitively; ``mit or apache-2.0`` is almost always a typo for two licences).
We check syntax, not membership of the SPDX License List: the list changes every quarter and an
unknown but well-formed identifier is still a claim the signer made. ``NONE`` and ``NOASSERTION`` are
accepted on their own, as SPDX documents use them.
"""

from __future__ import annotations

import re

from modeltrace.ledger.errors import FormatError

MAX_EXPRESSION_CHARS = 1024
_IDSTRING = r"[A-Za-z0-9.\-]+"
_LICENSE_ID = re.compile(rf"{_IDSTRING}\+?")
_IDSTRING_RE = re.compile(_IDSTRING)
_LICENSE_REF = re.compile(rf"(?:DocumentRef-{_IDSTRING}:)?LicenseRef-{_IDSTRING}")
_ADDITION_REF = re.compile(rf"(?:DocumentRef-{_IDSTRING}:)?AdditionRef-{_IDSTRING}")
_REF_PREFIXES = ("LicenseRef-", "DocumentRef-", "AdditionRef-")
_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
_OPERATORS = ("AND", "OR", "WITH")


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing whitespace is left
            break
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[str]) -> None:
        self.text = text
        self.tokens = tokens
        self.position = 0

    def fail(self, problem: str) -> FormatError:
        return FormatError("SPDX license expression", f"{problem} in {self.text[:80]!r}")

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end")
        self.position += 1
        return token

    def parse_or(self) -> str:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.parse_and())
        return " OR ".join(parts)

    def parse_and(self) -> str:
        parts = [self.parse_with()]
        while self.peek() == "AND":
            self.take()
            parts.append(self.parse_with())
        return " AND ".join(parts)

    def parse_with(self) -> str:
        simple = self.parse_primary()
        if self.peek() != "WITH":
            return simple
        if simple.startswith("("):
            raise self.fail("WITH must follow a single licence, not a parenthesised expression")
        self.take()
        exception = self.take()
        plain = (
            _IDSTRING_RE.fullmatch(exception) is not None
            and exception not in _OPERATORS
            and not exception.startswith(_REF_PREFIXES)
        )
        if not plain and _ADDITION_REF.fullmatch(exception) is None:
            raise self.fail(f"bad exception identifier {exception[:40]!r}")
        return f"{simple} WITH {exception}"

    def parse_primary(self) -> str:
        token = self.take()
        if token == "(":
            inner = self.parse_or()
            if self.take() != ")":
                raise self.fail("missing ')'")
            return f"({inner})"
        if token == ")" or token in _OPERATORS:
            raise self.fail(f"unexpected {token!r}")
        if token.upper() in _OPERATORS:
            raise self.fail(f"operator {token!r} must be upper case")
        if token in ("NONE", "NOASSERTION"):
            raise self.fail(f"{token} cannot be part of a compound expression")
        if token.startswith(_REF_PREFIXES) or ":" in token:
            if _LICENSE_REF.fullmatch(token) is None:
                raise self.fail(f"bad licence reference {token[:40]!r}")
        elif _LICENSE_ID.fullmatch(token) is None:
            raise self.fail(f"bad licence identifier {token[:40]!r}")
        return token


def parse_license_expression(text: str) -> str:
    """Check ``text`` is a well-formed SPDX license expression; return it with normalised spacing."""
    if not isinstance(text, str) or not text.strip():
        raise FormatError("SPDX license expression", "is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise FormatError("SPDX license expression", f"longer than {MAX_EXPRESSION_CHARS} characters")
    stripped = text.strip()
    if stripped in ("NONE", "NOASSERTION"):
        return stripped
    tokens = _tokens(stripped)
    parser = _Parser(text, tokens)
    expression = parser.parse_or()
    extra = parser.peek()
    if extra is not None:
        if extra.upper() in _OPERATORS:
            raise parser.fail(f"operator {extra!r} must be upper case")
        raise parser.fail(f"unexpected {extra!r}")
    return expression
