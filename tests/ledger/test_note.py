"""C2SP signed-note and Ed25519 cosignature/v1: spec vectors, the ledger note's derived vector,
verification rules, and hostile input.
"""

from __future__ import annotations

import base64

import pytest

from modeltrace.ledger import (
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    FormatError,
    Note,
    Signature,
    SignatureError,
    key_id,
    parse_note,
    parse_skey,
    parse_vkey,
    sign_note,
    verify_note,
)
from modeltrace.ledger.note import (
    MAX_SIGNATURES,
    TYPE_COSIGNATURE_V1,
    TYPE_ED25519,
    cosignature_message,
    format_vkey,
)
from tests.ledger.reference import (
    LOG_ORIGIN,
    WITNESS_NAME,
    WITNESS_TIME,
    log_signer,
    witness_signer,
)

# c2sp.org/signed-note's example (as quoted in the ledger note §2).
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

# Ledger note §2: deterministic Ed25519 keys from seeds 0x00..0x1f (log) and 0x20..0x3f (witness).
LOG_VKEY = "example.org/aiprov-test+0bc8f35c+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
WITNESS_VKEY = "witness.example.org/w1+f3c080b6+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X"
CHECKPOINT_TEXT = "example.org/aiprov-test\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
LOG_LINE = (
    "— example.org/aiprov-test "
    "C8jzXCStnkZ7VpCv+NiTzDl8xD6VtqC59EhwC7w7vYagGG15wqwaSIuyISZ8I5HdNfiDp8jPAcnUGiHdRRl7O4ydIgQ=\n"
)
WITNESS_LINE = (
    "— witness.example.org/w1 "
    "88CAtgAAAABpVbkAnhfnKUhuJNvjgWxrZtu99OuWAG0YIawxsg03+L2SMw4lev1BxmAATXryKP69wXS2DEko1PR93EXj1sQU3rH9AQ==\n"
)
DERIVED_NOTE = (CHECKPOINT_TEXT + "\n" + LOG_LINE + WITNESS_LINE).encode()


# --- vectors -------------------------------------------------------------------------------------------


def test_signed_note_spec_example_verifies() -> None:
    verifier = parse_vkey(SPEC_VKEY)
    assert isinstance(verifier, Ed25519Verifier)
    assert verifier.key_id.hex() == "530d903a" and verifier.vkey == SPEC_VKEY
    verified = verify_note(SPEC_NOTE, [verifier])
    assert verified.text == "This is an example message.\n"
    assert [entry.verifier for entry in verified.verified] == [verifier]
    assert parse_note(SPEC_NOTE).to_bytes() == SPEC_NOTE


def test_spec_example_fails_on_any_text_change() -> None:
    tampered = SPEC_NOTE.replace(b"example message", b"example massage")
    with pytest.raises(SignatureError):
        verify_note(tampered, [parse_vkey(SPEC_VKEY)])


def test_derived_vkeys_are_reproduced() -> None:
    assert log_signer().vkey == LOG_VKEY
    assert witness_signer().vkey == WITNESS_VKEY
    assert parse_vkey(LOG_VKEY).vkey == LOG_VKEY
    assert parse_vkey(WITNESS_VKEY).vkey == WITNESS_VKEY


def test_derived_checkpoint_and_cosignature_are_reproduced_byte_for_byte() -> None:
    note = sign_note(CHECKPOINT_TEXT, log_signer(), witness_signer())
    assert note.to_bytes() == DERIVED_NOTE
    # The cosignature field is u64be(time) ‖ Ed25519 signature, 76 bytes with the key ID.
    blob = base64.b64decode(WITNESS_LINE.split()[-1])
    assert len(blob) == 76 and int.from_bytes(blob[4:12], "big") == WITNESS_TIME


def test_derived_note_verifies_with_both_keys() -> None:
    log, witness = parse_vkey(LOG_VKEY), parse_vkey(WITNESS_VKEY)
    verified = verify_note(DERIVED_NOTE, [log, witness])
    assert [entry.verifier for entry in verified.verified] == [log, witness]
    signature = verified.verified_by(witness)
    assert signature is not None and CosignatureVerifier.timestamp(signature.value) == WITNESS_TIME


def test_cosignature_signs_the_cosignature_v1_message() -> None:
    message = cosignature_message(WITNESS_TIME, CHECKPOINT_TEXT.encode())
    assert message == b"cosignature/v1\ntime 1767225600\n" + CHECKPOINT_TEXT.encode()
    blob = base64.b64decode(WITNESS_LINE.split()[-1])[4:]
    signer = witness_signer()
    assert blob == signer.sign_at(CHECKPOINT_TEXT.encode(), WITNESS_TIME)


