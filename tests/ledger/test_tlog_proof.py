"""C2SP tlog-proof: writing, parsing and offline verification under a tlog-policy."""

from __future__ import annotations

import base64

import pytest

from modeltrace.ledger import (
    Checkpoint,
    CosignatureSigner,
    Ed25519Signer,
    FormatError,
    InMemoryTree,
    ProofError,
    QuorumError,
    SignatureError,
    TlogProof,
    parse_policy,
    parse_tlog_proof,
    sign_checkpoint,
    verify_tlog_proof,
)
from modeltrace.ledger.tlog_proof import HEADER, format_tlog_proof
from modeltrace.merkle import leaf_hash

ORIGIN = "example.org/training-log"
NOW = 1767225600
ENTRIES = [f"entry {i}".encode() for i in range(1000)]
TREE = InMemoryTree([leaf_hash(entry) for entry in ENTRIES])
LOG = Ed25519Signer.from_seed(ORIGIN, bytes(range(32)))
WITNESSES = [
    CosignatureSigner.from_seed(f"w{i}.example", bytes([i]) * 32, clock=lambda: NOW) for i in range(3)
]
POLICY = parse_policy(
    f"log {LOG.vkey}\n"
    + "".join(f"witness w{i} {witness.vkey}\n" for i, witness in enumerate(WITNESSES))
    + "group two-of-three 2 w0 w1 w2\nquorum two-of-three\n"
)


def _checkpoint_note(size: int = 1000, *cosigners: CosignatureSigner) -> bytes:
    checkpoint = Checkpoint(ORIGIN, size, TREE.root(size))
    return sign_checkpoint(checkpoint, LOG, *(cosigners or WITNESSES[:2])).to_bytes()


def _proof(
    index: int = 123, size: int = 1000, *cosigners: CosignatureSigner, extra: bytes | None = None
) -> bytes:
    return format_tlog_proof(
        index, TREE.inclusion_proof(index, size), _checkpoint_note(size, *cosigners), extra=extra
    )


def test_a_written_proof_verifies_offline() -> None:
    verified = verify_tlog_proof(_proof(), leaf_hash(ENTRIES[123]), POLICY, origin=ORIGIN, now=NOW)
    assert verified.index == 123 and verified.witnesses == {"w0", "w1"}
    assert verified.checkpoint.checkpoint.size == 1000 and verified.extra is None


def test_the_format_is_the_spec_layout() -> None:
    data = _proof(extra=b"vrf proof")
    lines = data.decode().split("\n")
    assert lines[0] == HEADER
    assert lines[1] == "extra " + base64.b64encode(b"vrf proof").decode()
    assert lines[2] == "index 123"
    assert [base64.b64decode(line) for line in lines[3:13]] == TREE.inclusion_proof(123, 1000)
    assert lines[13] == "" and lines[14] == ORIGIN
    assert data.endswith(_checkpoint_note())  # the checkpoint, verbatim
    parsed = parse_tlog_proof(data)
    assert parsed == TlogProof(123, tuple(TREE.inclusion_proof(123, 1000)), _checkpoint_note(), b"vrf proof")
    assert parsed.to_bytes() == data


def test_a_single_entry_log_has_no_proof_lines() -> None:
    data = format_tlog_proof(0, [], _checkpoint_note(1))
    assert data.startswith(f"{HEADER}\nindex 0\n\n{ORIGIN}\n".encode())
    verify_tlog_proof(data, leaf_hash(ENTRIES[0]), POLICY)


def test_extra_data_is_returned_but_not_trusted() -> None:
    verified = verify_tlog_proof(_proof(extra=b"\x00\x01"), leaf_hash(ENTRIES[123]), POLICY)
    assert verified.extra == b"\x00\x01"


def test_the_wrong_entry_fails_inclusion() -> None:
    with pytest.raises(ProofError):
        verify_tlog_proof(_proof(), leaf_hash(ENTRIES[124]), POLICY)
    with pytest.raises(ProofError):
        verify_tlog_proof(_proof(), leaf_hash(ENTRIES[123])[:31], POLICY)


def test_a_proof_for_another_index_fails() -> None:
    data = _proof().replace(b"index 123\n", b"index 122\n")
    with pytest.raises(ProofError):
        verify_tlog_proof(data, leaf_hash(ENTRIES[123]), POLICY)


def test_one_cosignature_does_not_meet_two_of_three() -> None:
    with pytest.raises(QuorumError, match="two-of-three"):
        verify_tlog_proof(_proof(123, 1000, WITNESSES[2]), leaf_hash(ENTRIES[123]), POLICY)


def test_future_and_stale_cosignatures_do_not_count() -> None:
    data = _proof()
    verify_tlog_proof(data, leaf_hash(ENTRIES[123]), POLICY, now=NOW - 30)  # within the 60 s of skew
    with pytest.raises(QuorumError):
        verify_tlog_proof(data, leaf_hash(ENTRIES[123]), POLICY, now=NOW - 3600)
    with pytest.raises(QuorumError):
        verify_tlog_proof(data, leaf_hash(ENTRIES[123]), POLICY, now=NOW + 86_400, max_age_seconds=3600)


