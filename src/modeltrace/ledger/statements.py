"""Builders: one function per entry type, turning the owner's inputs into an unsigned :class:`Draft`.

They decide what is public, what is committed and what stays off the log as evidence, and validate it
all before anything is signed (signing re-validates the leaf). Sign a draft with
:func:`modeltrace.ledger.entries.sign` and append it with :meth:`modeltrace.ledger.log.Log.append`.
"""

from __future__ import annotations

import base64
import hashlib
import time as clock
from collections.abc import Iterable, Mapping
from typing import Any

from modeltrace.ledger import jcs
from modeltrace.ledger.access import AccessBatch
from modeltrace.ledger.dataset import DatasetFiles
from modeltrace.ledger.dsse import IN_TOTO_PAYLOAD_TYPE, load_json, pae, parse_envelope
from modeltrace.ledger.entries import Draft, Ref
from modeltrace.ledger.entry_types import TYPES
from modeltrace.ledger.errors import FormatError
from modeltrace.ledger.keys import ALG, OrgKey, check_org
from modeltrace.ledger.log_errors import EntryError
from modeltrace.ledger.model_hash import ModelDigest, oms_manifest

POP_PAYLOAD_TYPE = "application/vnd.modeltrace.aiprov.pop+json"

#: Data & Trust Alliance provenance fields a dataset entry can carry in clear or committed.
PROVENANCE_FIELDS = (
    "origin_geography",
    "processing_geography",
    "storage_geography",
    "collection_method",
    "consent_ref",
    "confidentiality",
    "pets",
    "sources",
    "intended_use",
    "issuer",
    "issue_date",
    "data_format",
    "sensitive_pi",
)
#: Committed unless the signer publishes them: the ones §4 of the ledger notes keeps off the log.
DEFAULT_CONFIDENTIAL = frozenset({"collection_method", "consent_ref", "pets", "sources"})


def now() -> int:
    return int(clock.time())


def pop_message(org: str, vkey: str, supersedes: str) -> bytes:
    """What a rotated-in key signs to prove possession: bound to the key it replaces."""
    return pae(POP_PAYLOAD_TYPE, jcs.dumps({"org": org, "supersedes": supersedes, "vkey": vkey}))


def org_key_register(
    key: OrgKey, *, contact: str | None = None, valid_from: int | None = None, time: int | None = None
) -> Draft:
    """Register ``key`` for its organisation; signed by the key itself (proof of possession)."""
    stamp = now() if time is None else time
    pub = {
        "time": stamp,
        "action": "register",
        "org": key.org,
        "vkey": key.vkey,
        "alg": ALG,
        "valid_from": stamp if valid_from is None else valid_from,
    }
    return Draft("org.key", pub, committed={"contact": contact} if contact else {})


def org_key_rotate(old: OrgKey, new: OrgKey, *, contact: str | None = None, time: int | None = None) -> Draft:
    """Replace ``old`` with ``new``; signed by ``old``, with ``new``'s signature proving possession."""
    if old.org != new.org:
        raise EntryError("org.key rotate", f"new key is for {new.org}, not {old.org}")
    stamp = now() if time is None else time
    pop = base64.b64encode(new.sign(pop_message(new.org, new.vkey, old.kid))).decode("ascii")
    pub = {
        "time": stamp,
        "action": "rotate",
        "org": old.org,
        "vkey": new.vkey,
        "alg": ALG,
        "valid_from": stamp,
        "supersedes": old.kid,
        "pop": pop,
    }
    return Draft("org.key", pub, committed={"contact": contact} if contact else {})


def org_key_revoke(org: str, target_kid: str, *, reason: str | None = None, time: int | None = None) -> Draft:
    """Revoke ``target_kid``; sign with any active key of the same organisation."""
    pub: dict[str, Any] = {
        "time": now() if time is None else time,
        "action": "revoke",
        "org": check_org(org),
        "target": target_kid,
    }
    if reason:
        pub["reason"] = reason
    return Draft("org.key", pub)


