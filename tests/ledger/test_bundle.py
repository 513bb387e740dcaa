"""``check`` of a ``prove`` bundle: offline (no database, no network), and fails on any tampering."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from modeltrace.ledger import statements
from modeltrace.ledger.bundle import ProofBundle, check_bundle
from modeltrace.ledger.dataset import DatasetFile, DatasetFiles
from modeltrace.ledger.disclosure import Disclosure
from modeltrace.ledger.entries import sign
from modeltrace.ledger.errors import LedgerError
from modeltrace.ledger.note import Ed25519Signer
from modeltrace.ledger.policy import parse_policy
from tests.ledger.logkit import ORIGIN, TIME, attestation, flip, new_log, org_key


def _bundle(db_url: str) -> tuple[ProofBundle, str]:
    first = org_key()
    with new_log(db_url, first) as log:
        second = org_key(bytes(range(1, 33)))
        log.append([sign(statements.org_key_rotate(first, second, time=TIME), first)])
        log.append([attestation(n, second) for n in range(20)])
        files = DatasetFiles(
            (DatasetFile("a.txt", 5, "a" * 64), DatasetFile("b/c.txt", 7, "b" * 64)), (), bytes(range(32))
        )
        [receipt] = log.append(
            [
                sign(
                    statements.dataset(
                        files,
                        urn="urn:x",
                        version="2",
                        license="MIT",
                        provenance={"consent_ref": "C-1"},
                        time=TIME,
                    ),
                    second,
                )
            ]
        )
        log.append([attestation(n, second) for n in range(100, 110)])
        bundle = log.prove(receipt.index, disclose=["consent_ref", "file:b/c.txt"])
        return bundle, log.policy_text()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("check tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def made(db_url: str) -> tuple[ProofBundle, str]:
    return _bundle(db_url)


def test_check_is_offline_and_sees_the_whole_chain(
    made: tuple[ProofBundle, str], tmp_path: Path, no_network: None
) -> None:
    # The bundle travels as bytes; the database is closed (for SQLite, deleted) and sockets refused.
    bundle, policy_text = made
    for path in tmp_path.glob("ledger.db*"):
        path.unlink()
    result = check_bundle(ProofBundle.from_bytes(bundle.to_bytes()), parse_policy(policy_text))
    summary = result.summary()
    assert summary["type"] == "dataset.manifest" and summary["origin"] == ORIGIN
    assert result.key_chain == (1, 0)  # signed by the rotated-in key: rotation, then registration
    assert summary["disclosed"] == {
        "consent_ref": "C-1",
        "file:b/c.txt": {"path": "b/c.txt", "sha256": "b" * 64, "size": 7},
    }


def test_any_flipped_byte_of_the_proofs_fails(made: tuple[ProofBundle, str]) -> None:
    bundle, policy_text = made
    policy = parse_policy(policy_text)
    check_bundle(bundle, policy)
    failures = 0
    for position in range(len(bundle.entry)):
        tampered = ProofBundle(bundle.origin, flip(bundle.entry, position), bundle.keys, bundle.disclosures)
        with pytest.raises(LedgerError):
            check_bundle(tampered, policy)
        failures += 1
    for which, proof in enumerate(bundle.keys):
        for position in range(0, len(proof), 3):
            keys = list(bundle.keys)
            keys[which] = flip(proof, position)
            with pytest.raises(LedgerError):
                check_bundle(
                    ProofBundle(bundle.origin, bundle.entry, tuple(keys), bundle.disclosures), policy
                )
            failures += 1
    assert failures > 1500


def test_bundle_level_tampering_fails(made: tuple[ProofBundle, str]) -> None:
    bundle, policy_text = made
    policy = parse_policy(policy_text)
    without_key_chain = ProofBundle(bundle.origin, bundle.entry, (), bundle.disclosures)
    with pytest.raises(LedgerError, match=r"no proven org\.key entry"):
        check_bundle(without_key_chain, policy)
    only_registration = ProofBundle(bundle.origin, bundle.entry, bundle.keys[1:], bundle.disclosures)
    with pytest.raises(LedgerError):
        check_bundle(only_registration, policy)
    with pytest.raises(LedgerError, match="names origin"):
        check_bundle(ProofBundle("other.example/log", bundle.entry, bundle.keys, bundle.disclosures), policy)
    lie = Disclosure(**{**bundle.disclosures[0].__dict__, "value": "C-2"})
    with pytest.raises(LedgerError):
        check_bundle(ProofBundle(bundle.origin, bundle.entry, bundle.keys, (lie,)), policy)
    moved = Disclosure(
        **{**bundle.disclosures[1].__dict__, "value": {"path": "b/c.txt", "sha256": "b" * 64, "size": 8}}
    )
    with pytest.raises(LedgerError):
        check_bundle(ProofBundle(bundle.origin, bundle.entry, bundle.keys, (moved,)), policy)
    impostor = Ed25519Signer.from_seed(ORIGIN, bytes(range(5, 37)))
    with pytest.raises(LedgerError, match="no signature by a trusted key"):
        check_bundle(bundle, parse_policy(f"log {impostor.vkey}\nquorum none\n"))
    text = bundle.to_bytes()
    for position in range(0, len(text), 97):
        try:
            damaged = ProofBundle.from_bytes(flip(text, position))
        except LedgerError:
            continue
        if damaged != bundle:
            with pytest.raises(LedgerError):
                check_bundle(damaged, policy)


def test_log_check_takes_bytes_and_policy_text(made: tuple[ProofBundle, str]) -> None:
    from modeltrace.ledger.log import Log

    bundle, policy_text = made
    assert Log.check(bundle.to_bytes(), policy_text).entry.leaf.type == "dataset.manifest"
    with pytest.raises(LedgerError):
        Log.check(bundle.to_bytes().replace(b"index ", b"index 1"), policy_text)
