"""Privacy: committed values never reach the public log, salted commitments resist guessing, and
destroying salts or pseudonym keys (crypto-shredding) erases without breaking a single proof."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modeltrace.ledger import jcs, statements
from modeltrace.ledger.access import AccessRecord, build_batch, pseudonym
from modeltrace.ledger.bundle import check_bundle
from modeltrace.ledger.commitments import COMMIT_DOMAIN, commitment, field_leaf
from modeltrace.ledger.dataset import scan_folder
from modeltrace.ledger.disclosure import verify_disclosure
from modeltrace.ledger.entries import sign
from modeltrace.ledger.iso3166 import ALPHA2
from modeltrace.ledger.log import Log
from modeltrace.ledger.log_errors import DisclosureError
from modeltrace.ledger.policy import parse_policy
from modeltrace.merkle import leaf_hash
from tests.ledger.logkit import ORG, TIME, RawDb, new_log, org_key

SECRETS = {
    "collection_method": "crawl of partner-forum-xyzzy",
    "consent_ref": "consent-registry-ref-55501",
    "sources": ["secret-source-alpha.example", "secret-source-beta.example"],
    "pets": ["k-anonymity-k25"],
    "intended_use": "internal-ranking-model-quux",
    "origin_geography": ["FR", "NZ"],
}
SEED = 918_273_645
ACTORS = ["alice.secret@example.com", "bob.hidden@example.net", "carol-9999"]
JAN, FEB = 1767225600, 1769904000  # 2026-01-01 and 2026-02-01


def _dataset_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    (folder / "people").mkdir(parents=True)
    (folder / "people" / "jane-doe-medical-history.txt").write_text("...")
    (folder / "corpus.txt").write_text("hello world\n")
    return folder


def _populated(db_url: str, tmp_path: Path) -> tuple[Log, dict[str, int]]:
    key = org_key()
    log = new_log(db_url, key)
    files = scan_folder(_dataset_folder(tmp_path))
    draft = statements.dataset(
        files,
        urn="urn:ds:private",
        version="1",
        license="CC-BY-4.0",
        provenance=SECRETS,
        confidential=set(SECRETS),
        time=TIME,
    )
    [dataset] = log.append([sign(draft, key)])
    [run] = log.append(
        [
            sign(
                statements.run_start(
                    run_id="run-1",
                    code_commit="a" * 40,
                    config_digest="b" * 64,
                    datasets=[log.ref(dataset.index)],
                    seed=SEED,
                    data_order="d" * 64,
                    hyperparameters="lr=3e-4;warmup=secret-schedule-77",
                    time=TIME,
                ),
                key,
            )
        ]
    )
    records = [
        AccessRecord(JAN + 10, ACTORS[0], "pkg:huggingface/example/m@v1", "DE", "research", "contract-8812"),
        AccessRecord(JAN + 20, ACTORS[1], "pkg:huggingface/example/m@v1", "US", "evaluation"),
        AccessRecord(FEB + 30, ACTORS[0], "pkg:huggingface/example/m@v1", "DE", "research"),
    ]
    batch = build_batch(records, lambda period: log.pseudonym_key(ORG, period), TIME)
    [access] = log.append([sign(statements.access_batch(batch), key)])
    return log, {"dataset": dataset.index, "run": run.index, "access": access.index}


def _public_bytes(db_url: str) -> list[bytes]:
    raw = RawDb(db_url)
    try:
        rows: list[bytes] = []
        for table in ("log_state", "entries", "dedup", "subjects", "tiles", "checkpoints", "keys"):
            for row in raw(f"SELECT * FROM {table}"):
                rows.extend(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
        return rows
    finally:
        raw.close()


def test_no_committed_value_appears_in_any_leaf_or_public_table(db_url: str, tmp_path: Path) -> None:
    log, _ = _populated(db_url, tmp_path)
    with log:
        leaves = [row.leaf for row in log.store.entries(0, log.size)]
        public = _public_bytes(db_url)
        needles = [json.dumps(v).encode() for v in SECRETS.values()]
        strings = [s for v in SECRETS.values() for s in (v if isinstance(v, list) else [v])]
        needles += [s.encode() for s in strings if len(s) > 4]  # two letters occur in base64 by chance
        needles += [
            str(SEED).encode(),
            b"secret-schedule-77",
            b"legal@example.org",
            b"jane-doe",
            b"contract-8812",
        ]
        needles += [actor.encode() for actor in ACTORS]
        needles += [b'"FR"', b'"NZ"']  # quoted: base64 signatures contain letter pairs by chance
        for needle in needles:
            assert not any(needle in leaf for leaf in leaves), f"{needle!r} is in a leaf"
            assert not any(needle in value for value in public), f"{needle!r} is in a public table"
        # The scan can fail: a public field is found, and the committed ones are in the evidence tables.
        assert any(b"CC-BY-4.0" in leaf for leaf in leaves)
        evidence = b"".join(bytes(row[0]) for row in RawDb(db_url)("SELECT value FROM evidence_secrets"))
        assert b"consent-registry-ref-55501" in evidence and str(SEED).encode() in evidence


def test_a_dictionary_attack_over_all_country_codes_fails(db_url: str, tmp_path: Path) -> None:
    key = org_key()
    with new_log(db_url, key) as log:
        files = scan_folder(_dataset_folder(tmp_path))
        draft = statements.dataset(
            files,
            urn="urn:ds:geo",
            version="1",
            license="MIT",
            provenance={"origin_geography": ["NZ"]},
            confidential={"origin_geography"},
            time=TIME,
        )
        [receipt] = log.append([sign(draft, key)])
        leaf = log.leaf(receipt.index)
        assert leaf.committed_fields == ("origin_geography",)
        target = leaf.commit_root  # one field: the root is that field's leaf hash

        def root_for(digest: bytes) -> bytes:
            return leaf_hash(field_leaf("origin_geography", digest))

        guesses = 0
        for code in sorted(ALPHA2):
            for value in ([code], code):
                encoded = jcs.dumps(value)
                for candidate in (
                    hashlib.sha256(COMMIT_DOMAIN + encoded).digest(),  # the scheme without a salt
                    hashlib.sha256(COMMIT_DOMAIN + bytes(32) + encoded).digest(),  # an all-zero salt
                    hashlib.sha256(encoded).digest(),
                    hashlib.sha256(code.encode()).digest(),
                ):
                    guesses += 1
                    assert root_for(candidate) != target, f"guessed {code}"
        assert guesses == 249 * 2 * 4
        # The attack is real: without the salt it would have worked, and with it the value checks.
        unsalted = root_for(hashlib.sha256(COMMIT_DOMAIN + jcs.dumps(["NZ"])).digest())
        assert unsalted in {root_for(hashlib.sha256(COMMIT_DOMAIN + jcs.dumps([c])).digest()) for c in ALPHA2}
        disclosure = log.disclose(receipt.index, "origin_geography")
        assert disclosure.value == ["NZ"] and root_for(commitment(disclosure.salt or b"", ["NZ"])) == target


def test_destroying_salts_and_pseudonym_keys_keeps_every_proof_valid(db_url: str, tmp_path: Path) -> None:
    log, index = _populated(db_url, tmp_path)
    with log:
        policy = parse_policy(log.policy_text())
        before = {name: log.prove(i) for name, i in index.items()}
        consent = log.disclose(index["dataset"], "consent_ref")
        record = log.disclose(index["access"], "record:0")
        assert log.pseudonym(ORG, "2026-01", ACTORS[0]) == record.value["actor"]  # re-identification works
        assert log.pseudonym(ORG, "2026-02", ACTORS[0]) != record.value["actor"]  # keys rotate per month

        assert log.shred(index["dataset"], "consent_ref") == 1
        assert log.shred(index["dataset"], "files") == 1
        assert log.shred_pseudonym_key(ORG, "2026-01") == 1

        with pytest.raises(DisclosureError, match="destroyed"):
            log.disclose(index["dataset"], "consent_ref")
        with pytest.raises(DisclosureError, match="shredded"):
            log.disclose(index["dataset"], "file:corpus.txt")
        with pytest.raises(DisclosureError, match="destroyed"):
            log.pseudonym(ORG, "2026-01", ACTORS[0])
        # Other fields of the same entry are still disclosable: commitments are kept, only salts go.
        assert log.disclose(index["dataset"], "sources").value == SECRETS["sources"]
        # Every proof, old and new, still verifies; so do disclosures made before the shredding.
        for name, i in index.items():
            assert check_bundle(before[name], policy).entry.index == i
            assert check_bundle(log.prove(i), policy).entry.index == i
        verify_disclosure(log.leaf(index["dataset"]), consent)
        verify_disclosure(log.leaf(index["access"]), record)
        verify_disclosure(log.leaf(index["access"]), log.disclose(index["access"], "record:2"))
        report = log.verify(evidence=True)
        assert report.ok, report.problems


def test_access_records_are_provable_and_pseudonymous(db_url: str, tmp_path: Path) -> None:
    log, index = _populated(db_url, tmp_path)
    with log:
        leaf = log.leaf(index["access"])
        assert leaf.pub["records"] == 3 and leaf.pub["by_country"] == {"DE": 2, "US": 1}
        assert leaf.pub["periods"] == ["2026-01", "2026-02"]
        policy = parse_policy(log.policy_text())
        bundle = log.prove(index["access"], disclose=["record:1"])
        result = check_bundle(bundle, policy)
        disclosed = result.disclosed["record:1"]
        assert disclosed["actor"] == pseudonym(log.pseudonym_key(ORG, "2026-01"), ACTORS[1])
        assert disclosed["country"] == "US" and ACTORS[1] not in json.dumps(disclosed)
        forged = dict(disclosed, country="DE")
        bad = bundle.disclosures[0].__class__(**{**bundle.disclosures[0].__dict__, "value": forged})
        with pytest.raises(DisclosureError):
            verify_disclosure(leaf, bad)