def test_key_ids_follow_the_spec_formula() -> None:
    signer = log_signer()
    assert key_id(LOG_ORIGIN, TYPE_ED25519, signer.public_key).hex() == "0bc8f35c"
    # The same key as a cosigner has another ID: the type byte separates the two uses.
    assert key_id(LOG_ORIGIN, TYPE_COSIGNATURE_V1, signer.public_key) != signer.key_id


# --- verification rules (signed-note §Signatures) ------------------------------------------------------


def _note(*signatures: Signature) -> bytes:
    return Note(CHECKPOINT_TEXT, signatures).to_bytes()


def _signatures() -> tuple[Signature, Signature]:
    note = parse_note(DERIVED_NOTE)
    return note.signatures[0], note.signatures[1]


def test_unknown_keys_are_ignored() -> None:
    log_line, witness_line = _signatures()
    stranger = Ed25519Signer.from_seed("stranger.example", bytes(32))
    stray = Signature("stranger.example", stranger.key_id, stranger.sign(b"something else"))
    verified = verify_note(_note(stray, log_line, stray, witness_line), [parse_vkey(LOG_VKEY)])
    assert [entry.signature for entry in verified.verified] == [log_line]


def test_a_line_sharing_only_the_name_or_only_the_id_is_unknown() -> None:
    log_line, _ = _signatures()
    same_name = Signature(log_line.name, b"\x00\x00\x00\x00", bytes(64))
    same_id = Signature("other.example", log_line.key_id, bytes(64))
    verify_note(_note(same_name, same_id, log_line), [parse_vkey(LOG_VKEY)])


def test_a_failing_known_key_rejects_the_note() -> None:
    log_line, witness_line = _signatures()
    bad = Signature(witness_line.name, witness_line.key_id, witness_line.value[:-1] + b"\x00")
    with pytest.raises(SignatureError, match="does not verify"):
        verify_note(_note(log_line, bad), [parse_vkey(LOG_VKEY), parse_vkey(WITNESS_VKEY)])


def test_a_repeated_known_key_rejects_the_note_even_if_both_lines_verify() -> None:
    log_line, _ = _signatures()
    with pytest.raises(SignatureError, match="twice"):
        verify_note(_note(log_line, log_line), [parse_vkey(LOG_VKEY)])


def test_repeated_unknown_lines_are_ignored() -> None:
    log_line, witness_line = _signatures()
    verify_note(_note(log_line, witness_line, witness_line), [parse_vkey(LOG_VKEY)])


def test_a_note_no_known_key_signed_is_rejected() -> None:
    with pytest.raises(SignatureError, match="no signature by a trusted key"):
        verify_note(SPEC_NOTE, [parse_vkey(LOG_VKEY)])
    with pytest.raises(SignatureError):
        verify_note(SPEC_NOTE, [])


def test_more_than_16_signatures_are_accepted() -> None:
    log_line, _ = _signatures()
    strays = [Signature(f"w{i}.example", bytes(4), bytes(64)) for i in range(MAX_SIGNATURES - 1)]
    verify_note(_note(*strays, log_line), [parse_vkey(LOG_VKEY)])


def test_a_plain_signature_does_not_pass_as_a_cosignature() -> None:
    signer = Ed25519Signer.from_seed(WITNESS_NAME, bytes(range(0x20, 0x40)))
    cosigner = witness_signer()
    plain = signer.sign(CHECKPOINT_TEXT.encode())
    forged = Signature(WITNESS_NAME, cosigner.key_id, bytes(8) + plain)
    with pytest.raises(SignatureError):
        verify_note(_note(forged), [cosigner.verifier])


def test_cosignature_timestamps_above_2_63_are_refused() -> None:
    cosigner = witness_signer()
    with pytest.raises(FormatError):
        cosigner.sign_at(b"x\n", 2**63)
    with pytest.raises(FormatError):
        cosigner.sign_at(b"x\n", -1)
    blob = (2**63).to_bytes(8, "big") + bytes(64)
    assert not cosigner.verifier.verify(b"x\n", blob)
    assert not cosigner.verifier.verify(b"x\n", bytes(71))


