"""C2SP signed notes (c2sp.org/signed-note) and cosignatures (c2sp.org/tlog-cosignature, Ed25519).

A note is UTF-8 text ending in a newline, a blank line, then one or more lines
``— <key name> <base64(key ID[4] ‖ signature)>``. A key is identified by the pair (name, key ID), with
``key ID = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]`` and is shared as a *vkey*
``<name>+<hex key ID>+<base64(type ‖ public key)>``. Two signature types are implemented:

* ``0x01`` Ed25519 over the note text (signed-note §Ed25519 signatures): logs sign checkpoints with it;
* ``0x04`` Ed25519 ``cosignature/v1`` (tlog-cosignature §Ed25519 signed message): witnesses sign
  ``"cosignature/v1\\ntime <t>\\n" ‖ note text`` and the signature field is ``u64be(t) ‖ sig``.

Notes arrive from adversaries, so :func:`parse_note` bounds the size, the number of signature lines and
each line before decoding anything, and :func:`verify_note` applies signed-note §Signatures strictly:
unknown keys are ignored, a known key that fails rejects the note, a known key appearing twice rejects
the note, and a note no known key verifies is rejected.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from modeltrace.ledger._text import CONTROL, b64decode, b64encode, decode_utf8
from modeltrace.ledger.errors import FormatError, SignatureError

TYPE_ED25519 = 0x01
TYPE_COSIGNATURE_V1 = 0x04
SIGNATURE_PREFIX = "\u2014 "  # em dash, space

# Bounds on hostile notes. Go's sumdb/note stops at 100 signature lines; the spec asks verifiers to
# accept at least 16. A key name is at most 255 bytes because tlog-cosignature's ML-DSA message encodes
# it as opaque<1..2^8-1>. 8 KiB per signature leaves room for post-quantum signatures (ML-DSA-44 lines
# are 2,432 bytes; SLH-DSA ones up to ~7,900) that we do not verify but must be able to skip.
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
MAX_KEY_NAME_BYTES = 255
MAX_SIGNATURE_BYTES = 8192
MAX_COSIGNATURE_TIME = 2**63 - 1  # tlog-cosignature: "MUST NOT exceed 2^63 - 1"

ED25519_SIGNATURE_SIZE = 64
COSIGNATURE_V1_SIZE = 8 + ED25519_SIGNATURE_SIZE
_COSIGNATURE_HEADER = b"cosignature/v1\n"

# Ed25519 public keys a signature can be forged under without the private key: the small-order points
# (y-coordinates with the sign bit cleared, as in libsodium's blocklist) and non-canonical encodings
# (y ≥ p). A vkey naming one is refused outright: "verifies" would mean nothing.
_ED25519_P = 2**255 - 19
_SMALL_ORDER_Y = frozenset(
    bytes.fromhex(point)
    for point in (
        "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
        "0100000000000000000000000000000000000000000000000000000000000000",  # identity
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    )
)


def check_key_name(name: str, what: str = "key name") -> None:
    """signed-note §Format: non-empty, no Unicode spaces, no ``+``; plus our bounds (255 B, no controls)."""
    if not isinstance(name, str) or not name:
        raise FormatError(what, "must be a non-empty string")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_KEY_NAME_BYTES:
        raise FormatError(what, f"longer than {MAX_KEY_NAME_BYTES} bytes")
    for char in name:
        if char.isspace() or char == "+" or ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF:
            raise FormatError(what, f"{name[:60]!r} contains a space, '+', control or surrogate character")


def key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    """signed-note §Signatures: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]."""
    check_key_name(name)
    if not 0 <= signature_type <= 0xFF:
        raise FormatError("signature type", f"{signature_type} is not a byte")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()[:4]


def format_vkey(name: str, signature_type: int, public_key: bytes) -> str:
    """``<name>+<hex key ID>+<base64(type ‖ public key)>``."""
    identifier = key_id(name, signature_type, public_key).hex()
    return f"{name}+{identifier}+{b64encode(bytes([signature_type]) + public_key)}"


def check_ed25519_public_key(public_key: bytes, what: str = "Ed25519 public key") -> None:
    """Refuse a key that is not 32 bytes, not canonical, or of small order."""
    if len(public_key) != 32:
        raise FormatError(what, f"must be 32 bytes, got {len(public_key)}")
    if int.from_bytes(public_key, "little") & ((1 << 255) - 1) >= _ED25519_P:
        raise FormatError(what, "non-canonical encoding")
    if public_key[:31] + bytes([public_key[31] & 0x7F]) in _SMALL_ORDER_Y:
        raise FormatError(what, "small-order point: signatures under it can be forged")


class Signer(Protocol):
    """Signs note text as the key (``name``, ``key_id``); the result goes after the key ID on the line."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class Verifier(Protocol):
    """Verifies a signature by the key (``name``, ``key_id``) over note text; never raises on bad input."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    @property
    def vkey(self) -> str: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


class _Ed25519Key:
    signature_type: int

    def __init__(self, name: str, public_key: bytes) -> None:
        check_key_name(name)
        check_ed25519_public_key(public_key)
        self._name = name
        self.public_key = bytes(public_key)
        self._key_id = key_id(name, self.signature_type, public_key)
        self._vkey = format_vkey(name, self.signature_type, self.public_key)
        try:
            self._public = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            raise FormatError("Ed25519 public key", "not a valid encoding") from None

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def vkey(self) -> str:
        return self._vkey

    def _verify_raw(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._public.verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, _Ed25519Key) and other.vkey == self.vkey

    def __hash__(self) -> int:
        return hash((type(self), self.vkey))


class Ed25519Verifier(_Ed25519Key):
    """Type 0x01: an Ed25519 signature over the note text (signed-note §Ed25519 signatures)."""

    signature_type = TYPE_ED25519

    def verify(self, message: bytes, signature: bytes) -> bool:
        return self._verify_raw(message, signature)


def cosignature_message(timestamp: int, text: bytes) -> bytes:
    """tlog-cosignature §Ed25519 signed message: ``cosignature/v1\\ntime <t>\\n`` ‖ checkpoint text."""
    if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_COSIGNATURE_TIME:
        raise FormatError("cosignature", f"timestamp {timestamp!r} outside [0, 2^63-1]")
    return _COSIGNATURE_HEADER + b"time %d\n" % timestamp + text


class CosignatureVerifier(_Ed25519Key):
    """Type 0x04: a timestamped Ed25519 ``cosignature/v1`` (tlog-cosignature §Format)."""

    signature_type = TYPE_COSIGNATURE_V1

    @staticmethod
    def timestamp(signature: bytes) -> int:
        """The POSIX time a cosignature claims; the signature must be ``u64be(time) ‖ sig``."""
        if len(signature) != COSIGNATURE_V1_SIZE:
            raise FormatError("cosignature", f"must be {COSIGNATURE_V1_SIZE} bytes, got {len(signature)}")
        return int.from_bytes(signature[:8], "big")

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != COSIGNATURE_V1_SIZE:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_COSIGNATURE_TIME:
            return False
        return self._verify_raw(cosignature_message(timestamp, message), signature[8:])


class _Ed25519SigningKey:
    """An Ed25519 private key under a key name; subclasses fix the signature type."""

    signature_type: int

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key().public_bytes_raw()
        check_key_name(name)
        self._name = name
        self._key_id = key_id(name, self.signature_type, self.public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def vkey(self) -> str:
        return format_vkey(self._name, self.signature_type, self.public_key)

    def skey(self) -> str:
        """Go sumdb/note's private-key text: ``PRIVATE+KEY+<name>+<hex ID>+<base64(type ‖ seed)>``. Secret."""
        seed = self._private_key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64encode(bytes([self.signature_type]) + seed)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey!r})"  # never the seed


