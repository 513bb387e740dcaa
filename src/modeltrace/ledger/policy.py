"""C2SP tlog-policy (c2sp.org/tlog-policy): which logs and witnesses to trust, and the cosigning quorum.

::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> <k|any|all> <member>...
    quorum <name|none>

Items are separated by spaces or tabs; blank lines and ``#`` comments are ignored. A group or the quorum
may only name witnesses and groups defined on earlier lines (so there are no cycles), a member appears at
most once per group, ``1 ≤ k ≤ n``, names are unique, no public key is listed twice, and there is exactly
one quorum line. The spec treats non-ASCII octets as opaque; we additionally require UTF-8, since names
and vkeys become Python strings and key names are UTF-8 by signed-note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from modeltrace.ledger.errors import FormatError
from modeltrace.ledger.note import CosignatureVerifier, Ed25519Verifier, parse_vkey

NONE = "none"
# Hostile-input bounds; the spec asks implementations to support at least 32 of each.
MAX_POLICY_BYTES = 1 << 16
MAX_LINE_BYTES = 4096
MAX_ENTRIES = 256
# tlog-policy §Character set: tab, newline, 0x20-0x7E and the high octets only.
_FORBIDDEN_OCTETS = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
# Only ASCII space and tab separate items (§Structure); str.split() would also split at U+00A0 etc.
_WHITESPACE = re.compile(r"[ \t]+")
_THRESHOLD = re.compile(r"[1-9][0-9]{0,2}")


@dataclass(frozen=True)
class PolicyLog:
    verifier: Ed25519Verifier
    url: str | None = None


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    verifier: CosignatureVerifier
    url: str | None = None


@dataclass(frozen=True)
class PolicyGroup:
    """At least ``threshold`` of ``members`` (witness or group names) must have witnessed."""

    name: str
    threshold: int
    members: tuple[str, ...]
    spelling: str = ""  # "any", "all" or "" (numeric): kept so the policy prints back as written


@dataclass(frozen=True)
class Policy:
    """A parsed tlog-policy. ``quorum`` is a witness or group name, or ``"none"``."""

    logs: tuple[PolicyLog, ...]
    witnesses: Mapping[str, PolicyWitness]
    groups: Mapping[str, PolicyGroup]
    quorum: str

    @property
    def log_verifiers(self) -> tuple[Ed25519Verifier, ...]:
        return tuple(log.verifier for log in self.logs)

    @property
    def witness_verifiers(self) -> tuple[CosignatureVerifier, ...]:
        return tuple(witness.verifier for witness in self.witnesses.values())

    def witness_names(self, verifiers: Iterable[CosignatureVerifier]) -> frozenset[str]:
        """The policy names of the witnesses whose keys are ``verifiers``."""
        by_key = {witness.verifier.vkey: name for name, witness in self.witnesses.items()}
        return frozenset(by_key[verifier.vkey] for verifier in verifiers if verifier.vkey in by_key)

    def satisfied_by(self, witnesses: Iterable[str]) -> bool:
        """Whether these witnesses (policy names), cosigning, meet the quorum (§Defining the quorum)."""
        if self.quorum == NONE:
            return True
        cosigned = frozenset(witnesses)
        decided = {name: name in cosigned for name in self.witnesses}
        # Groups only name earlier definitions, so one pass in definition order decides every group.
        for name, group in self.groups.items():
            decided[name] = sum(decided[member] for member in group.members) >= group.threshold
        return decided[self.quorum]

    def to_text(self) -> str:
        """The policy as tlog-policy text: logs, witnesses, then groups in order; comments dropped."""
        lines: list[str] = []
        for log in self.logs:
            lines.append(" ".join(["log", log.verifier.vkey, *([log.url] if log.url else [])]))
        for name, witness in self.witnesses.items():
            url = [witness.url] if witness.url else []
            lines.append(" ".join(["witness", name, witness.verifier.vkey, *url]))
        for name, group in self.groups.items():
            lines.append(" ".join(["group", name, group.spelling or str(group.threshold), *group.members]))
        lines.append(f"quorum {self.quorum}")
        return "".join(f"{line}\n" for line in lines)


def parse_policy(data: bytes | str) -> Policy:
    """Parse and validate a tlog-policy file; raises :class:`FormatError` naming the line."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_POLICY_BYTES:
        raise FormatError("policy", f"{len(raw)} bytes is larger than the limit of {MAX_POLICY_BYTES}")
    bad = _FORBIDDEN_OCTETS.search(raw)
    if bad is not None:
        raise FormatError("policy", f"forbidden control octet 0x{bad.group()[0]:02x} at byte {bad.start()}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FormatError("policy", f"invalid UTF-8 at byte {error.start}") from None
    builder = _PolicyBuilder()
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line.encode("utf-8")) > MAX_LINE_BYTES:
            raise FormatError("policy", f"line {number} is longer than {MAX_LINE_BYTES} bytes")
        items = [item for item in _WHITESPACE.split(line) if item]
        if not items or items[0].startswith("#"):
            continue
        try:
            builder.add(items)
        except FormatError as error:
            raise FormatError("policy", f"line {number}: {error.problem}") from None
    return builder.build()


