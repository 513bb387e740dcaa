"""The aiprov/1 entry envelope: signing, parsing, and the clean refusal of anything else."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from modeltrace.ledger import jcs, statements
from modeltrace.ledger.commitments import FieldTree, commitment
from modeltrace.ledger.dsse import pae
from modeltrace.ledger.entries import (
    MAX_LEAF_BYTES,
    STATEMENT_PAYLOAD_TYPE,
    Draft,
    Ref,
    parse_leaf,
    sign,
    statement_bytes,
)
from modeltrace.ledger.log_errors import EntryError
from modeltrace.merkle import leaf_hash
from tests.ledger.logkit import TIME, attestation, org_key


def _document(raw: bytes) -> dict[str, Any]:
    return dict(json.loads(raw))


def _resign(document: dict[str, Any]) -> bytes:
    """Re-sign an edited leaf properly, so only the edit itself can be what a parser objects to."""
    if not {"type", "kid", "subj", "pub", "commit"} <= set(document):
        return jcs.dumps(document)
    key = org_key()
    message = pae(
        STATEMENT_PAYLOAD_TYPE,
        statement_bytes(
            document["type"], document["kid"], document["subj"], document["pub"], document["commit"]
        ),
    )
    document["stmt"] = hashlib.sha256(message).hexdigest()
    document["sig"] = base64.b64encode(key.sign(message)).decode()
    return jcs.dumps(document)


def test_signed_leaf_is_canonical_self_verifying_and_parses_back() -> None:
    key = org_key()
    signed = attestation(1, key)
    leaf = parse_leaf(signed.raw)
    assert leaf.raw == jcs.dumps(_document(signed.raw))
    assert set(_document(signed.raw)) == {"v", "type", "kid", "subj", "pub", "commit", "stmt", "sig"}
    assert leaf.kid == key.kid and leaf.type == "attestation"
    assert leaf.stmt == hashlib.sha256(leaf.signed_message).hexdigest()
    assert leaf.signed_message.startswith(
        b"DSSEv1 %d %s " % (len(STATEMENT_PAYLOAD_TYPE), STATEMENT_PAYLOAD_TYPE.encode())
    )
    assert key.public_key and leaf.leaf_hash == leaf_hash(signed.raw)
    from modeltrace.ledger.keys import parse_org_vkey

    leaf.verify_signature(parse_org_vkey(key.vkey, "test"))
    other = org_key(bytes(32), "example.com")
    with pytest.raises(EntryError, match="does not verify"):
        leaf.verify_signature(parse_org_vkey(other.vkey, "test"))
    assert attestation(1, key).raw == signed.raw  # deterministic: resubmission deduplicates


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(v="aiprov/2"), "unsupported entry version 'aiprov/2'"),
        (lambda d: d.pop("v"), "unsupported entry version 'None'"),
        (lambda d: d.update(type="model.weights"), "unknown entry type 'model.weights'"),
        (lambda d: d.update(extra=1), "unexpected \\['extra'\\]"),
        (lambda d: d.pop("subj"), "missing \\['subj'\\]"),
        (lambda d: d["pub"].update(colour="blue"), "has no public field 'colour'"),
        (lambda d: d["pub"].pop("digest"), "needs pub.digest"),
        (lambda d: d["pub"].update(digest="ABC"), "is not a lower-case hex SHA-256"),
        (lambda d: d.update(subj=["md5:abc"]), "is not sha256:<hex>"),
        (lambda d: d.update(kid="no-plus-sign"), "is not <org>\\+<8 hex digits>"),
        (lambda d: d.update(commit={"fields": ["b", "a"], "root": "0" * 64}), "sorted and unique"),
    ],
)
def test_malformed_leaves_are_refused_with_a_reason(edit: Any, message: str) -> None:
    document = _document(attestation(2).raw)
    edit(document)
    with pytest.raises(EntryError, match=message):
        parse_leaf(_resign(document), "entry 9")


def test_refusals_name_the_entry() -> None:
    document = _document(attestation(2).raw)
    document["type"] = "nope"
    with pytest.raises(EntryError) as caught:
        parse_leaf(jcs.dumps(document), "entry 41")
    assert str(caught.value).startswith("entry 41: unknown entry type")


def test_stmt_and_encoding_must_match_exactly() -> None:
    raw = attestation(3).raw
    document = _document(raw)
    document["pub"]["time"] += 1  # edited after signing, not re-signed
    with pytest.raises(EntryError, match="stmt is not the SHA-256"):
        parse_leaf(jcs.dumps(document))
    with pytest.raises(EntryError, match="canonical"):
        parse_leaf(json.dumps(_document(raw), indent=1).encode())
    with pytest.raises(EntryError, match="not JSON"):
        parse_leaf(raw[:-1])


def test_signature_has_one_spelling_and_statement_is_cut_from_the_leaf() -> None:
    raw = attestation(4).raw
    document = _document(raw)
    # The last base64 character before "==" carries 4 padding bits: setting one decodes to the same
    # signature, which would give the same statement a second leaf hash past the dedup table.
    sig = document["sig"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    document["sig"] = sig[:85] + alphabet[alphabet.index(sig[85]) ^ 1] + "=="
    assert base64.b64decode(document["sig"]) == base64.b64decode(sig)
    with pytest.raises(EntryError, match="not canonical base64"):
        parse_leaf(jcs.dumps(document))
    # parse_leaf cuts the signed statement out of the leaf bytes; it must be the statement re-encoded.
    registration = statements.org_key_register(org_key(), contact="légal@example.org", time=TIME)
    for leaf in (parse_leaf(raw), parse_leaf(sign(registration, org_key()).raw)):
        assert leaf.statement == statement_bytes(leaf.type, leaf.kid, leaf.subj, leaf.pub, leaf.commit)


def test_leaves_are_capped_at_4_kib() -> None:
    key = org_key()
    pub = {
        "time": TIME,
        "batch_root": "a" * 64,
        "records": 16,
        "by_country": {"DE": 16},
        "by_purpose": {"research": 16},
        "periods": ["2026-01"],
        "artifacts": [f"pkg:huggingface/example/model-{i:02d}@" + "v" * 260 for i in range(16)],
    }
    with pytest.raises(EntryError, match="over the 4096-byte limit"):
        sign(Draft("access.event", pub), key)
    big = _document(attestation(4).raw)
    big["pub"]["predicate_type"] = "p" * 255
    assert len(_resign(big)) < MAX_LEAF_BYTES
    with pytest.raises(EntryError, match="larger than the limit"):
        parse_leaf(b" " * (MAX_LEAF_BYTES + 1))


def test_type_rules_committable_and_required_secrets() -> None:
    key = org_key()
    with pytest.raises(EntryError, match="needs committed data_order"):
        sign(
            Draft(
                "training.run.start",
                {
                    "time": TIME,
                    "run_id": "r",
                    "code_commit": "a" * 40,
                    "config_digest": "b" * 64,
                    "datasets": [],
                },
                committed={"seed": 1},
            ),
            key,
        )
    with pytest.raises(EntryError, match="cannot commit a field named 'purl'"):
        sign(
            Draft(
                "attestation",
                {"time": TIME, "digest": "a" * 64, "predicate_type": "p"},
                committed={"purl": "x"},
            ),
            key,
        )
    with pytest.raises(EntryError, match="both public and committed"):
        sign(
            Draft(
                "dataset.manifest",
                {
                    "time": TIME,
                    "urn": "u",
                    "version": "1",
                    "files_root": "a" * 64,
                    "files": 1,
                    "bytes": 1,
                    "license": "MIT",
                    "consent_ref": "x",
                },
                committed={"consent_ref": "y"},
            ),
            key,
        )
    with pytest.raises(EntryError, match="is not an ISO 3166"):
        sign(
            Draft(
                "dataset.manifest",
                {
                    "time": TIME,
                    "urn": "u",
                    "version": "1",
                    "files_root": "a" * 64,
                    "files": 1,
                    "bytes": 1,
                    "license": "MIT",
                },
                committed={"origin_geography": ["UK"]},
            ),
            key,
        )  # confidential values are checked too
    with pytest.raises(EntryError, match=r"write the expression as 'MIT OR Apache-2\.0'"):
        sign(
            Draft(
                "dataset.manifest",
                {
                    "time": TIME,
                    "urn": "u",
                    "version": "1",
                    "files_root": "a" * 64,
                    "files": 1,
                    "bytes": 1,
                    "license": "MIT  OR Apache-2.0",
                },
            ),
            key,
        )
    with pytest.raises(EntryError, match=r"org\.key rotate needs"):
        sign(
            Draft("org.key", {"time": TIME, "action": "rotate", "org": "example.org", "vkey": key.vkey}), key
        )


def test_commit_root_is_the_field_tree_over_salted_commitments() -> None:
    signed = sign(
        statements.run_start(
            run_id="r",
            code_commit="a" * 40,
            config_digest="b" * 64,
            datasets=[],
            seed=918273645,
            data_order="c" * 64,
            time=TIME,
        ),
        org_key(),
    )
    leaf = signed.leaf
    assert leaf.committed_fields == ("data_order", "seed")
    secrets = {item.name: item for item in signed.secrets}
    assert secrets["seed"].value == 918273645 and len(secrets["seed"].salt) == 32
    assert secrets["seed"].salt != secrets["data_order"].salt
    tree = FieldTree({name: commitment(item.salt, item.value) for name, item in secrets.items()})
    assert tree.root == leaf.commit_root
    again = sign(
        statements.run_start(
            run_id="r",
            code_commit="a" * 40,
            config_digest="b" * 64,
            datasets=[],
            seed=918273645,
            data_order="c" * 64,
            time=TIME,
        ),
        org_key(),
    )
    assert again.leaf.commit_root != leaf.commit_root  # fresh salts every time


def test_reference_text_round_trip() -> None:
    ref = Ref("example.org/log", 12, bytes(range(32)))
    assert Ref.parse(str(ref)) == ref
    assert Ref.from_json(ref.to_json()) == ref
    for bad in ("example.org/log#x#00", "example.org/log#1#zz", "nohash"):
        with pytest.raises(EntryError):
            Ref.parse(bad)