def _private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    if not isinstance(seed, bytes | bytearray) or len(seed) != 32:
        raise FormatError("Ed25519 seed", "must be 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(seed))


class Ed25519Signer(_Ed25519SigningKey):
    """Signs note text with Ed25519, signature type 0x01 (a log's checkpoint signature)."""

    signature_type = TYPE_ED25519

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Ed25519Signer:
        """RFC 8032 key from a 32-byte seed (deterministic: test vectors and stored keys)."""
        return cls(name, _private_key_from_seed(seed))

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message)


class CosignatureSigner(_Ed25519SigningKey):
    """Cosigns checkpoint text as an Ed25519 ``cosignature/v1`` witness (type 0x04) at ``clock()`` time."""

    signature_type = TYPE_COSIGNATURE_V1

    def __init__(
        self, name: str, private_key: Ed25519PrivateKey, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(name, private_key)
        self.clock = clock

    @classmethod
    def from_seed(cls, name: str, seed: bytes, clock: Callable[[], float] = time.time) -> CosignatureSigner:
        """RFC 8032 key from a 32-byte seed (deterministic: test vectors and stored keys)."""
        return cls(name, _private_key_from_seed(seed), clock)

    @classmethod
    def generate(cls, name: str, clock: Callable[[], float] = time.time) -> CosignatureSigner:
        return cls(name, Ed25519PrivateKey.generate(), clock)

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.sign_at(message, int(self.clock()))

    def sign_at(self, message: bytes, timestamp: int) -> bytes:
        """``u64be(timestamp) ‖ Ed25519(cosignature_message(timestamp, message))``."""
        signed = cosignature_message(timestamp, message)  # validates the timestamp first
        return timestamp.to_bytes(8, "big") + self._private_key.sign(signed)


def parse_vkey(vkey: str) -> Ed25519Verifier | CosignatureVerifier:
    """A verifier from ``<name>+<hex key ID>+<base64(type ‖ public key)>`` (types 0x01 and 0x04).

    The name ends at the first ``+`` (names cannot hold one); the key ID must be 8 lowercase-or-uppercase
    hex digits and must equal the ID computed from the rest, so a typo cannot silently name another key.
    """
    if not isinstance(vkey, str) or len(vkey) > 1024:
        raise FormatError("vkey", "must be a string of at most 1024 characters")
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise FormatError("vkey", "expected <name>+<hex key ID>+<base64 key>")
    name, hex_id, encoded = parts
    check_key_name(name, "vkey name")
    if len(hex_id) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hex_id):
        raise FormatError("vkey", f"key ID {hex_id[:16]!r} is not 8 hex digits")
    material = b64decode(encoded, "vkey", max_bytes=768)
    if len(material) < 2:
        raise FormatError("vkey", "key material is too short")
    signature_type, public_key = material[0], material[1:]
    verifier: Ed25519Verifier | CosignatureVerifier
    if signature_type == TYPE_ED25519:
        verifier = Ed25519Verifier(name, public_key)
    elif signature_type == TYPE_COSIGNATURE_V1:
        verifier = CosignatureVerifier(name, public_key)
    else:
        raise FormatError("vkey", f"unsupported signature type 0x{signature_type:02x}")
    if verifier.key_id != bytes.fromhex(hex_id):
        raise FormatError("vkey", f"key ID {hex_id} does not match the key ({verifier.key_id.hex()})")
    return verifier


