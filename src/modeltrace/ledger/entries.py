"""The ``aiprov/1`` entry envelope: a signed statement as one canonical JSON leaf of at most 4 KiB.

::

    {"v":"aiprov/1", "type":…, "kid":…, "subj":[…], "pub":{…}, "commit":{…}, "stmt":…, "sig":…}

The *statement* is the JCS encoding of the leaf without ``stmt`` and ``sig``; the organisation signs
``PAE("application/vnd.modeltrace.aiprov+json", statement)`` (DSSE), ``stmt`` is the hex SHA-256 of
that PAE and ``sig`` the base64 Ed25519 signature. Everything needed to re-check the signature is in the
leaf itself, so a proof bundle needs no side files beyond the signer's key registration.

``subj`` lists the artifacts the entry is about as ``sha256:<hex>`` digests (in-toto subjects match by
digest only); ``pub`` holds the public fields of the type (:mod:`.entry_types`); ``commit`` is ``{}`` or
``{"fields": [names], "root": hex}``: the root of the tree over salted commitments to confidential
fields (:mod:`.commitments`). A leaf whose ``v`` or ``type`` we do not know is refused, never guessed at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from modeltrace.ledger import jcs
from modeltrace.ledger.commitments import CommittedValue, FieldTree, check_field_name, commit_values
from modeltrace.ledger.dsse import pae
from modeltrace.ledger.entry_types import TYPES, EntryType, validate_body, validate_committed_value
from modeltrace.ledger.errors import FormatError
from modeltrace.ledger.keys import OrgKey, check_kid
from modeltrace.ledger.log_errors import EntryError
from modeltrace.ledger.note import Ed25519Verifier
from modeltrace.merkle import leaf_hash

VERSION = "aiprov/1"
STATEMENT_PAYLOAD_TYPE = "application/vnd.modeltrace.aiprov+json"
MAX_LEAF_BYTES = 4096
MAX_SUBJECTS = 16
_ENVELOPE = frozenset({"v", "type", "kid", "subj", "pub", "commit", "stmt", "sig"})
_SUBJECT = re.compile(r"sha256:[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{86}==")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, order=True)
class Ref:
    """A proof-checkable reference to an entry: the log's origin, the index, and the leaf hash."""

    log: str
    index: int
    leaf: bytes

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "leaf": self.leaf.hex(), "log": self.log}

    @classmethod
    def from_json(cls, value: object, where: str = "reference") -> Ref:
        if not isinstance(value, dict) or set(value) != {"log", "index", "leaf"}:
            raise EntryError(where, "a reference is {log, index, leaf}")
        log, index, leaf = value["log"], value["index"], value["leaf"]
        if not isinstance(log, str) or not log:
            raise EntryError(where, "reference log must be an origin string")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise EntryError(where, "reference index must be a non-negative integer")
        if not isinstance(leaf, str) or re.fullmatch(r"[0-9a-f]{64}", leaf) is None:
            raise EntryError(where, "reference leaf must be a hex SHA-256")
        return cls(log, index, bytes.fromhex(leaf))

    def __str__(self) -> str:
        return f"{self.log}#{self.index}#{self.leaf.hex()}"

    @classmethod
    def parse(cls, text: str) -> Ref:
        """``<origin>#<index>#<hex leaf hash>`` (what :meth:`__str__` prints)."""
        log, _, rest = text.partition("#")
        index, _, leaf = rest.partition("#")
        try:
            return cls.from_json({"log": log, "index": int(index), "leaf": leaf}, f"reference {text[:80]!r}")
        except ValueError:
            raise EntryError(f"reference {text[:80]!r}", "expected <origin>#<index>#<leaf hash>") from None


def statement_bytes(
    entry_type: str, kid: str, subj: Sequence[str], pub: Mapping[str, Any], commit: Mapping[str, Any]
) -> bytes:
    """The JCS statement an organisation signs (the leaf without ``stmt`` and ``sig``)."""
    return jcs.dumps(
        {"v": VERSION, "type": entry_type, "kid": kid, "subj": list(subj), "pub": pub, "commit": commit}
    )


