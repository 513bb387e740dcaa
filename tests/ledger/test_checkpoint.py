"""C2SP tlog-checkpoint: parsing and formatting, and opening signed, cosigned checkpoints."""

from __future__ import annotations

import base64

import pytest

from modeltrace.ledger import (
    Checkpoint,
    CosignatureSigner,
    FormatError,
    SignatureError,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    sign_checkpoint,
    sign_note,
)
from tests.ledger.reference import LOG_ORIGIN, WITNESS_TIME, log_signer, reference_tree, witness_signer

# c2sp.org/tlog-checkpoint's example note text.
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_spec_example_parses_and_formats_back() -> None:
    checkpoint = parse_checkpoint(SPEC_TEXT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.to_text() == SPEC_TEXT
    assert parse_checkpoint(SPEC_TEXT.encode()) == checkpoint


def test_extension_lines_are_kept_verbatim() -> None:
    text = SPEC_TEXT + "— not a signature, an extension\nanother one\n"
    checkpoint = parse_checkpoint(text)
    assert checkpoint.extensions == ("— not a signature, an extension", "another one")
    assert checkpoint.to_text() == text


def test_size_zero_and_the_largest_uint64_parse() -> None:
    empty = "log.example\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    assert parse_checkpoint(empty).size == 0
    largest = SPEC_TEXT.replace("20852163", str(2**64 - 1))
    assert parse_checkpoint(largest).size == 2**64 - 1


ROOT = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
HOSTILE_CHECKPOINTS: dict[str, str | bytes] = {
    "two lines": f"log.example\n{ROOT}\n",
    "no final newline": f"log.example\n1\n{ROOT}",
    "empty origin": f"\n1\n{ROOT}\n",
    "empty extension line": f"log.example\n1\n{ROOT}\n\nmore\n",
    "trailing blank line": f"log.example\n1\n{ROOT}\n\n",
    "leading zero": f"log.example\n01\n{ROOT}\n",
    "plus sign": f"log.example\n+1\n{ROOT}\n",
    "negative": f"log.example\n-1\n{ROOT}\n",
    "space in size": f"log.example\n 1\n{ROOT}\n",
    "hex size": f"log.example\n0x10\n{ROOT}\n",
    "unicode digits": "log.example\n\u0661\n" + ROOT + "\n",
    "2^64": f"log.example\n{2**64}\n{ROOT}\n",
    "a million digits": "log.example\n" + "9" * 1_000_000 + f"\n{ROOT}\n",
    "31-byte root": f"log.example\n1\n{base64.b64encode(bytes(31)).decode()}\n",
    "33-byte root": f"log.example\n1\n{base64.b64encode(bytes(33)).decode()}\n",
    "unpadded root": f"log.example\n1\n{ROOT.rstrip('=')}\n",
    "non-canonical root": f"log.example\n1\n{ROOT[:-2]}3=\n",
    "url-safe root": "log.example\n1\n" + base64.urlsafe_b64encode(b"\xfb" * 32).decode() + "\n",
    "control character": f"log\x01.example\n1\n{ROOT}\n",
    "CRLF": f"log.example\r\n1\r\n{ROOT}\r\n",
    "invalid UTF-8": b"log\xff.example\n1\n" + ROOT.encode() + b"\n",
    "origin of 256 bytes": "o" * 256 + f"\n1\n{ROOT}\n",
    "17 extension lines": f"log.example\n1\n{ROOT}\n" + "ext\n" * 17,
    "1 MiB": f"log.example\n1\n{ROOT}\n" + "x" * (1 << 20) + "\n",
}


@pytest.mark.parametrize("text", HOSTILE_CHECKPOINTS.values(), ids=HOSTILE_CHECKPOINTS.keys())
def test_hostile_checkpoints_are_clean_format_errors(text: str | bytes) -> None:
    with pytest.raises(FormatError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    "fields",
    [
        {"origin": "", "size": 1, "root": bytes(32)},
        {"origin": "a\nb", "size": 1, "root": bytes(32)},
        {"origin": "a", "size": -1, "root": bytes(32)},
        {"origin": "a", "size": True, "root": bytes(32)},
        {"origin": "a", "size": 2**64, "root": bytes(32)},
        {"origin": "a", "size": 1, "root": bytes(31)},
        {"origin": "a", "size": 1, "root": bytes(32), "extensions": ("",)},
        {"origin": "a", "size": 1, "root": bytes(32), "extensions": ("x\ny",)},
    ],
)
def test_invalid_checkpoints_cannot_be_built(fields: dict[str, object]) -> None:
    with pytest.raises(FormatError):
        Checkpoint(**fields)  # type: ignore[arg-type]


# --- signed checkpoints --------------------------------------------------------------------------------


def _checkpoint(size: int = 8) -> Checkpoint:
    return Checkpoint(LOG_ORIGIN, size, reference_tree().root(size))


def test_open_checkpoint_returns_the_log_key_and_cosignatures() -> None:
    log, witness = log_signer(), witness_signer()
    note = sign_checkpoint(_checkpoint(), log, witness)
    signed = open_checkpoint(note.to_bytes(), [log.verifier], [witness.verifier])
    assert signed.checkpoint == _checkpoint()
    assert signed.log.vkey == log.vkey
    assert [(c.verifier.vkey, c.timestamp) for c in signed.cosignatures] == [(witness.vkey, WITNESS_TIME)]
    assert signed.cosigners() == (witness.verifier,)


def test_open_checkpoint_needs_the_log_signature_not_just_a_witness() -> None:
    log, witness = log_signer(), witness_signer()
    only_witness = sign_note(_checkpoint().to_text(), witness)
    with pytest.raises(SignatureError, match=r"no signature by a trusted key|log"):
        open_checkpoint(only_witness.to_bytes(), [log.verifier], [witness.verifier])


def test_open_checkpoint_checks_the_origin() -> None:
    log = log_signer()
    note = sign_checkpoint(_checkpoint(), log).to_bytes()
    with pytest.raises(SignatureError, match="origin"):
        open_checkpoint(note, [log.verifier], origin="example.org/another-log")


def test_the_log_key_name_must_be_the_origin() -> None:
    misnamed = CosignatureSigner.from_seed("w", bytes(32))
    log = log_signer()
    with pytest.raises(SignatureError):
        sign_checkpoint(Checkpoint("example.org/other", 1, bytes(32)), log)
    # A key named otherwise that signs the text anyway does not count as the log's signature.
    note = sign_note(Checkpoint("example.org/other", 1, bytes(32)).to_text(), log, misnamed).to_bytes()
    with pytest.raises(SignatureError, match="log"):
        open_checkpoint(note, [log.verifier], [misnamed.verifier])


def test_a_bad_trusted_cosignature_rejects_the_checkpoint() -> None:
    log, witness = log_signer(), witness_signer()
    good = sign_checkpoint(_checkpoint(), log, witness)
    # The witness signed another tree head; pasted onto this one, its line fails and poisons the note.
    other = sign_checkpoint(_checkpoint(7), log, witness)
    forged = parse_note(good.to_bytes())
    forged = type(forged)(forged.text, (forged.signatures[0], other.signatures[1]))
    with pytest.raises(SignatureError, match="does not verify"):
        open_checkpoint(forged.to_bytes(), [log.verifier], [witness.verifier])
    # A verifier that does not trust this witness ignores the line.
    open_checkpoint(forged.to_bytes(), [log.verifier])


def test_cosigners_drop_future_and_stale_cosignatures() -> None:
    log = log_signer()
    early, late = (
        witness_signer(WITNESS_TIME),
        CosignatureSigner.from_seed("w2", bytes(32), lambda: WITNESS_TIME + 3600),
    )
    signed = open_checkpoint(
        sign_checkpoint(_checkpoint(), log, early, late).to_bytes(),
        [log.verifier],
        [early.verifier, late.verifier],
    )
    assert signed.cosigners() == (early.verifier, late.verifier)
    assert signed.cosigners(now=WITNESS_TIME) == (early.verifier,)  # `late` is an hour in the future
    assert signed.cosigners(now=WITNESS_TIME + 3600, max_age_seconds=600) == (late.verifier,)


def test_checkpoint_note_from_go_style_parses() -> None:
    # A witness's checkpoint exactly as the tlog-cosignature spec prints it (signatures unverifiable here).
    note = (
        SPEC_TEXT
        + "\n— example.com/behind-the-sofa "
        + "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        + "— witness.example.com/w1 "
        + "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZC"
        + "B9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    parsed = parse_note(note.encode())
    assert parse_checkpoint(parsed.text).size == 20852163
    assert int.from_bytes(parsed.signatures[1].value[:8], "big") == 1679315147  # the spec's example time
    with pytest.raises(SignatureError):
        open_checkpoint(note.encode(), [parse_vkey(log_signer().vkey)])