def parse_skey(skey: str) -> Ed25519Signer | CosignatureSigner:
    """The inverse of :meth:`Ed25519Signer.skey` (and of the cosigner's)."""
    prefix = "PRIVATE+KEY+"
    if not isinstance(skey, str) or not skey.startswith(prefix) or len(skey) > 1024:
        raise FormatError("skey", "expected PRIVATE+KEY+<name>+<hex key ID>+<base64 key>")
    parts = skey[len(prefix) :].split("+", 2)
    if len(parts) != 3:
        raise FormatError("skey", "expected PRIVATE+KEY+<name>+<hex key ID>+<base64 key>")
    name, hex_id, encoded = parts
    material = b64decode(encoded, "skey", max_bytes=64)
    if len(material) != 33:
        raise FormatError("skey", "key material must be a type byte and a 32-byte seed")
    signer: Ed25519Signer | CosignatureSigner
    private_key = Ed25519PrivateKey.from_private_bytes(material[1:])
    if material[0] == TYPE_ED25519:
        signer = Ed25519Signer(name, private_key)
    elif material[0] == TYPE_COSIGNATURE_V1:
        signer = CosignatureSigner(name, private_key)
    else:
        raise FormatError("skey", f"unsupported signature type 0x{material[0]:02x}")
    if signer.key_id.hex() != hex_id.lower():
        raise FormatError("skey", "key ID does not match the key")
    return signer


@dataclass(frozen=True)
class Signature:
    """One signature line: the key's name and 4-byte ID, and the signature bytes after the ID."""

    name: str
    key_id: bytes
    value: bytes

    def line(self) -> str:
        check_key_name(self.name)
        if len(self.key_id) != 4 or not self.value:
            raise FormatError("signature", "needs a 4-byte key ID and a non-empty signature")
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(self.key_id + self.value)}\n"


@dataclass(frozen=True)
class Note:
    """A signed note: ``text`` (ending in a newline) and its signature lines, in order."""

    text: str
    signatures: tuple[Signature, ...]

    @property
    def text_bytes(self) -> bytes:
        return self.text.encode("utf-8")

    def to_bytes(self) -> bytes:
        """The note as sent on the wire; refuses text that would not parse back to the same note."""
        _check_text(self.text)
        if not self.signatures:
            raise FormatError("note", "a signed note needs at least one signature")
        return (self.text + "\n" + "".join(signature.line() for signature in self.signatures)).encode()


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise FormatError("note", "text must end with a newline")
    if CONTROL.search(text):
        raise FormatError("note", "text contains an ASCII control character other than newline")
    decode_utf8(text, "note", max_bytes=MAX_NOTE_BYTES)


