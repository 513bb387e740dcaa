"""Salted commitments and the small Merkle trees that let one committed item be disclosed at a time.

A commitment is ``SHA-256("aiprov/commit/v1\\n" ‖ salt[32] ‖ JCS(value))`` with a fresh random salt
per field. Geography, consent references and collection methods are low-entropy: without the salt,
anyone could hash all 249 country codes and read the field back, so an unsalted hash is never used.
Destroying the salt (crypto-shredding) makes the value unrecoverable and undisclosable while the
commitment, and every proof over the entry holding it, stays valid.

An entry holds only the root of a tree over its field commitments (leaf ``"aiprov/field/v1\\n" ‖ name
‖ "\\n" ‖ commitment``, fields sorted by name), so disclosing one field reveals one value and a
log-size proof, nothing about the others. The same shape serves a dataset's files and an access
batch's records: an RFC 6962 tree over canonical leaves, with inclusion proofs for one item.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modeltrace.ledger import jcs
from modeltrace.ledger.log_errors import EntryError
from modeltrace.ledger.proofs import InMemoryTree
from modeltrace.merkle import leaf_hash

COMMIT_DOMAIN = b"aiprov/commit/v1\n"
FIELD_DOMAIN = b"aiprov/field/v1\n"
PATH_SALT_DOMAIN = b"aiprov/path-salt/v1\n"
SALT_BYTES = 32
MAX_FIELDS = 32
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def commitment(salt: bytes, value: object) -> bytes:
    """SHA-256("aiprov/commit/v1\\n" ‖ salt ‖ JCS(value)); the salt must be 32 bytes."""
    if len(salt) != SALT_BYTES:
        raise EntryError("commitment", f"salt must be {SALT_BYTES} bytes, got {len(salt)}")
    return hashlib.sha256(COMMIT_DOMAIN + salt + jcs.dumps(value)).digest()


def path_salt(secret: bytes, path: str) -> bytes:
    """A per-file salt derived from one dataset secret: destroying the secret shreds every path."""
    return hmac.new(secret, PATH_SALT_DOMAIN + path.encode("utf-8"), hashlib.sha256).digest()


def field_leaf(name: str, digest: bytes) -> bytes:
    return FIELD_DOMAIN + name.encode("ascii") + b"\n" + digest


@dataclass(frozen=True)
class CommittedValue:
    """A confidential field as its owner keeps it: name, value and salt (the evidence store's row)."""

    name: str
    value: object
    salt: bytes

    @property
    def commitment(self) -> bytes:
        return commitment(self.salt, self.value)


def check_field_name(name: str, where: str = "commit") -> None:
    if not isinstance(name, str) or FIELD_NAME.fullmatch(name) is None:
        raise EntryError(where, f"field name {str(name)[:40]!r} is not [a-z][a-z0-9_]{{0,39}}")


class FieldTree:
    """The Merkle tree over an entry's field commitments, fields in name order."""

    def __init__(self, commitments: Mapping[str, bytes]) -> None:
        if len(commitments) > MAX_FIELDS:
            raise EntryError("commit", f"more than {MAX_FIELDS} committed fields")
        for name in commitments:
            check_field_name(name)
        self.names: tuple[str, ...] = tuple(sorted(commitments))
        self._tree = InMemoryTree([leaf_hash(field_leaf(name, commitments[name])) for name in self.names])

    @property
    def root(self) -> bytes:
        return self._tree.root()

    def proof(self, name: str) -> tuple[int, list[bytes]]:
        position = self.names.index(name)
        return position, self._tree.inclusion_proof(position)


def commit_values(values: Mapping[str, object]) -> tuple[dict[str, object], list[CommittedValue]]:
    """Fresh salts for each value: the leaf's ``commit`` object and the owner's secrets."""
    kept = [CommittedValue(name, value, new_salt()) for name, value in sorted(values.items())]
    if not kept:
        return {}, []
    tree = FieldTree({item.name: item.commitment for item in kept})
    return {"fields": list(tree.names), "root": tree.root.hex()}, kept


class ItemTree:
    """An RFC 6962 tree over canonical item leaves (dataset files, access records) for one-item proofs."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self._tree = InMemoryTree([leaf_hash(leaf) for leaf in self.leaves])

    @property
    def root(self) -> bytes:
        return self._tree.root()

    def proof(self, position: int) -> list[bytes]:
        return self._tree.inclusion_proof(position)
