"""Offline proof bundles: what ``ledger prove`` writes and ``ledger check`` verifies with no network or DB.

A bundle is JSON::

    {"format": "modeltrace.ledger.proof/v1", "origin": …,
     "entry": "<C2SP tlog-proof text, extra = the leaf>",
     "keys": ["<tlog-proof of each org.key entry from the signing key back to its registration>", …],
     "disclosures": [{…}, …]}

Each proof is a standard ``c2sp.org/tlog-proof@v1`` whose ``extra`` line carries the leaf bytes (the
spec's unauthenticated extra data: it is authenticated here by hashing it into the leaf hash the
inclusion proof checks). :func:`check_bundle` verifies, in order: every proof against the tlog-policy
(log signature, witness quorum, inclusion); that all proofs are of the same log; the key chain — the
signing key's registration is self-signed, each rotation is signed by the key it replaces and carries
the new key's proof of possession, each earlier than the entry; the entry's own signature; and every
disclosure against the entry. What it cannot show offline: that no revocation of the key was logged
before the entry (the log refuses such appends and ``verify`` re-checks it).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from modeltrace.ledger.disclosure import Disclosure, verify_disclosure
from modeltrace.ledger.entries import Leaf, parse_leaf
from modeltrace.ledger.errors import FormatError, SignatureError
from modeltrace.ledger.keys import kid_of, parse_org_vkey
from modeltrace.ledger.log_errors import EntryError, KeyStateError
from modeltrace.ledger.policy import Policy
from modeltrace.ledger.statements import pop_message
from modeltrace.ledger.tlog_proof import VerifiedTlogProof, parse_tlog_proof, verify_tlog_proof
from modeltrace.merkle import leaf_hash

FORMAT = "modeltrace.ledger.proof/v1"
MAX_BUNDLE_BYTES = 4 << 20
MAX_KEY_CHAIN = 64


@dataclass(frozen=True)
class ProofBundle:
    origin: str
    entry: bytes
    keys: tuple[bytes, ...] = ()
    disclosures: tuple[Disclosure, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "origin": self.origin,
            "entry": self.entry.decode("utf-8"),
            "keys": [proof.decode("utf-8") for proof in self.keys],
            "disclosures": [d.to_json() for d in self.disclosures],
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), indent=1, sort_keys=True).encode("utf-8") + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "bundle") -> ProofBundle:
        if len(data) > MAX_BUNDLE_BYTES:
            raise FormatError(where, f"larger than {MAX_BUNDLE_BYTES} bytes")
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, ValueError):
            raise FormatError(where, "not JSON") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise FormatError(where, f"not a {FORMAT} bundle")
        origin, entry, keys = document.get("origin"), document.get("entry"), document.get("keys", [])
        if not isinstance(origin, str) or not isinstance(entry, str) or not isinstance(keys, list):
            raise FormatError(where, "needs origin, entry and keys")
        if len(keys) > MAX_KEY_CHAIN or not all(isinstance(k, str) for k in keys):
            raise FormatError(where, f"keys must be at most {MAX_KEY_CHAIN} tlog-proof texts")
        disclosures = document.get("disclosures", [])
        if not isinstance(disclosures, list):
            raise FormatError(where, "disclosures must be a list")
        return cls(
            origin,
            entry.encode("utf-8"),
            tuple(k.encode("utf-8") for k in keys),
            tuple(Disclosure.from_json(d) for d in disclosures),
        )


@dataclass(frozen=True)
class ProvenEntry:
    """An entry whose inclusion, under a checkpoint the policy trusts, was verified."""

    index: int
    leaf: Leaf
    proof: VerifiedTlogProof


@dataclass(frozen=True)
class CheckedBundle:
    """The outcome of a successful :func:`check_bundle`."""

    entry: ProvenEntry
    signer_vkey: str
    key_chain: tuple[int, ...]
    disclosed: dict[str, Any] = field(default_factory=dict)

    @property
    def witnesses(self) -> frozenset[str]:
        return self.entry.proof.witnesses

    def summary(self) -> dict[str, Any]:
        checkpoint = self.entry.proof.checkpoint.checkpoint
        return {
            "ok": True,
            "origin": checkpoint.origin,
            "index": self.entry.index,
            "type": self.entry.leaf.type,
            "kid": self.entry.leaf.kid,
            "leaf_hash": self.entry.leaf.leaf_hash.hex(),
            "checkpoint_size": checkpoint.size,
            "checkpoint_root": checkpoint.root.hex(),
            "witnesses": sorted(self.witnesses),
            "signer_vkey": self.signer_vkey,
            "key_chain": list(self.key_chain),
            "disclosed": self.disclosed,
        }


def prove_entry(
    proof_text: bytes, policy: Policy, *, origin: str | None, now: int | None, where: str
) -> ProvenEntry:
    proof = parse_tlog_proof(proof_text)
    if proof.extra is None:
        raise FormatError(where, "the tlog-proof carries no entry (no extra line)")
    leaf = parse_leaf(proof.extra, f"{where} (entry {proof.index})")
    verified = verify_tlog_proof(proof, leaf_hash(proof.extra), policy, origin=origin, now=now)
    return ProvenEntry(proof.index, leaf, verified)


def _introduces(entry: ProvenEntry) -> str | None:
    """The kid an org.key register/rotate entry brings into force."""
    pub = entry.leaf.pub
    if entry.leaf.type != "org.key" or pub.get("action") not in ("register", "rotate"):
        return None
    return kid_of(parse_org_vkey(pub["vkey"], f"entry {entry.index}"))


def _resolve_key(
    kid: str, before: int, keys: dict[str, ProvenEntry], chain: list[int], depth: int = 0
) -> str:
    """The vkey of ``kid``, proven by its register/rotate entry (earlier than ``before``)."""
    if depth > MAX_KEY_CHAIN:
        raise KeyStateError("bundle", "key chain is too long")
    introducing = keys.get(kid)
    if introducing is None:
        raise KeyStateError("bundle", f"no proven org.key entry introduces the signing key {kid}")
    if introducing.index > before:
        raise KeyStateError(
            "bundle", f"key {kid} was registered at entry {introducing.index}, after {before}"
        )
    leaf, where = introducing.leaf, f"entry {introducing.index}"
    vkey = leaf.pub["vkey"]
    chain.append(introducing.index)
    if leaf.pub["action"] == "register":
        leaf.verify_signature(parse_org_vkey(vkey, where), where)  # self-signed: proof of possession
        return str(vkey)
    previous = _resolve_key(leaf.kid, introducing.index - 1, keys, chain, depth + 1)
    leaf.verify_signature(parse_org_vkey(previous, where), where)
    new = parse_org_vkey(vkey, where)
    if leaf.pub["supersedes"] != leaf.kid or not new.verify(
        pop_message(leaf.pub["org"], vkey, leaf.kid), base64.b64decode(leaf.pub["pop"])
    ):
        raise KeyStateError(where, "rotation's proof of possession does not verify")
    return str(vkey)


def check_bundle(bundle: ProofBundle, policy: Policy, *, now: int | None = None) -> CheckedBundle:
    """Verify a bundle offline against ``policy``; raises a :class:`LedgerError` subclass on any failure."""
    entry = prove_entry(bundle.entry, policy, origin=None, now=now, where="bundle entry")
    origin = entry.proof.checkpoint.checkpoint.origin
    if origin != bundle.origin:
        raise SignatureError(f"bundle names origin {bundle.origin!r} but its checkpoint is {origin!r}")
    keys: dict[str, ProvenEntry] = {}
    for position, text in enumerate(bundle.keys):
        proven = prove_entry(text, policy, origin=origin, now=now, where=f"bundle key proof {position}")
        kid = _introduces(proven)
        if kid is None:
            raise EntryError(f"bundle key proof {position}", "is not an org.key register or rotate entry")
        keys[kid] = proven
    if entry.leaf.type == "org.key" and _introduces(entry) == entry.leaf.kid:
        keys.setdefault(entry.leaf.kid, entry)  # a self-signed registration proves itself
    chain: list[int] = []
    vkey = _resolve_key(entry.leaf.kid, entry.index, keys, chain)
    entry.leaf.verify_signature(parse_org_vkey(vkey, "bundle entry"), f"entry {entry.index}")
    disclosed: dict[str, Any] = {}
    for disclosure in bundle.disclosures:
        if disclosure.index != entry.index:
            raise EntryError("bundle", f"a disclosure is for entry {disclosure.index}, not {entry.index}")
        verify_disclosure(entry.leaf, disclosure)
        disclosed[disclosure.item] = disclosure.value
    return CheckedBundle(entry, vkey, tuple(chain), disclosed)


def key_chain_indices(kid: str, introduced: dict[str, tuple[int, Leaf]]) -> list[int]:
    """Indices of the org.key entries from ``kid``'s introduction back to its registration."""
    indices: list[int] = []
    current: str | None = kid
    while current is not None and len(indices) <= MAX_KEY_CHAIN:
        found = introduced.get(current)
        if found is None:
            break
        index, leaf = found
        indices.append(index)
        current = leaf.kid if leaf.pub.get("action") == "rotate" else None
    return indices
