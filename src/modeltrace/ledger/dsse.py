"""DSSE (secure-systems-lab/dsse v1): the pre-authentication encoding and envelopes.

Signing ``PAE(type, body)`` rather than the body binds the payload type into the signature, so a
statement cannot be replayed as a different kind of document. ``PAE = "DSSEv1" SP LEN(type) SP type SP
LEN(body) SP body`` with LEN the ASCII decimal byte length.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from modeltrace.ledger.errors import FormatError

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_ENVELOPE_BYTES = 16 << 20


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 pre-authentication encoding of ``payload`` under ``payload_type``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE JSON envelope; signatures are kept but not verified (keys are the caller's)."""

    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, sig)


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise FormatError("DSSE envelope", f"{what} is not a string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        # DSSE allows URL-safe base64 too.
        try:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise FormatError("DSSE envelope", f"{what} is not base64") from None


def parse_envelope(document: Any) -> Envelope:
    """A DSSE envelope from parsed JSON: ``payloadType``, base64 ``payload``, ``signatures``."""
    if not isinstance(document, dict):
        raise FormatError("DSSE envelope", "is not a JSON object")
    payload_type = document.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise FormatError("DSSE envelope", "payloadType is missing")
    payload = _b64(document.get("payload"), "payload")
    raw_signatures = document.get("signatures", [])
    if not isinstance(raw_signatures, list):
        raise FormatError("DSSE envelope", "signatures is not a list")
    signatures: list[tuple[str, bytes]] = []
    for item in raw_signatures:
        if not isinstance(item, dict):
            raise FormatError("DSSE envelope", "a signature is not an object")
        keyid = item.get("keyid", "")
        signatures.append((keyid if isinstance(keyid, str) else "", _b64(item.get("sig"), "sig")))
    return Envelope(payload_type, payload, tuple(signatures))


def load_json(data: bytes, what: str) -> Any:
    """Parse JSON from an untrusted file, bounded in size, naming ``what`` on failure."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise FormatError(what, f"{len(data)} bytes is larger than the limit of {MAX_ENVELOPE_BYTES}")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise FormatError(what, f"not JSON: {str(error)[:80]}") from None