@dataclass(frozen=True)
class Leaf:
    """A parsed, well-formed leaf. Its signature is checked separately, against the key registry."""

    raw: bytes
    type: str
    kid: str
    subj: tuple[str, ...]
    pub: Mapping[str, Any]
    commit: Mapping[str, Any]
    stmt: str
    sig: bytes
    #: the signed statement's JCS bytes, cut from ``raw`` by :func:`parse_leaf` (see :func:`_statement_of`)
    statement: bytes = field(default=b"", repr=False, compare=False)

    @cached_property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.raw)

    @property
    def spec(self) -> EntryType:
        return TYPES[self.type]

    @cached_property
    def signed_message(self) -> bytes:
        statement = self.statement or statement_bytes(self.type, self.kid, self.subj, self.pub, self.commit)
        return pae(STATEMENT_PAYLOAD_TYPE, statement)

    @property
    def committed_fields(self) -> tuple[str, ...]:
        return tuple(self.commit.get("fields", ()))

    @property
    def commit_root(self) -> bytes | None:
        root = self.commit.get("root")
        return bytes.fromhex(root) if isinstance(root, str) else None

    def refs(self) -> list[tuple[str, Ref, tuple[str, ...]]]:
        """Every reference in ``pub``: (field, reference, allowed target types)."""
        found: list[tuple[str, Ref, tuple[str, ...]]] = []
        for name, targets, many in self.spec.refs():
            if name not in self.pub:
                continue
            values = self.pub[name] if many else [self.pub[name]]
            for value in values:
                found.append((name, Ref.from_json(value, f"pub.{name}"), targets))
        return found

    def verify_signature(self, verifier: Ed25519Verifier, where: str = "entry") -> None:
        if not verifier.verify(self.signed_message, self.sig):
            raise EntryError(where, f"signature does not verify under key {self.kid}")

    def to_json(self) -> dict[str, Any]:
        return dict(jcs.loads(self.raw, max_bytes=MAX_LEAF_BYTES))


def _check_commit(commit: object, where: str) -> None:
    if not isinstance(commit, dict):
        raise EntryError(where, "commit must be an object")
    if not commit:
        return
    if set(commit) != {"fields", "root"}:
        raise EntryError(where, "commit is {} or {fields, root}")
    fields, root = commit["fields"], commit["root"]
    if not isinstance(fields, list) or not fields or len(fields) > 32:
        raise EntryError(where, "commit.fields must list 1 to 32 field names")
    for name in fields:
        check_field_name(name, where)
    if fields != sorted(set(fields)):
        raise EntryError(where, "commit.fields must be sorted and unique")
    if not isinstance(root, str) or re.fullmatch(r"[0-9a-f]{64}", root) is None:
        raise EntryError(where, "commit.root must be a hex SHA-256")


def _statement_of(
    raw: bytes, entry_type: str, kid: str, subj: list[str], pub: Any, commit: Any, stmt: str, sig: str
) -> bytes:
    """The statement's JCS bytes, cut out of the canonical leaf instead of encoding ``pub`` again.

    A canonical leaf is ``{"commit":C,"kid":K,"pub":P,"sig":S,"stmt":T,"subj":J,"type":Y,"v":V}`` (members
    in code-unit order, each value in its own canonical form), and the statement is the same object
    without ``sig`` and ``stmt``: the leaf's prefix up to ``P``, then the tail without those two. Every
    tail value was checked to be plain ASCII needing no escapes (base64, hex, ``sha256:<hex>``, a known
    type name, the version), so its canonical form is the text in quotes. Only canonical bytes reach here
    (:func:`jcs.loads` refused the rest); should the tail not be where it must be, the statement is
    encoded from the values, so the result is :func:`statement_bytes` either way.
    """
    subjects = ",".join(f'"{subject}"' for subject in subj)
    signed_tail = f',"subj":[{subjects}],"type":"{entry_type}","v":"{VERSION}"}}'.encode("ascii")
    leaf_tail = f',"sig":"{sig}","stmt":"{stmt}"'.encode("ascii") + signed_tail
    if not raw.endswith(leaf_tail):
        return statement_bytes(entry_type, kid, subj, pub, commit)
    return raw[: len(raw) - len(leaf_tail)] + signed_tail


