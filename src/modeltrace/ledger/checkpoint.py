"""C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): a log's signed tree head as note text.

The text is at least three non-empty lines: the origin (the log's identity), the tree size in ASCII
decimal without leading zeros, the base64 RFC 6962 root, then optional opaque extension lines (NOT
RECOMMENDED: monitors cannot audit them, and ML-DSA cosignatures do not cover them). :func:`open_checkpoint`
turns a signed note into a :class:`SignedCheckpoint` only when a trusted log key whose name is the origin
signed it (tlog-policy §Defining a log: the log's key name MUST correspond to the origin), and every
trusted witness line in it verifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modeltrace.ledger._text import CONTROL, b64decode, b64encode, decode_utf8, parse_decimal
from modeltrace.ledger.errors import FormatError, SignatureError
from modeltrace.ledger.note import (
    CosignatureVerifier,
    Note,
    Signer,
    Verifier,
    index_verifiers,
    parse_note,
    sign_note,
    verify_note,
)
from modeltrace.ledger.proofs import HASH_SIZE, MAX_TREE_SIZE

# Hostile-input bounds. An origin is a key name in practice, so the 255-byte name bound applies; no
# deployed log uses more than a handful of extension lines (most use none).
MAX_CHECKPOINT_BYTES = 16384
MAX_ORIGIN_BYTES = 255
MAX_EXTENSION_LINES = 16
MAX_EXTENSION_BYTES = 1024


def _check_line(value: str, what: str, max_bytes: int) -> None:
    if not isinstance(value, str) or not value:
        raise FormatError("checkpoint", f"{what} must be a non-empty string")
    if "\n" in value or CONTROL.search(value):
        raise FormatError("checkpoint", f"{what} contains a newline or control character")
    if len(value.encode("utf-8", "surrogatepass")) > max_bytes:
        raise FormatError("checkpoint", f"{what} is longer than {max_bytes} bytes")
    decode_utf8(value, "checkpoint", max_bytes=max_bytes)


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: ``origin``, ``size`` leaves, RFC 6962 ``root``, optional ``extensions``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin", MAX_ORIGIN_BYTES)
        size = self.size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
            raise FormatError("checkpoint", f"tree size {self.size!r} is not a uint64")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise FormatError("checkpoint", f"root must be {HASH_SIZE} bytes")
        if len(self.extensions) > MAX_EXTENSION_LINES:
            raise FormatError("checkpoint", f"more than {MAX_EXTENSION_LINES} extension lines")
        for line in self.extensions:
            _check_line(line, "extension line", MAX_EXTENSION_BYTES)

    def to_text(self) -> str:
        """The note text, each line newline-terminated."""
        lines = (self.origin, str(self.size), b64encode(self.root), *self.extensions)
        return "".join(f"{line}\n" for line in lines)

    def to_bytes(self) -> bytes:
        return self.to_text().encode("utf-8")


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse checkpoint note text (without the signatures), strictly: tlog-checkpoint §Note text."""
    decoded = decode_utf8(text, "checkpoint", max_bytes=MAX_CHECKPOINT_BYTES)
    if not decoded.endswith("\n"):
        raise FormatError("checkpoint", "text does not end with a newline")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError("checkpoint", f"needs origin, size and root lines, got {len(lines)} line(s)")
    if any(not line for line in lines):
        raise FormatError("checkpoint", "contains an empty line")
    origin, size, root, *extensions = lines
    return Checkpoint(
        origin=origin,
        size=parse_decimal(size, "checkpoint tree size", maximum=MAX_TREE_SIZE),
        root=b64decode(root, "checkpoint root", max_bytes=HASH_SIZE),
        extensions=tuple(extensions),
    )


def sign_checkpoint(checkpoint: Checkpoint, log: Signer, *cosigners: Signer) -> Note:
    """A signed note of ``checkpoint`` by the log key (whose name SHOULD be the origin), then cosigners."""
    if log.name != checkpoint.origin:
        raise SignatureError(f"log key name {log.name!r} is not the checkpoint origin {checkpoint.origin!r}")
    return sign_note(checkpoint.to_text(), log, *cosigners)


@dataclass(frozen=True)
class Cosignature:
    """A verified ``cosignature/v1``: which witness key, and the time it claims."""

    verifier: CosignatureVerifier
    timestamp: int


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint whose log signature, and every trusted cosignature on it, verified."""

    checkpoint: Checkpoint
    note: Note
    log: Verifier
    cosignatures: tuple[Cosignature, ...]

    def cosigners(
        self, *, now: int | None = None, max_future_seconds: int = 60, max_age_seconds: int | None = None
    ) -> tuple[CosignatureVerifier, ...]:
        """Witness keys whose cosignature counts at ``now``: none dated in the future, optionally none stale.

        A future-dated cosignature is a witness clock error or a pre-signed statement; a stale one
        would let an old checkpoint pass for current. Both are dropped when ``now`` is given.
        """
        counted: list[CosignatureVerifier] = []
        for cosignature in self.cosignatures:
            if now is not None:
                if cosignature.timestamp > now + max_future_seconds:
                    continue
                if max_age_seconds is not None and cosignature.timestamp < now - max_age_seconds:
                    continue
            counted.append(cosignature.verifier)
        return tuple(counted)


def open_checkpoint(
    note: Note | bytes | str,
    logs: Sequence[Verifier],
    witnesses: Sequence[CosignatureVerifier] = (),
    *,
    origin: str | None = None,
) -> SignedCheckpoint:
    """Verify a signed checkpoint note against trusted log and witness keys.

    Requires a valid signature by a log key named like the origin (and the origin to be ``origin`` if
    given); every line by a trusted log or witness key must verify (signed-note §Signatures), and lines by
    other keys are ignored. Raises :class:`FormatError` for malformed input, :class:`SignatureError` else.
    """
    parsed = note if isinstance(note, Note) else parse_note(note)
    checkpoint = parse_checkpoint(parsed.text)
    if origin is not None and checkpoint.origin != origin:
        raise SignatureError(f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}")
    index = index_verifiers([*logs, *witnesses])
    verified = verify_note(parsed, index)
    log_keys = {key.vkey for key in logs if key.name == checkpoint.origin}
    log_signatures = [entry for entry in verified.verified if entry.verifier.vkey in log_keys]
    if not log_signatures:
        raise SignatureError(f"no valid signature by a trusted key of the log {checkpoint.origin!r}")
    witness_keys = {key.vkey for key in witnesses}
    cosignatures = tuple(
        Cosignature(entry.verifier, CosignatureVerifier.timestamp(entry.signature.value))
        for entry in verified.verified
        if entry.verifier.vkey in witness_keys and isinstance(entry.verifier, CosignatureVerifier)
    )
    return SignedCheckpoint(checkpoint, parsed, log_signatures[0].verifier, cosignatures)