def test_two_trusted_keys_claiming_the_same_lines_are_refused() -> None:
    first = Ed25519Verifier(LOG_ORIGIN, log_signer().public_key)
    # Same name and ID but another key: only possible on purpose, and ambiguous, so refused.
    other = Ed25519Verifier(LOG_ORIGIN, witness_signer().public_key)
    object.__setattr__(other, "_key_id", first.key_id)
    with pytest.raises(SignatureError, match="share"):
        verify_note(DERIVED_NOTE, [first, other])


# --- signing and formatting ----------------------------------------------------------------------------


def test_sign_note_appends_to_an_existing_note() -> None:
    note = sign_note(CHECKPOINT_TEXT, log_signer())
    cosigned = sign_note(note, witness_signer())
    assert cosigned.signatures[0] == note.signatures[0] and len(cosigned.signatures) == 2


@pytest.mark.parametrize("text", ["no newline", "tab\there\n", "bell\x07\n", "cr\r\n", "lone \ud800\n"])
def test_signing_refuses_text_that_would_not_parse_back(text: str) -> None:
    with pytest.raises(FormatError):
        sign_note(text, log_signer())


def test_a_note_without_signatures_cannot_be_formatted() -> None:
    with pytest.raises(FormatError):
        Note(CHECKPOINT_TEXT, ()).to_bytes()


def test_note_text_may_contain_blank_lines() -> None:
    text = "first\n\nthird\n"
    note = parse_note(sign_note(text, log_signer()).to_bytes())
    assert note.text == text


def test_skey_round_trip_keeps_the_key_and_hides_it_from_repr() -> None:
    signer = log_signer()
    again = parse_skey(signer.skey())
    assert isinstance(again, Ed25519Signer) and again.vkey == signer.vkey
    assert signer.skey() not in repr(signer)
    cosigner = parse_skey(witness_signer().skey())
    assert isinstance(cosigner, CosignatureSigner) and cosigner.vkey == WITNESS_VKEY
    with pytest.raises(FormatError):
        parse_skey(signer.skey().replace("+0bc8f35c+", "+00000000+"))


# --- vkeys ---------------------------------------------------------------------------------------------


def _vkey_with(material: bytes, name: str = "k.example") -> str:
    return f"{name}+{key_id(name, material[0], material[1:]).hex()}+{base64.b64encode(material).decode()}"


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "example.com/foo",
        "example.com/foo+530d903a",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # empty name
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong ID
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # short ID
        "example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # not hex
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",  # bad base64 length
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2l",  # non-canonical
        "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # space in name
        "x" * 2000,
    ],
)
def test_malformed_vkeys_are_refused(vkey: str) -> None:
    with pytest.raises(FormatError):
        parse_vkey(vkey)


def test_unsupported_and_weak_keys_are_refused() -> None:
    with pytest.raises(FormatError, match="unsupported"):
        parse_vkey(_vkey_with(b"\x02" + bytes(range(32))))  # ECDSA: not implemented
    with pytest.raises(FormatError, match="32 bytes"):
        parse_vkey(_vkey_with(b"\x01" + bytes(31)))
    identity = b"\x01" + (1).to_bytes(32, "little")
    with pytest.raises(FormatError, match="small-order"):
        parse_vkey(_vkey_with(identity))
    non_canonical = b"\x04" + (2**255 - 19 + 1).to_bytes(32, "little")
    with pytest.raises(FormatError, match="non-canonical"):
        parse_vkey(_vkey_with(non_canonical))


def test_format_vkey_round_trips() -> None:
    public = log_signer().public_key
    assert format_vkey(LOG_ORIGIN, TYPE_ED25519, public) == LOG_VKEY


# The small-order blocklist must hold exactly points P with 8·P = identity; check on the curve itself.
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P


def _recover_x(y: int) -> int | None:
    u = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    x = pow(u, (_P + 3) // 8, _P)
    if (x * x - u) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    return x if (x * x - u) % _P == 0 else None


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, -1, _P) % _P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P) % _P)


def test_small_order_blocklist_is_exactly_small_order_points() -> None:
    from modeltrace.ledger.note import _SMALL_ORDER_Y

    for encoded in _SMALL_ORDER_Y:
        y = int.from_bytes(encoded, "little")
        x = _recover_x(y)
        assert x is not None
        point = (x, y)
        for _ in range(3):
            point = _add(point, point)
        assert point == (0, 1), encoded.hex()
    assert len(_SMALL_ORDER_Y) == 5  # y of the 8 small-order points: 0 (×2), 1, p−1, two of order 8 (×2 each)


# --- hostile notes -------------------------------------------------------------------------------------

