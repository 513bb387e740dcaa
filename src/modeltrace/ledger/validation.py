"""The rules an entry must meet *in its log*, applied the same way on append and on ``verify``.

A leaf that parses (:func:`~modeltrace.ledger.entries.parse_leaf`) must also: be signed by a key that is
active in the registry at its index; for ``org.key``, register a key under its own organisation with a
self-signature (proof of possession), rotate only an active key of the same organisation with the new
key's possession proof, or revoke a key of the signer's own organisation; reference only earlier
entries of this log by their true leaf hash and of the types the field allows; and correct or revoke
only entries its organisation signed. Running the same function on append and on replay is what makes
``verify`` an fsck: anything the writer would have refused is an integrity problem when found stored.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Protocol

from modeltrace.ledger.entries import Leaf
from modeltrace.ledger.keys import (
    REVOKED,
    SUPERSEDED,
    KeyRecord,
    KeyRegistry,
    kid_of,
    org_of_kid,
    parse_org_vkey,
)
from modeltrace.ledger.log_errors import EntryError, KeyStateError
from modeltrace.ledger.statements import pop_message


class EntryFacts(Protocol):
    """What a reference check needs of the entry referenced: a :class:`Leaf` or a smaller record."""

    @property
    def leaf_hash(self) -> bytes: ...

    @property
    def type(self) -> str: ...

    @property
    def kid(self) -> str: ...


Lookup = Callable[[int], EntryFacts | None]


def _org_key(leaf: Leaf, index: int, registry: KeyRegistry, where: str) -> list[KeyRecord]:
    pub = leaf.pub
    action, org = pub["action"], pub["org"]
    if org_of_kid(leaf.kid) != org:
        raise KeyStateError(where, f"signed by {leaf.kid}, which is not a key of {org}")
    if action == "register":
        verifier = parse_org_vkey(pub["vkey"], where)
        if verifier.name != org or kid_of(verifier) != leaf.kid:
            raise KeyStateError(where, "a registration must be signed by the key it registers")
        if registry.get(leaf.kid) is not None:
            raise KeyStateError(where, f"key {leaf.kid} is already registered")
        leaf.verify_signature(verifier, where)
        return [registry.register(leaf.kid, pub["vkey"], index, where)]
    signer = registry.active(leaf.kid, where)
    leaf.verify_signature(signer.verifier, where)
    if action == "rotate":
        new = parse_org_vkey(pub["vkey"], where)
        if new.name != org:
            raise KeyStateError(where, f"new key is named {new.name}, not {org}")
        if pub["supersedes"] != leaf.kid:
            raise KeyStateError(where, "a rotation must be signed by the key it supersedes")
        new_kid = kid_of(new)
        if registry.get(new_kid) is not None:
            raise KeyStateError(where, f"key {new_kid} is already registered")
        if not new.verify(pop_message(org, pub["vkey"], leaf.kid), base64.b64decode(pub["pop"])):
            raise KeyStateError(where, "the new key's proof of possession does not verify")
        return [
            registry.end(leaf.kid, SUPERSEDED, index),
            registry.register(new_kid, pub["vkey"], index, where),
        ]
    target = registry.get(pub["target"])
    if target is None or target.org != org:
        raise KeyStateError(where, f"cannot revoke {str(pub['target'])[:80]}: not a key of {org}")
    if target.status == REVOKED:
        raise KeyStateError(where, f"key {target.kid} is already revoked")
    return [registry.end(target.kid, REVOKED, index)]


def validate_entry(
    leaf: Leaf, index: int, origin: str, registry: KeyRegistry, lookup: Lookup, where: str
) -> list[KeyRecord]:
    """Check ``leaf`` as entry ``index`` of the log ``origin``; updates ``registry``, returns changed keys."""
    if leaf.type == "org.key":
        changed = _org_key(leaf, index, registry, where)
    else:
        signer = registry.active(leaf.kid, where)
        leaf.verify_signature(signer.verifier, where)
        changed = []
    for field, ref, targets in leaf.refs():
        if ref.log != origin:
            continue  # another log's entry: checkable with that log's proof, not here
        if ref.index >= index:
            raise EntryError(where, f"pub.{field} references entry {ref.index}, not an earlier one")
        target = lookup(ref.index)
        if target is None:
            raise EntryError(where, f"pub.{field} references entry {ref.index}, which is missing")
        if target.leaf_hash != ref.leaf:
            raise EntryError(where, f"pub.{field} gives the wrong leaf hash for entry {ref.index}")
        if target.type not in targets:
            raise EntryError(where, f"pub.{field} must reference {' or '.join(targets)}, not {target.type}")
        foreign = org_of_kid(target.kid) != org_of_kid(leaf.kid)
        if leaf.type in ("correction", "revocation") and field == "target" and foreign:
            verb = "correct" if leaf.type == "correction" else "revoke"
            raise KeyStateError(where, f"only {org_of_kid(target.kid)} may {verb} entry {ref.index}")
    return changed