def parse_leaf(data: bytes, where: str = "entry") -> Leaf:
    """Parse and validate a leaf: canonical JCS, known version and type, fields per type, ``stmt``."""
    try:
        document = jcs.loads(data, max_bytes=MAX_LEAF_BYTES, what=where)
    except FormatError as error:
        raise EntryError(where, error.problem) from None
    if not isinstance(document, dict):
        raise EntryError(where, "is not a JSON object")
    version = document.get("v")
    if version != VERSION:
        raise EntryError(where, f"unsupported entry version {str(version)[:40]!r} (expected {VERSION})")
    entry_type = document.get("type")
    if not isinstance(entry_type, str) or entry_type not in TYPES:
        raise EntryError(where, f"unknown entry type {str(entry_type)[:40]!r}")
    if set(document) != _ENVELOPE:
        missing, extra = sorted(_ENVELOPE - set(document)), sorted(set(document) - _ENVELOPE)
        raise EntryError(where, f"envelope fields: missing {missing or 'none'}, unexpected {extra or 'none'}")
    kid = check_kid(document["kid"], where)
    subj = document["subj"]
    if not isinstance(subj, list) or len(subj) > MAX_SUBJECTS:
        raise EntryError(where, f"subj must be a list of at most {MAX_SUBJECTS} digests")
    for subject in subj:
        if not isinstance(subject, str) or _SUBJECT.fullmatch(subject) is None:
            raise EntryError(where, f"subject {str(subject)[:80]!r} is not sha256:<hex>")
    if subj != sorted(set(subj)):
        raise EntryError(where, "subj must be sorted and unique")
    spec = TYPES[entry_type]
    if spec.needs_subject and not subj:
        raise EntryError(where, f"{entry_type} needs at least one subject digest")
    pub, commit = document["pub"], document["commit"]
    if not isinstance(pub, dict):
        raise EntryError(where, "pub must be an object")
    _check_commit(commit, where)
    validate_body(spec, pub, frozenset(commit.get("fields", ())), where)
    signature = document["sig"]
    if not isinstance(signature, str) or _SIGNATURE.fullmatch(signature) is None:
        raise EntryError(where, "sig must be a base64 Ed25519 signature")
    try:
        sig = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise EntryError(where, "sig is not base64") from None
    if base64.b64encode(sig).decode("ascii") != signature:
        # Non-zero padding bits would give the same signature a second spelling, hence a second leaf
        # hash: the same signed statement could be logged twice past the dedup table.
        raise EntryError(where, "sig is not canonical base64")
    stmt = document["stmt"]
    if not isinstance(stmt, str) or _HEX_DIGEST.fullmatch(stmt) is None:
        raise EntryError(where, "stmt is not the SHA-256 of the signed statement's PAE")
    raw = bytes(data)
    statement = _statement_of(raw, entry_type, kid, subj, pub, commit, stmt, signature)
    leaf = Leaf(raw, entry_type, kid, tuple(subj), pub, commit, stmt, sig, statement)
    if hashlib.sha256(leaf.signed_message).hexdigest() != stmt:
        raise EntryError(where, "stmt is not the SHA-256 of the signed statement's PAE")
    return leaf


@dataclass
class Draft:
    """An unsigned statement: public fields, subjects, confidential values and off-log evidence."""

    type: str
    pub: dict[str, Any]
    subj: list[str] = field(default_factory=list)
    committed: dict[str, Any] = field(default_factory=dict)
    #: off-log evidence kept in the owner's store, by kind (file lists, access records, manifests)
    evidence: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class SignedStatement:
    """A signed leaf plus what stays with its owner: the salts and values behind commitments."""

    leaf: Leaf
    secrets: tuple[CommittedValue, ...] = ()
    evidence: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def raw(self) -> bytes:
        return self.leaf.raw


def sign(draft: Draft, key: OrgKey) -> SignedStatement:
    """Commit the confidential values with fresh salts, sign the statement, and build the leaf."""
    where = f"{draft.type} statement"
    spec = TYPES.get(draft.type)
    if spec is None:
        raise EntryError(where, f"unknown entry type {draft.type!r}")
    for name, value in draft.committed.items():
        check_field_name(name, where)
        validate_committed_value(spec, name, value, where)
    commit, kept = commit_values(draft.committed)
    subj = sorted(set(draft.subj))
    message = pae(STATEMENT_PAYLOAD_TYPE, statement_bytes(draft.type, key.kid, subj, draft.pub, commit))
    document = {
        "v": VERSION,
        "type": draft.type,
        "kid": key.kid,
        "subj": subj,
        "pub": draft.pub,
        "commit": commit,
        "stmt": hashlib.sha256(message).hexdigest(),
        "sig": base64.b64encode(key.sign(message)).decode("ascii"),
    }
    raw = jcs.dumps(document)
    if len(raw) > MAX_LEAF_BYTES:
        raise EntryError(where, f"leaf is {len(raw)} bytes, over the {MAX_LEAF_BYTES}-byte limit")
    return SignedStatement(parse_leaf(raw, where), tuple(kept), dict(draft.evidence))


def field_tree_of(secrets: Sequence[CommittedValue]) -> FieldTree:
    return FieldTree({item.name: item.commitment for item in secrets})