def dataset(
    files: DatasetFiles,
    *,
    urn: str,
    version: str,
    license: str,
    provenance: Mapping[str, Any] | None = None,
    confidential: Iterable[str] | None = None,
    mining: Mapping[str, str] | None = None,
    dataset_type: Iterable[str] | None = None,
    tlp: str | None = None,
    parents: Iterable[Ref] = (),
    time: int | None = None,
) -> Draft:
    """A ``dataset.manifest``: the files' Merkle root and D&TA provenance, confidential fields committed."""
    provenance = dict(provenance or {})
    unknown = sorted(set(provenance) - set(PROVENANCE_FIELDS))
    if unknown:
        raise EntryError("dataset.manifest", f"unknown provenance field(s) {', '.join(unknown)}")
    hidden = DEFAULT_CONFIDENTIAL if confidential is None else frozenset(confidential)
    unknown = sorted(hidden - set(PROVENANCE_FIELDS))
    if unknown:
        raise EntryError("dataset.manifest", f"cannot make {', '.join(unknown)} confidential")
    pub: dict[str, Any] = {
        "time": now() if time is None else time,
        "urn": urn,
        "version": version,
        "files_root": files.tree().root.hex(),
        "files": len(files.files),
        "bytes": files.total_bytes,
        "license": license,
    }
    if files.ignored:
        pub["ignored"] = len(files.ignored)
    if mining:
        pub["mining"] = dict(mining)
    if dataset_type:
        pub["dataset_type"] = sorted(set(dataset_type))
    if tlp:
        pub["tlp"] = tlp
    parent_refs = [ref.to_json() for ref in parents]
    if parent_refs:
        pub["parents"] = parent_refs
    committed = {name: value for name, value in provenance.items() if name in hidden}
    pub.update({name: value for name, value in provenance.items() if name not in hidden})
    return Draft("dataset.manifest", pub, committed=committed, evidence={"files": files.evidence()})


def run_start(
    *,
    run_id: str,
    code_commit: str,
    config_digest: str,
    datasets: Iterable[Ref],
    seed: int,
    data_order: str,
    base: Ref | None = None,
    hyperparameters: str | None = None,
    image_digest: str | None = None,
    compute: str | None = None,
    time: int | None = None,
) -> Draft:
    """``training.run.start``, logged before step 1: code, config, data, and a seed/data-order commitment."""
    pub: dict[str, Any] = {
        "time": now() if time is None else time,
        "run_id": run_id,
        "code_commit": code_commit,
        "config_digest": config_digest,
        "datasets": [ref.to_json() for ref in datasets],
    }
    if base is not None:
        pub["base"] = base.to_json()
    if image_digest:
        pub["image_digest"] = image_digest
    if compute:
        pub["compute"] = compute
    committed: dict[str, Any] = {"seed": seed, "data_order": data_order}
    if hyperparameters is not None:
        committed["hyperparameters"] = hyperparameters
    return Draft("training.run.start", pub, committed=committed)


def checkpoint(
    digest: ModelDigest,
    *,
    run: Ref,
    step: int,
    prev: Ref | None = None,
    data_segment_root: str | None = None,
    optimizer_digest: str | None = None,
    loss: str | None = None,
    time: int | None = None,
) -> Draft:
    """``checkpoint``: per-tensor root and OMS root of a model folder; the manifests stay as evidence."""
    pub: dict[str, Any] = {
        "time": now() if time is None else time,
        "run": run.to_json(),
        "step": step,
        "tensor_root": digest.tensor_root,
        "tensors": len(digest.tensors),
        "oms_root": digest.oms_root,
        "files": len(digest.files),
        "bytes": digest.bytes,
        "format": digest.format,
    }
    if prev is not None:
        pub["prev"] = prev.to_json()
    if data_segment_root:
        pub["data_segment_root"] = data_segment_root
    committed: dict[str, Any] = {}
    if optimizer_digest:
        committed["optimizer_digest"] = optimizer_digest
    if loss:
        committed["loss"] = loss
    tensors = jcs.dumps([[t.name, t.dtype, list(t.shape), t.sha256] for t in digest.tensors])
    return Draft(
        "checkpoint",
        pub,
        subj=[f"sha256:{digest.oms_root}"],
        committed=committed,
        evidence={"tensors": tensors, "oms": jcs.dumps(oms_manifest(digest))},
    )


