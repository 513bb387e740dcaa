"""C2SP tlog-proof (c2sp.org/tlog-proof): an offline-verifiable proof that an entry is in a log.

::

    c2sp.org/tlog-proof@v1
    extra <base64>          (optional, unauthenticated)
    index <n>
    <base64 hash>           (zero or more: the RFC 6962 inclusion proof, leaf's sibling first)

    <the signed, cosigned checkpoint, verbatim>

:func:`verify_tlog_proof` is what a court or a foreign regulator runs, with no network: given the leaf
hash the application computed and a tlog-policy, it checks the checkpoint's origin and log signature,
the witnesses' quorum, then the inclusion of the leaf — in that order, so nothing is computed over a
tree head no trusted party vouched for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from modeltrace.ledger._text import b64decode, b64encode, decode_utf8, parse_decimal
from modeltrace.ledger.checkpoint import SignedCheckpoint, open_checkpoint
from modeltrace.ledger.errors import FormatError, ProofError, QuorumError
from modeltrace.ledger.note import MAX_NOTE_BYTES, Note, parse_note
from modeltrace.ledger.policy import Policy
from modeltrace.ledger.proofs import HASH_SIZE, MAX_PROOF_HASHES, MAX_TREE_SIZE, verify_inclusion

HEADER = "c2sp.org/tlog-proof@v1"
FILE_EXTENSION = ".tlog-proof"
MAX_EXTRA_BYTES = 1 << 16
MAX_TLOG_PROOF_BYTES = MAX_NOTE_BYTES + (1 << 17)


@dataclass(frozen=True)
class TlogProof:
    """A parsed tlog-proof: entry ``index``, ``inclusion`` hashes, checkpoint note bytes, ``extra``."""

    index: int
    inclusion: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def to_bytes(self) -> bytes:
        return format_tlog_proof(self.index, self.inclusion, self.checkpoint, extra=self.extra)


@lru_cache(maxsize=8)
def _check_note(note: bytes) -> None:
    # A batch's receipts all carry the same checkpoint: parse it once, not once per entry. Only notes
    # that parse are cached (an exception is not), so a bad one is refused every time.
    parse_note(note)


def format_tlog_proof(
    index: int, inclusion: Sequence[bytes], checkpoint: Note | bytes, *, extra: bytes | None = None
) -> bytes:
    """Write a tlog-proof; the checkpoint note must be signed (it is checked to parse, not to verify)."""
    note = checkpoint.to_bytes() if isinstance(checkpoint, Note) else bytes(checkpoint)
    _check_note(note)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_TREE_SIZE:
        raise FormatError("tlog-proof", f"index {index!r} is not a uint64")
    if len(inclusion) > MAX_PROOF_HASHES or any(len(digest) != HASH_SIZE for digest in inclusion):
        raise FormatError("tlog-proof", f"inclusion proof must be at most {MAX_PROOF_HASHES} 32-byte hashes")
    lines = [HEADER]
    if extra is not None:
        if not 0 < len(extra) <= MAX_EXTRA_BYTES:
            raise FormatError("tlog-proof", f"extra data must be 1 to {MAX_EXTRA_BYTES} bytes")
        lines.append(f"extra {b64encode(extra)}")
    lines.append(f"index {index}")
    lines.extend(b64encode(digest) for digest in inclusion)
    return ("".join(f"{line}\n" for line in lines) + "\n").encode("ascii") + note


def parse_tlog_proof(data: bytes | str) -> TlogProof:
    """Parse a tlog-proof strictly (tlog-proof §Format); the checkpoint must parse as a signed note."""
    text = decode_utf8(data, "tlog-proof", max_bytes=MAX_TLOG_PROOF_BYTES)
    split = text.find("\n\n")
    if split < 0:
        raise FormatError("tlog-proof", "no blank line before the checkpoint")
    lines = text[:split].split("\n")
    # header + extra + index + at most 64 hashes; checked before decoding any of them.
    if len(lines) > 3 + MAX_PROOF_HASHES:
        raise FormatError("tlog-proof", f"more than {MAX_PROOF_HASHES} inclusion proof hashes")
    if lines[0] != HEADER:
        raise FormatError("tlog-proof", f"first line is not {HEADER!r}")
    position = 1
    extra: bytes | None = None
    if position < len(lines) and lines[position].startswith("extra "):
        extra = b64decode(lines[position][len("extra ") :], "tlog-proof extra", max_bytes=MAX_EXTRA_BYTES)
        if not extra:
            raise FormatError("tlog-proof", "empty extra data (omit the line instead)")
        position += 1
    if position >= len(lines) or not lines[position].startswith("index "):
        raise FormatError("tlog-proof", "missing 'index <n>' line")
    index = parse_decimal(lines[position][len("index ") :], "tlog-proof index", maximum=MAX_TREE_SIZE)
    inclusion = tuple(
        b64decode(line, "tlog-proof inclusion hash", max_bytes=HASH_SIZE) for line in lines[position + 1 :]
    )
    if any(len(digest) != HASH_SIZE for digest in inclusion):
        raise FormatError("tlog-proof", f"an inclusion proof hash is not {HASH_SIZE} bytes")
    checkpoint = text[split + 2 :].encode("utf-8")
    parse_note(checkpoint)
    return TlogProof(index, inclusion, checkpoint, extra)


@dataclass(frozen=True)
class VerifiedTlogProof:
    """What an offline check established: the entry is leaf ``index`` of a checkpoint cosigned by quorum."""

    index: int
    leaf_hash: bytes
    checkpoint: SignedCheckpoint
    witnesses: frozenset[str]
    extra: bytes | None


def verify_tlog_proof(
    proof: TlogProof | bytes | str,
    leaf_hash: bytes,
    policy: Policy,
    *,
    origin: str | None = None,
    now: int | None = None,
    max_future_seconds: int = 60,
    max_age_seconds: int | None = None,
) -> VerifiedTlogProof:
    """Verify a tlog-proof offline against ``policy`` for the entry whose RFC 6962 leaf hash is ``leaf_hash``.

    Order (tlog-proof, tlog-policy): checkpoint origin and a policy log's signature, every trusted
    cosignature valid, the policy's quorum met by cosignatures not dated in the future (nor older than
    ``max_age_seconds``) relative to ``now`` when given, then inclusion at ``index``. Raises
    :class:`FormatError`, :class:`SignatureError`, :class:`QuorumError` or :class:`ProofError`.
    The ``extra`` data is returned but not authenticated.
    """
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash must be {HASH_SIZE} bytes")
    parsed = proof if isinstance(proof, TlogProof) else parse_tlog_proof(proof)
    signed = open_checkpoint(parsed.checkpoint, policy.log_verifiers, policy.witness_verifiers, origin=origin)
    counted = signed.cosigners(
        now=now, max_future_seconds=max_future_seconds, max_age_seconds=max_age_seconds
    )
    witnesses = policy.witness_names(counted)
    if not policy.satisfied_by(witnesses):
        raise QuorumError(
            f"cosignatures by {sorted(witnesses) or 'no witness'} do not satisfy the quorum {policy.quorum!r}"
        )
    checkpoint = signed.checkpoint
    verify_inclusion(leaf_hash, parsed.index, checkpoint.size, parsed.inclusion, checkpoint.root)
    return VerifiedTlogProof(parsed.index, bytes(leaf_hash), signed, witnesses, parsed.extra)
