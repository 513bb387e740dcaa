"""Organisation signing keys: identifiers, key files, and the registry the log replays from ``org.key``.

An organisation is named by a DNS domain (``example.org``) or an ISO 17442 LEI. Its Ed25519 key is
shared as a C2SP vkey named after the organisation, and its key ID (``kid``) is the vkey without the
key material: ``<org>+<hex signed-note key ID>``. Key files hold the Go sumdb/note private-key text and
are created with mode 0600, refusing to overwrite.

The registry is *derived*: replaying the log's ``org.key`` entries in order gives every key's state
at every index, so ``verify`` can check that each entry was signed by a key that was active when it was
appended, and an offline checker can rebuild the chain register → rotate → … from proven entries.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from modeltrace.ledger.errors import FormatError
from modeltrace.ledger.log_errors import EntryError, KeyStateError
from modeltrace.ledger.note import TYPE_ED25519, Ed25519Signer, Ed25519Verifier, parse_skey, parse_vkey

ALG = "ed25519"
_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]")
_LEI = re.compile(r"[A-Z0-9]{18}[0-9]{2}")
_KID = re.compile(r"([^+\s]{1,255})\+([0-9a-f]{8})")
MAX_KEY_FILE_BYTES = 1024


def _lei_checksum_ok(lei: str) -> bool:
    # ISO 17442 check digits are ISO 7064 MOD 97-10: letters A..Z count as 10..35.
    digits = "".join(str(int(char, 36)) for char in lei)
    return int(digits) % 97 == 1


def check_org(org: str) -> str:
    """A lower-case DNS domain or a valid LEI; returns it unchanged."""
    if isinstance(org, str) and _DOMAIN.fullmatch(org):
        return org
    if isinstance(org, str) and _LEI.fullmatch(org):
        if not _lei_checksum_ok(org):
            raise FormatError("organisation", f"LEI {org} fails its ISO 17442 check digits")
        return org
    raise FormatError("organisation", f"{str(org)[:60]!r} is neither a lower-case domain nor an LEI")


def kid_of(verifier: Ed25519Verifier | Ed25519Signer) -> str:
    return f"{verifier.name}+{verifier.key_id.hex()}"


def check_kid(kid: object, where: str) -> str:
    if not isinstance(kid, str) or _KID.fullmatch(kid) is None:
        raise EntryError(where, f"kid {str(kid)[:60]!r} is not <org>+<8 hex digits>")
    return kid


def org_of_kid(kid: str) -> str:
    return kid.rpartition("+")[0]


def parse_org_vkey(vkey: str, where: str) -> Ed25519Verifier:
    """An organisation's Ed25519 vkey (type 0x01) whose name is a valid organisation identifier."""
    try:
        verifier = parse_vkey(vkey)
        check_org(verifier.name)
    except FormatError as error:
        raise EntryError(where, f"bad vkey: {error.problem}") from None
    if not isinstance(verifier, Ed25519Verifier):
        raise EntryError(where, "an organisation key must be an Ed25519 (type 0x01) vkey")
    return verifier