def run_end(
    *,
    run: Ref,
    final: Ref,
    steps: int,
    tokens: int | None = None,
    gpu_hours: str | None = None,
    energy_kwh: str | None = None,
    status: str | None = None,
    evals: str | None = None,
    time: int | None = None,
) -> Draft:
    pub: dict[str, Any] = {
        "time": now() if time is None else time,
        "run": run.to_json(),
        "final": final.to_json(),
        "steps": steps,
    }
    for name, value in (
        ("tokens", tokens),
        ("gpu_hours", gpu_hours),
        ("energy_kwh", energy_kwh),
        ("status", status),
    ):
        if value is not None:
            pub[name] = value
    return Draft("training.run.end", pub, committed={"evals": evals} if evals else {})


def release(
    *,
    checkpoint: Ref,
    oms_root: str,
    purl: str,
    license: str,
    name: str | None = None,
    package_id: str | None = None,
    oms_bundle_digest: str | None = None,
    card_digest: str | None = None,
    eval_digests: Iterable[str] = (),
    time: int | None = None,
) -> Draft:
    """``release``: a package URL bound to a logged checkpoint; the subject is the checkpoint's OMS root."""
    pub: dict[str, Any] = {
        "time": now() if time is None else time,
        "purl": purl,
        "checkpoint": checkpoint.to_json(),
        "license": license,
    }
    for field, value in (
        ("name", name),
        ("package_id", package_id),
        ("oms_bundle_digest", oms_bundle_digest),
        ("card_digest", card_digest),
    ):
        if value:
            pub[field] = value
    evals = list(eval_digests)
    if evals:
        pub["eval_digests"] = evals
    return Draft("release", pub, subj=[f"sha256:{oms_root}"])


def access_batch(batch: AccessBatch) -> Draft:
    return Draft("access.event", dict(batch.pub), evidence={"records": batch.evidence()})


def _statement_subjects(statement: Any, where: str) -> tuple[list[str], str]:
    if not isinstance(statement, dict) or not isinstance(statement.get("_type"), str):
        raise FormatError(where, "not an in-toto Statement (no _type)")
    predicate_type = statement.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise FormatError(where, "in-toto Statement has no predicateType")
    subjects: list[str] = []
    for subject in statement.get("subject", []) if isinstance(statement.get("subject"), list) else []:
        digest = subject.get("digest", {}) if isinstance(subject, dict) else {}
        value = digest.get("sha256") if isinstance(digest, dict) else None
        if isinstance(value, str) and len(value) == 64:
            subjects.append(f"sha256:{value.lower()}")
    return sorted(set(subjects))[:16], predicate_type


def attestation(data: bytes, *, where: str = "attestation", time: int | None = None) -> Draft:
    """``attestation``: any in-toto Statement or DSSE envelope (or Sigstore bundle), logged by digest."""
    document = load_json(data, where)
    if isinstance(document, dict) and isinstance(document.get("dsseEnvelope"), dict):
        document = document["dsseEnvelope"]  # a Sigstore bundle wraps the envelope
    pub: dict[str, Any] = {
        "time": now() if time is None else time,
        "digest": hashlib.sha256(data).hexdigest(),
    }
    if isinstance(document, dict) and "payloadType" in document:
        envelope = parse_envelope(document)
        pub["envelope"] = "dsse"
        pub["payload_type"] = envelope.payload_type
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
            raise FormatError(where, f"DSSE payload type {envelope.payload_type!r} is not in-toto")
        subjects, predicate_type = _statement_subjects(load_json(envelope.payload, where), where)
    else:
        pub["envelope"] = "statement"
        subjects, predicate_type = _statement_subjects(document, where)
    pub["predicate_type"] = predicate_type
    return Draft("attestation", pub, subj=subjects, evidence={"attestation": data})


def correction(
    target: Ref,
    reason: str,
    *,
    replacement: Ref | None = None,
    details: str | None = None,
    time: int | None = None,
) -> Draft:
    pub: dict[str, Any] = {
        "time": now() if time is None else time,
        "target": target.to_json(),
        "reason": reason,
    }
    if replacement is not None:
        pub["replacement"] = replacement.to_json()
    return Draft("correction", pub, committed={"details": details} if details else {})


def revocation(target: Ref, reason: str, *, details: str | None = None, time: int | None = None) -> Draft:
    pub: dict[str, Any] = {
        "time": now() if time is None else time,
        "target": target.to_json(),
        "reason": reason,
    }
    return Draft("revocation", pub, committed={"details": details} if details else {})


assert set(PROVENANCE_FIELDS) <= set(TYPES["dataset.manifest"].fields)