def sign_note(note: str | Note, *signers: Signer) -> Note:
    """Sign ``note`` text with each signer; given a :class:`Note`, its signatures are kept and extended."""
    text, signatures = (note, ()) if isinstance(note, str) else (note.text, note.signatures)
    _check_text(text)
    message = text.encode("utf-8")
    added = tuple(Signature(signer.name, signer.key_id, signer.sign(message)) for signer in signers)
    return Note(text, signatures + added)


def parse_note(
    data: bytes | str, *, max_bytes: int = MAX_NOTE_BYTES, max_signatures: int = MAX_SIGNATURES
) -> Note:
    """Parse a signed note (signed-note §Format), checking its shape but no signature.

    The text ends at the *last* blank line; every line after it must be a well-formed signature line.
    """
    message = decode_utf8(data, "note", max_bytes=max_bytes)
    if not message:
        raise FormatError("note", "is empty")
    if CONTROL.search(message):
        raise FormatError("note", "contains an ASCII control character other than newline")
    if not message.endswith("\n"):
        raise FormatError("note", "does not end with a newline")
    split = message.rfind("\n\n")
    if split < 0:
        raise FormatError("note", "no blank line separates the text from the signatures")
    text, block = message[: split + 1], message[split + 2 :]
    lines = block.split("\n")[:-1]
    if not lines:
        raise FormatError("note", "has no signature lines")
    if len(lines) > max_signatures:
        raise FormatError("note", f"{len(lines)} signature lines, more than the limit of {max_signatures}")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise FormatError("note", f"signature line does not start with an em dash and a space: {line[:40]!r}")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise FormatError("note", f"signature line has no signature: {line[:40]!r}")
    check_key_name(name, "signature key name")
    blob = b64decode(encoded, "note signature", max_bytes=MAX_SIGNATURE_BYTES)
    if len(blob) < 5:
        raise FormatError("note signature", "shorter than a key ID and one byte of signature")
    return Signature(name, blob[:4], blob[4:])


@dataclass(frozen=True)
class VerifiedSignature:
    verifier: Verifier
    signature: Signature


@dataclass(frozen=True)
class VerifiedNote:
    """A note whose signatures by known keys all verified; ``verified`` lists them in line order."""

    note: Note
    verified: tuple[VerifiedSignature, ...]

    @property
    def text(self) -> str:
        return self.note.text

    def verified_by(self, verifier: Verifier) -> Signature | None:
        for entry in self.verified:
            if entry.verifier is verifier:
                return entry.signature
        return None


def index_verifiers(verifiers: Iterable[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    """Map (name, key ID) → verifier, refusing two different keys that would claim the same lines."""
    index: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        pair = (verifier.name, verifier.key_id)
        known = index.get(pair)
        if known is not None and known.vkey != verifier.vkey:
            raise SignatureError(f"two trusted keys share the name {verifier.name!r} and key ID")
        index[pair] = verifier
    return index


def verify_note(
    note: Note | bytes | str, verifiers: Sequence[Verifier] | dict[tuple[str, bytes], Verifier]
) -> VerifiedNote:
    """Verify ``note`` against trusted keys (signed-note §Signatures).

    Lines whose (name, key ID) matches no trusted key are ignored. A trusted key's line must verify and
    appear once — a repeated line would let a note carry two different signatures "by" one key. At least
    one trusted key must have signed. Raises :class:`SignatureError` otherwise.
    """
    parsed = note if isinstance(note, Note) else parse_note(note)
    index = verifiers if isinstance(verifiers, dict) else index_verifiers(verifiers)
    message = parsed.text_bytes
    seen: set[tuple[str, bytes]] = set()
    verified: list[VerifiedSignature] = []
    for signature in parsed.signatures:
        pair = (signature.name, signature.key_id)
        verifier = index.get(pair)
        if verifier is None:
            continue
        if pair in seen:
            raise SignatureError(f"the trusted key {signature.name} {signature.key_id.hex()} signs twice")
        seen.add(pair)
        if not verifier.verify(message, signature.value):
            raise SignatureError(f"the signature by trusted key {signature.name} does not verify")
        verified.append(VerifiedSignature(verifier, signature))
    if not verified:
        raise SignatureError("no signature by a trusted key")
    return VerifiedNote(parsed, tuple(verified))