class OrgKey:
    """An organisation's private signing key (Ed25519), named by the organisation."""

    def __init__(self, signer: Ed25519Signer) -> None:
        check_org(signer.name)
        self._signer = signer

    @classmethod
    def generate(cls, org: str) -> OrgKey:
        return cls(Ed25519Signer.generate(check_org(org)))

    @classmethod
    def from_seed(cls, org: str, seed: bytes) -> OrgKey:
        return cls(Ed25519Signer.from_seed(check_org(org), seed))

    @classmethod
    def from_text(cls, text: str, where: str = "key") -> OrgKey:
        try:
            signer = parse_skey(text.strip())
        except (FormatError, ValueError) as error:
            raise FormatError(where, f"not an organisation private key ({error})") from None
        if not isinstance(signer, Ed25519Signer):
            raise FormatError(where, "not an Ed25519 signing key (type 0x01)")
        return cls(signer)

    @classmethod
    def load(cls, path: str | Path) -> OrgKey:
        path = Path(path)
        try:
            data = path.read_bytes()[: MAX_KEY_FILE_BYTES + 1]
        except OSError as error:
            raise FormatError(str(path), f"cannot read key file: {error.strerror}") from None
        if len(data) > MAX_KEY_FILE_BYTES:
            raise FormatError(str(path), "key file is too large")
        try:
            return cls.from_text(data.decode("ascii"), str(path))
        except UnicodeDecodeError:
            raise FormatError(str(path), "key file is not ASCII") from None

    def save(self, path: str | Path) -> Path:
        """Write the private key to a new file with mode 0600; never overwrites an existing file."""
        return write_secret_file(path, self.skey() + "\n")

    @property
    def org(self) -> str:
        return self._signer.name

    @property
    def kid(self) -> str:
        return kid_of(self._signer)

    @property
    def vkey(self) -> str:
        return self._signer.vkey

    @property
    def public_key(self) -> bytes:
        return self._signer.public_key

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message)

    def skey(self) -> str:
        return self._signer.skey()

    def __repr__(self) -> str:
        return f"OrgKey({self.vkey!r})"


def write_secret_file(path: str | Path, text: str) -> Path:
    """Create ``path`` with mode 0600 (O_EXCL: an existing file is an error, never overwritten)."""
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise FormatError(str(path), "already exists; refusing to overwrite a key file") from None
    except OSError as error:
        raise FormatError(str(path), f"cannot create key file: {error.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    path.chmod(0o600)  # the umask may have cleared bits, never added any; be explicit anyway
    return path


ACTIVE, SUPERSEDED, REVOKED = "active", "superseded", "revoked"


@dataclass(frozen=True)
class KeyRecord:
    """One organisation key as the log knows it: introduced at entry ``introduced``, maybe ended."""

    kid: str
    org: str
    vkey: str
    status: str
    introduced: int
    ended: int | None = None

    @property
    def verifier(self) -> Ed25519Verifier:
        return _org_verifier(self.vkey)


@lru_cache(maxsize=4096)
def _org_verifier(vkey: str) -> Ed25519Verifier:
    # Parsing a vkey (name checks, key ID, the public key object) costs about as much as an Ed25519
    # verification, and the append path asks once per entry; a verifier is immutable, so one per vkey
    # string serves.
    verifier = parse_vkey(vkey)
    assert isinstance(verifier, Ed25519Verifier)
    return verifier


class KeyRegistry:
    """Key states, replayed from ``org.key`` entries in log order."""

    def __init__(self, records: list[KeyRecord] | None = None) -> None:
        self.records: dict[str, KeyRecord] = {record.kid: record for record in records or []}

    def copy(self) -> KeyRegistry:
        return KeyRegistry(list(self.records.values()))

    def get(self, kid: str) -> KeyRecord | None:
        return self.records.get(kid)

    def active(self, kid: str, where: str) -> KeyRecord:
        record = self.records.get(kid)
        if record is None:
            raise KeyStateError(where, f"key {kid} is not registered in this log")
        if record.status != ACTIVE:
            raise KeyStateError(where, f"key {kid} is {record.status} (since entry {record.ended})")
        return record

    def register(self, kid: str, vkey: str, index: int, where: str) -> KeyRecord:
        if kid in self.records:
            raise KeyStateError(where, f"key {kid} is already registered")
        record = KeyRecord(kid, org_of_kid(kid), vkey, ACTIVE, index)
        self.records[kid] = record
        return record

    def end(self, kid: str, status: str, index: int) -> KeyRecord:
        record = replace(self.records[kid], status=status, ended=index)
        self.records[kid] = record
        return record


def public_key_of(vkey: str) -> bytes:
    verifier = parse_vkey(vkey)
    if verifier.signature_type != TYPE_ED25519:
        raise FormatError("vkey", "not an Ed25519 key")
    return verifier.public_key