class _PolicyBuilder:
    def __init__(self) -> None:
        self.logs: list[PolicyLog] = []
        self.witnesses: dict[str, PolicyWitness] = {}
        self.groups: dict[str, PolicyGroup] = {}
        self.keys: set[bytes] = set()
        self.quorum: str | None = None

    def add(self, items: list[str]) -> None:
        keyword, arguments = items[0], items[1:]
        if len(self.logs) + len(self.witnesses) + len(self.groups) >= MAX_ENTRIES:
            raise FormatError("policy", f"more than {MAX_ENTRIES} definitions")
        if keyword == "log":
            self._log(arguments)
        elif keyword == "witness":
            self._witness(arguments)
        elif keyword == "group":
            self._group(arguments)
        elif keyword == "quorum":
            self._quorum(arguments)
        else:
            raise FormatError("policy", f"unknown keyword {keyword[:40]!r}")

    def _new_key(self, public_key: bytes) -> None:
        # Duplicates are the same public key, whatever name or key ID wraps it (§Public key representation).
        if public_key in self.keys:
            raise FormatError("policy", "the same public key is listed twice")
        self.keys.add(public_key)

    def _new_name(self, name: str) -> None:
        if name == NONE:
            raise FormatError("policy", "'none' is predefined and cannot be redefined")
        if name in self.witnesses or name in self.groups:
            raise FormatError("policy", f"name {name[:60]!r} is defined twice")

    def _log(self, arguments: list[str]) -> None:
        if len(arguments) not in (1, 2):
            raise FormatError("policy", "expected: log <vkey> [<url>]")
        verifier = parse_vkey(arguments[0])
        if not isinstance(verifier, Ed25519Verifier):
            raise FormatError("policy", "a log key must be an Ed25519 (type 0x01) vkey")
        self._new_key(verifier.public_key)
        self.logs.append(PolicyLog(verifier, arguments[1] if len(arguments) == 2 else None))

    def _witness(self, arguments: list[str]) -> None:
        if len(arguments) not in (2, 3):
            raise FormatError("policy", "expected: witness <name> <vkey> [<url>]")
        name = arguments[0]
        self._new_name(name)
        verifier = parse_vkey(arguments[1])
        if not isinstance(verifier, CosignatureVerifier):
            raise FormatError("policy", "a witness key must be an Ed25519 cosignature/v1 (type 0x04) vkey")
        self._new_key(verifier.public_key)
        self.witnesses[name] = PolicyWitness(name, verifier, arguments[2] if len(arguments) == 3 else None)

    def _group(self, arguments: list[str]) -> None:
        if len(arguments) < 3:
            raise FormatError("policy", "expected: group <name> <k|any|all> <member>...")
        name, threshold_text, members = arguments[0], arguments[1], tuple(arguments[2:])
        self._new_name(name)
        for member in members:
            if member not in self.witnesses and member not in self.groups:
                raise FormatError("policy", f"group member {member[:60]!r} is not defined on an earlier line")
        if len(set(members)) != len(members):
            raise FormatError("policy", f"group {name[:60]!r} lists a member twice")
        if threshold_text == "any":
            threshold, spelling = 1, "any"
        elif threshold_text == "all":
            threshold, spelling = len(members), "all"
        elif _THRESHOLD.fullmatch(threshold_text) and int(threshold_text) <= len(members):
            threshold, spelling = int(threshold_text), ""
        else:
            problem = f"threshold {threshold_text[:20]!r} is not any, all or 1..{len(members)}"
            raise FormatError("policy", problem)
        self.groups[name] = PolicyGroup(name, threshold, members, spelling)

    def _quorum(self, arguments: list[str]) -> None:
        if len(arguments) != 1:
            raise FormatError("policy", "expected: quorum <name>")
        if self.quorum is not None:
            raise FormatError("policy", "more than one quorum line")
        name = arguments[0]
        if name != NONE and name not in self.witnesses and name not in self.groups:
            raise FormatError("policy", f"quorum {name[:60]!r} is not defined on an earlier line")
        self.quorum = name

    def build(self) -> Policy:
        if self.quorum is None:
            raise FormatError("policy", "no quorum line")
        return Policy(tuple(self.logs), dict(self.witnesses), dict(self.groups), self.quorum)
