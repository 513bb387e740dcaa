"""Disclosures: one committed field, one dataset file, or one access record, with its Merkle proof.

A disclosure is checked against the entry's leaf alone (no database): for a ``field``, the value and
salt must recompute the commitment whose field leaf is at ``position`` of the tree rooted at
``commit.root``; for a ``file``, the path, salt, size and SHA-256 must recompute the file leaf under
``pub.files_root``; for a ``record``, the record's canonical JSON is the leaf under ``pub.batch_root``.
Combined with the entry's inclusion proof in a cosigned checkpoint, that shows the disclosed value is
what the organisation committed to at the time, and nothing else of the entry is revealed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modeltrace.ledger import jcs
from modeltrace.ledger.commitments import commitment, field_leaf
from modeltrace.ledger.entries import Leaf
from modeltrace.ledger.errors import LedgerError
from modeltrace.ledger.log_errors import DisclosureError
from modeltrace.ledger.proofs import verify_inclusion
from modeltrace.merkle import leaf_hash

KINDS = ("field", "file", "record")
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Disclosure:
    """What is revealed about one item of entry ``index`` and the proof it was committed to."""

    index: int
    kind: str
    name: str
    value: Any
    salt: bytes | None
    position: int
    count: int
    proof: tuple[bytes, ...]

    @property
    def item(self) -> str:
        return self.name if self.kind == "field" else f"{self.kind}:{self.name}"

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "index": self.index,
            "kind": self.kind,
            "name": self.name,
            "value": self.value,
            "position": self.position,
            "count": self.count,
            "proof": [digest.hex() for digest in self.proof],
        }
        if self.salt is not None:
            document["salt"] = self.salt.hex()
        return document

    @classmethod
    def from_json(cls, document: Any) -> Disclosure:
        where = "disclosure"
        if not isinstance(document, dict):
            raise DisclosureError(f"{where}: not a JSON object")
        try:
            kind, name, index = document["kind"], document["name"], document["index"]
            position, count, proof = document["position"], document["count"], document["proof"]
            salt_text = document.get("salt")
            value = document["value"]
        except KeyError as missing:
            raise DisclosureError(f"{where}: missing {missing}") from None
        if kind not in KINDS or not isinstance(name, str):
            raise DisclosureError(f"{where}: unknown kind {str(kind)[:20]!r}")
        numbers = (index, position, count)
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in numbers):
            raise DisclosureError(f"{where}: index, position and count must be non-negative integers")
        if (
            not isinstance(proof, list)
            or len(proof) > 64
            or any(not isinstance(h, str) or _HEX.fullmatch(h) is None for h in proof)
        ):
            raise DisclosureError(f"{where}: proof must be a list of hex SHA-256 hashes")
        salt = None
        if salt_text is not None:
            if not isinstance(salt_text, str) or _HEX.fullmatch(salt_text) is None:
                raise DisclosureError(f"{where}: salt must be 32 bytes of hex")
            salt = bytes.fromhex(salt_text)
        return cls(index, kind, name, value, salt, position, count, tuple(bytes.fromhex(h) for h in proof))


def disclosed_leaf(leaf: Leaf, disclosure: Disclosure) -> tuple[bytes, int, bytes]:
    """(item leaf bytes, tree size, root) the disclosure must prove inclusion against."""
    where = f"disclosure of {disclosure.item} in entry {disclosure.index}"
    if disclosure.kind == "field":
        fields, root = leaf.committed_fields, leaf.commit_root
        if root is None or disclosure.name not in fields:
            raise DisclosureError(f"{where}: the entry commits no field {disclosure.name!r}")
        if disclosure.salt is None:
            raise DisclosureError(f"{where}: no salt")
        if fields.index(disclosure.name) != disclosure.position:
            raise DisclosureError(f"{where}: field position {disclosure.position} is wrong")
        digest = commitment(disclosure.salt, disclosure.value)
        return field_leaf(disclosure.name, digest), len(fields), root
    if disclosure.kind == "file":
        if leaf.type != "dataset.manifest":
            raise DisclosureError(f"{where}: only dataset entries have files")
        value = disclosure.value
        if not isinstance(value, dict) or set(value) != {"path", "size", "sha256"} or disclosure.salt is None:
            raise DisclosureError(f"{where}: a file disclosure is {{path, size, sha256}} with a salt")
        if value["path"] != disclosure.name:
            raise DisclosureError(f"{where}: path does not match the disclosed name")
        item = jcs.dumps(
            {
                "path": commitment(disclosure.salt, value["path"]).hex(),
                "sha256": value["sha256"],
                "size": value["size"],
            }
        )
        return item, int(leaf.pub["files"]), bytes.fromhex(leaf.pub["files_root"])
    if leaf.type != "access.event":
        raise DisclosureError(f"{where}: only access.event entries have records")
    if disclosure.name != str(disclosure.position):
        raise DisclosureError(f"{where}: record name must be its position")
    return jcs.dumps(disclosure.value), int(leaf.pub["records"]), bytes.fromhex(leaf.pub["batch_root"])


def verify_disclosure(leaf: Leaf, disclosure: Disclosure) -> None:
    """Raise :class:`DisclosureError` unless ``disclosure`` proves its item under ``leaf``'s roots."""
    item, count, root = disclosed_leaf(leaf, disclosure)
    try:
        verify_inclusion(leaf_hash(item), disclosure.position, count, disclosure.proof, root)
    except (LedgerError, ValueError) as error:
        raise DisclosureError(
            f"disclosure of {disclosure.item} in entry {disclosure.index}: proof does not verify ({error})"
        ) from None