def test_a_stranger_log_key_is_not_trusted() -> None:
    stranger = Ed25519Signer.from_seed(ORIGIN, bytes(32))
    note = sign_checkpoint(Checkpoint(ORIGIN, 1000, TREE.root(1000)), stranger, *WITNESSES[:2]).to_bytes()
    data = format_tlog_proof(123, TREE.inclusion_proof(123, 1000), note)
    with pytest.raises(SignatureError):
        verify_tlog_proof(data, leaf_hash(ENTRIES[123]), POLICY)


def test_the_origin_is_checked() -> None:
    with pytest.raises(SignatureError, match="origin"):
        verify_tlog_proof(_proof(), leaf_hash(ENTRIES[123]), POLICY, origin="example.org/another-log")


def test_a_forged_cosignature_rejects_the_proof() -> None:
    data = bytearray(_proof())
    data[-10] = ord("A") if data[-10] != ord("A") else ord("B")  # inside the last cosignature
    with pytest.raises((SignatureError, FormatError)):
        verify_tlog_proof(bytes(data), leaf_hash(ENTRIES[123]), POLICY)


def test_quorum_none_needs_only_the_log() -> None:
    policy = parse_policy(f"log {LOG.vkey}\nquorum none\n")
    note = sign_checkpoint(Checkpoint(ORIGIN, 1000, TREE.root(1000)), LOG).to_bytes()
    verify_tlog_proof(
        format_tlog_proof(5, TREE.inclusion_proof(5, 1000), note), leaf_hash(ENTRIES[5]), policy
    )


def test_a_proof_with_five_cosignatures_at_a_billion_entries_fits_in_2_5_kb() -> None:
    # Ledger note §7 target; the inclusion proof of a 10⁹-leaf tree has 30 hashes.
    cosigners = [
        CosignatureSigner.from_seed(f"w{i}.example.org", bytes([i]) * 32, clock=lambda: NOW) for i in range(5)
    ]
    note = sign_checkpoint(Checkpoint(ORIGIN, 10**9, bytes(32)), LOG, *cosigners).to_bytes()
    data = format_tlog_proof(987_654_321, [bytes([i]) * 32 for i in range(30)], note)
    assert len(data) <= 2500, len(data)


def _good() -> bytes:
    return _proof(extra=b"x")


HOSTILE_PROOFS: dict[str, bytes] = {
    "wrong header": _good().replace(b"tlog-proof@v1", b"tlog-proof@v2"),
    "no header": _good().split(b"\n", 1)[1],
    "extra after index": _good().replace(b"extra eA==\nindex 123\n", b"index 123\nextra eA==\n"),
    "empty extra": _good().replace(b"extra eA==", b"extra "),
    "bad extra base64": _good().replace(b"extra eA==", b"extra eA="),
    "missing index": _good().replace(b"index 123\n", b""),
    "index with leading zero": _good().replace(b"index 123", b"index 0123"),
    "negative index": _good().replace(b"index 123", b"index -1"),
    "index 2^64": _good().replace(b"index 123", f"index {2**64}".encode()),
    "index without space": _good().replace(b"index 123", b"index123"),
    "short hash": _good().replace(b"index 123\n", b"index 123\n" + base64.b64encode(bytes(31)) + b"\n"),
    "bad hash base64": _good().replace(b"index 123\n", b"index 123\nnot base64!\n"),
    "65 hashes": _good().replace(b"index 123\n", b"index 123\n" + (base64.b64encode(bytes(32)) + b"\n") * 65),
    "no blank line": _good().replace(b"\n\n", b"\n", 1),
    "no checkpoint": f"{HEADER}\nindex 0\n\n".encode(),
    "checkpoint without signatures": f"{HEADER}\nindex 0\n\n{ORIGIN}\n1\n{'A' * 43}=\n".encode(),
    "invalid UTF-8": _good().replace(b"index 123", b"index \xff23"),
    "10,000 signature lines": _good() + (_good().rsplit(b"\n", 2)[-2] + b"\n") * 10_000,
    "4 MiB": _good() + b"A" * (4 << 20),
}


@pytest.mark.parametrize("data", HOSTILE_PROOFS.values(), ids=HOSTILE_PROOFS.keys())
def test_hostile_proofs_are_clean_format_errors(data: bytes) -> None:
    with pytest.raises(FormatError):
        parse_tlog_proof(data)
    with pytest.raises(FormatError):
        verify_tlog_proof(data, leaf_hash(ENTRIES[123]), POLICY)


def test_writing_refuses_what_would_not_parse() -> None:
    note = _checkpoint_note()
    with pytest.raises(FormatError):
        format_tlog_proof(-1, [], note)
    with pytest.raises(FormatError):
        format_tlog_proof(0, [bytes(31)], note)
    with pytest.raises(FormatError):
        format_tlog_proof(0, [], note, extra=b"")
    with pytest.raises(FormatError):
        format_tlog_proof(0, [], b"not a note")