HOSTILE_NOTES = {
    "invalid UTF-8": CHECKPOINT_TEXT.encode() + b"\xff\n\n" + LOG_LINE.encode(),
    "overlong UTF-8 NUL": b"a\xc0\x80\n\n" + LOG_LINE.encode(),
    "UTF-8 surrogate": b"a\xed\xa0\x80\n\n" + LOG_LINE.encode(),
    "NUL in text": b"a\x00b\n\n" + LOG_LINE.encode(),
    "tab in text": b"a\tb\n\n" + LOG_LINE.encode(),
    "CR in text": CHECKPOINT_TEXT.replace("\n", "\r\n").encode() + b"\r\n" + LOG_LINE.encode(),
    "escape in signature": DERIVED_NOTE.replace(b"\xe2\x80\x94 ", b"\xe2\x80\x94 \x1b", 1),
    "no final newline": DERIVED_NOTE[:-1],
    "no blank line": (CHECKPOINT_TEXT + LOG_LINE).encode(),
    "no signatures": (CHECKPOINT_TEXT + "\n").encode(),
    "hyphens, not an em dash": DERIVED_NOTE.replace("—".encode(), b"--"),
    "en dash": DERIVED_NOTE.replace("—".encode(), "–".encode()),
    "no space after dash": DERIVED_NOTE.replace("— ".encode(), "—".encode()),
    "no signature": (CHECKPOINT_TEXT + "\n— example.org/aiprov-test\n").encode(),
    "empty name": (CHECKPOINT_TEXT + "\n—  AAAAAAAA\n").encode(),
    "plus in name": DERIVED_NOTE.replace(b"aiprov-test C8", b"aiprov+test C8"),
    "nbsp in name": DERIVED_NOTE.replace(b"aiprov-test C8", "aiprov\u00a0test C8".encode()),
    "base64 without padding": DERIVED_NOTE.replace(b"IgQ=\n", b"IgQ\n"),
    "base64 non-canonical tail": DERIVED_NOTE.replace(b"IgQ=\n", b"IgR=\n"),
    "base64 bad character": DERIVED_NOTE.replace(b"IgQ=\n", b"Ig!=\n"),
    "base64 with a space": DERIVED_NOTE.replace(b"IgQ=\n", b"I gQ=\n"),
    "signature too short": (CHECKPOINT_TEXT + "\n— a.example AAAAAA==\n").encode(),
    "trailing garbage line": DERIVED_NOTE + b"garbage\n",
    "name of 256 bytes": (CHECKPOINT_TEXT + "\n— " + "n" * 256 + " AAAAAAA=\n").encode(),
    "signature of 9 KiB": (
        CHECKPOINT_TEXT + "\n— a " + base64.b64encode(bytes(9216)).decode() + "\n"
    ).encode(),
    "101 signature lines": (CHECKPOINT_TEXT + "\n" + LOG_LINE * 101).encode(),
    "10,000 signature lines": (CHECKPOINT_TEXT + "\n" + LOG_LINE * 10_000).encode(),
    "2 MiB of text": b"a" * (2 << 20) + b"\n\n" + LOG_LINE.encode(),
    "2 MiB line": (CHECKPOINT_TEXT + "\n— a " + "A" * (2 << 20) + "\n").encode(),
}


@pytest.mark.parametrize("data", HOSTILE_NOTES.values(), ids=HOSTILE_NOTES.keys())
def test_hostile_notes_are_clean_format_errors(data: bytes) -> None:
    with pytest.raises(FormatError):
        parse_note(data)
    with pytest.raises(FormatError):
        verify_note(data, [parse_vkey(LOG_VKEY)])


def test_a_blank_line_among_signatures_moves_the_split() -> None:
    # The text ends at the *last* blank line, so the log's line becomes text and no longer signs it.
    data = DERIVED_NOTE.replace(b"\n\xe2\x80\x94 witness", b"\n\n\xe2\x80\x94 witness")
    assert parse_note(data).text == CHECKPOINT_TEXT + "\n" + LOG_LINE
    with pytest.raises(SignatureError):
        verify_note(data, [parse_vkey(LOG_VKEY)])


def test_a_str_with_a_lone_surrogate_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        parse_note("a\ud800\n\n" + LOG_LINE)


def test_del_and_c1_characters_are_allowed_as_in_go() -> None:
    # signed-note forbids only ASCII controls below U+0020 (other than newline).
    text = "del \x7f and nel \x85\n"
    assert parse_note(sign_note(text, log_signer()).to_bytes()).text == text
