"""Exports of logged entries into the supply-chain formats other tools read.

* ``slsa`` — an in-toto Statement v1 with SLSA Provenance v1 (``https://slsa.dev/provenance/v1``) for a
  training run: ``buildDefinition{buildType, externalParameters, internalParameters,
  resolvedDependencies}`` and ``runDetails{builder, metadata, byproducts}``; the subjects are the run's
  logged checkpoints by OMS root.
* ``intoto-release`` — an in-toto Statement v1 with the release predicate
  (``https://in-toto.io/attestation/release/v0.1``: ``purl``, optional ``packageId``). in-toto subjects
  match by digest only, so the subject carries the checkpoint's OMS root.
* ``cyclonedx`` — a CycloneDX 1.6 ML-BOM: a ``machine-learning-model`` component with a ``modelCard``
  whose ``modelParameters.datasets`` reference ``data`` components, one per logged dataset.
* ``spdx`` — SPDX 3.0.1 JSON-LD: ``ai_AIPackage`` and ``dataset_DatasetPackage`` elements, one concluded
  and one declared licence each (the AI and Dataset profile conformance rules), ``trainedOn``
  relationships marked as the trainer's claim.
* ``oms`` — the OpenSSF model-signing manifest statement (``https://model_signing/signature/v1.0``) kept
  as evidence when the checkpoint was logged, re-checked against the logged OMS root.

Every document names the ledger entry it came from (origin, index, leaf hash), so a reader can ask for
the entry's proof bundle and check it offline. Values are only ever what the entries state in clear;
nothing committed is exported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from modeltrace import __version__
from modeltrace.ledger import jcs
from modeltrace.ledger.entries import Leaf, Ref
from modeltrace.ledger.keys import org_of_kid
from modeltrace.ledger.log import Log
from modeltrace.ledger.log_errors import EntryError, NotFoundError

FORMATS = ("slsa", "intoto-release", "cyclonedx", "spdx", "oms")
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
RELEASE_V01 = "https://in-toto.io/attestation/release/v0.1"
BUILD_TYPE = "https://modeltrace.dev/ledger/training-run/v1"
OMS_PREDICATE = "https://model_signing/signature/v1.0"


def _time(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _uuid(*parts: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256("\n".join(parts).encode()).digest()[:16], version=4))


class _Entries:
    """Reads entries of one log, following local references (foreign ones cannot be resolved here)."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def get(self, index: int) -> Leaf:
        return self.log.leaf(index)

    def follow(self, value: Any, expected: str) -> tuple[int, Leaf] | None:
        ref = Ref.from_json(value)
        if ref.log != self.log.origin:
            return None
        leaf = self.get(ref.index)
        if leaf.leaf_hash != ref.leaf or leaf.type != expected:
            raise EntryError(f"entry {ref.index}", f"is not the {expected} the reference names")
        return ref.index, leaf

    def ledger_ref(self, index: int, leaf: Leaf) -> dict[str, Any]:
        return {"log": self.log.origin, "index": index, "leaf": leaf.leaf_hash.hex()}

    def run_of(self, index: int, leaf: Leaf) -> tuple[int, Leaf]:
        """The training.run.start an entry belongs to (itself, a run end's or a checkpoint's run)."""
        if leaf.type == "training.run.start":
            return index, leaf
        if leaf.type in ("training.run.end", "checkpoint"):
            found = self.follow(leaf.pub["run"], "training.run.start")
            if found is not None:
                return found
        if leaf.type == "release":
            checkpoint = self.follow(leaf.pub["checkpoint"], "checkpoint")
            if checkpoint is not None:
                return self.run_of(*checkpoint)
        raise NotFoundError(f"entry {index} ({leaf.type}) does not lead to a training run in this log")

    def checkpoint_of(self, index: int, leaf: Leaf) -> tuple[int, Leaf]:
        if leaf.type == "checkpoint":
            return index, leaf
        if leaf.type == "release":
            found = self.follow(leaf.pub["checkpoint"], "checkpoint")
            if found is not None:
                return found
        if leaf.type == "training.run.end":
            found = self.follow(leaf.pub["final"], "checkpoint")
            if found is not None:
                return found
        raise NotFoundError(f"entry {index} ({leaf.type}) does not lead to a checkpoint in this log")

    def datasets_of(self, run: Leaf) -> list[tuple[int, Leaf]]:
        found = [self.follow(value, "dataset.manifest") for value in run.pub.get("datasets", [])]
        return [item for item in found if item is not None]

    def run_members(self, run_index: int) -> tuple[list[tuple[int, Leaf]], tuple[int, Leaf] | None]:
        """Checkpoints and the run end logged for the run at ``run_index``."""
        checkpoints: list[tuple[int, Leaf]] = []
        end: tuple[int, Leaf] | None = None
        for entry_type in ("checkpoint", "training.run.end"):
            start = run_index
            while True:
                rows = self.log.store.search(entry_type=entry_type, start=start, limit=500)
                for row in rows:
                    leaf = self.get(row.index)
                    if (
                        leaf.pub["run"].get("index") == run_index
                        and leaf.pub["run"].get("log") == self.log.origin
                    ):
                        if entry_type == "checkpoint":
                            checkpoints.append((row.index, leaf))
                        else:
                            end = (row.index, leaf)
                if len(rows) < 500:
                    break
                start = rows[-1].index + 1
        return checkpoints, end


def slsa(log: Log, index: int) -> dict[str, Any]:
    entries = _Entries(log)
    run_index, run = entries.run_of(index, entries.get(index))
    checkpoints, end = entries.run_members(run_index)
    if not checkpoints:
        raise NotFoundError(
            f"run entry {run_index} has no logged checkpoints to be the provenance's subjects"
        )
    pub = run.pub
    dependencies: list[dict[str, Any]] = [{"name": "code", "digest": {"gitCommit": pub["code_commit"]}}]
    dependencies.append({"name": "config", "digest": {"sha256": pub["config_digest"]}})
    if "image_digest" in pub:
        dependencies.append({"name": "image", "digest": {"sha256": pub["image_digest"].split(":", 1)[1]}})
    for dataset_index, dataset in entries.datasets_of(run):
        dependencies.append(
            {
                "name": f"{dataset.pub['urn']}@{dataset.pub['version']}",
                "digest": {"sha256": dataset.pub["files_root"]},
                "annotations": {
                    "ledger": entries.ledger_ref(dataset_index, dataset),
                    "merkle": "aiprov files root",
                },
            }
        )
    if "base" in pub:
        dependencies.append({"name": "base", "annotations": {"ledger": pub["base"]}})
    metadata: dict[str, Any] = {"invocationId": pub["run_id"], "startedOn": _time(pub["time"])}
    if end is not None:
        metadata["finishedOn"] = _time(end[1].pub["time"])
    byproducts = [
        {
            "name": "ledger:training.run.start",
            "digest": {"sha256": run.leaf_hash.hex()},
            "annotations": {"ledger": entries.ledger_ref(run_index, run)},
        }
    ]
    if end is not None:
        byproducts.append(
            {
                "name": "ledger:training.run.end",
                "digest": {"sha256": end[1].leaf_hash.hex()},
                "annotations": {"ledger": entries.ledger_ref(*end)},
            }
        )
    internal: dict[str, Any] = {"ledger": entries.ledger_ref(run_index, run), "signer": run.kid}
    if run.commit_root is not None:
        internal["committed"] = {"fields": list(run.committed_fields), "root": run.commit.get("root")}
    if "compute" in pub:
        internal["compute"] = pub["compute"]
    return {
        "_type": STATEMENT_V1,
        "subject": [
            {"name": f"checkpoint-step-{leaf.pub['step']}", "digest": {"sha256": leaf.pub["oms_root"]}}
            for _, leaf in checkpoints
        ],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "run_id": pub["run_id"],
                    "code_commit": pub["code_commit"],
                    "config_digest": pub["config_digest"],
                    "datasets": pub["datasets"],
                    **({"base": pub["base"]} if "base" in pub else {}),
                },
                "internalParameters": internal,
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": f"https://{org_of_kid(run.kid)}/modeltrace/ledger/{log.origin}"},
                "metadata": metadata,
                "byproducts": byproducts,
            },
        },
    }


def intoto_release(log: Log, index: int) -> dict[str, Any]:
    leaf = log.leaf(index)
    if leaf.type != "release":
        raise NotFoundError(f"entry {index} is a {leaf.type}, not a release")
    pub = leaf.pub
    predicate: dict[str, Any] = {"purl": pub["purl"]}
    if "package_id" in pub:
        predicate["packageId"] = pub["package_id"]
    name = pub.get("name") or pub["purl"].split("/")[-1]
    return {
        "_type": STATEMENT_V1,
        "subject": [{"name": name, "digest": {"sha256": subject.split(":", 1)[1]}} for subject in leaf.subj],
        "predicateType": RELEASE_V01,
        "predicate": predicate,
    }


def _properties(entries: _Entries, index: int, leaf: Leaf, extra: dict[str, str]) -> list[dict[str, str]]:
    ref = entries.ledger_ref(index, leaf)
    items = {
        "modeltrace:ledger:origin": ref["log"],
        "modeltrace:ledger:index": str(index),
        "modeltrace:ledger:leaf_hash": ref["leaf"],
        **extra,
    }
    return [{"name": name, "value": value} for name, value in items.items()]


def _dataset_component(entries: _Entries, index: int, leaf: Leaf) -> dict[str, Any]:
    pub = leaf.pub
    data: dict[str, Any] = {"type": "dataset", "name": pub["urn"]}
    if "confidentiality" in pub or "tlp" in pub:
        data["classification"] = pub.get("confidentiality") or f"TLP:{pub['tlp']}"
    data["governance"] = {"owners": [{"organization": {"name": org_of_kid(leaf.kid)}}]}
    return {
        "type": "data",
        "bom-ref": f"dataset-{index}",
        "name": pub["urn"],
        "version": pub["version"],
        "licenses": [{"expression": pub["license"]}],
        "data": [data],
        "properties": _properties(
            entries,
            index,
            leaf,
            {
                "modeltrace:dataset:files_root": pub["files_root"],
                "modeltrace:dataset:files": str(pub["files"]),
                "modeltrace:dataset:bytes": str(pub["bytes"]),
            },
        ),
    }


def cyclonedx(log: Log, index: int) -> dict[str, Any]:
    entries = _Entries(log)
    leaf = entries.get(index)
    components: list[dict[str, Any]] = []
    dependencies: list[dict[str, Any]] = []
    if leaf.type == "dataset.manifest":
        components.append(_dataset_component(entries, index, leaf))
    else:
        checkpoint_index, checkpoint = entries.checkpoint_of(index, leaf)
        _, run = entries.run_of(checkpoint_index, checkpoint)
        datasets = entries.datasets_of(run)
        model: dict[str, Any] = {
            "type": "machine-learning-model",
            "bom-ref": "model",
            "name": f"{run.pub['run_id']}-step-{checkpoint.pub['step']}",
            "version": str(checkpoint.pub["step"]),
            "modelCard": {"modelParameters": {"datasets": [{"ref": f"dataset-{i}"} for i, _ in datasets]}},
            "properties": _properties(
                entries,
                checkpoint_index,
                checkpoint,
                {
                    "modeltrace:checkpoint:tensor_root": checkpoint.pub["tensor_root"],
                    "modeltrace:checkpoint:oms_root": checkpoint.pub["oms_root"],
                    "modeltrace:run:id": run.pub["run_id"],
                    "modeltrace:run:code_commit": run.pub["code_commit"],
                },
            ),
        }
        if leaf.type == "release":
            model["name"] = leaf.pub.get("name") or model["name"]
            model["purl"] = leaf.pub["purl"]
            model["licenses"] = [{"expression": leaf.pub["license"]}]
        components.append(model)
        components.extend(_dataset_component(entries, i, d) for i, d in datasets)
        dependencies.append({"ref": "model", "dependsOn": [f"dataset-{i}" for i, _ in datasets]})
    bom: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{_uuid('cyclonedx', log.origin, leaf.leaf_hash.hex())}",
        "version": 1,
        "metadata": {
            "timestamp": _time(leaf.pub["time"]),
            "tools": {"components": [{"type": "application", "name": "modeltrace", "version": __version__}]},
            "supplier": {"name": org_of_kid(leaf.kid)},
        },
        "components": components,
    }
    if dependencies:
        bom["dependencies"] = dependencies
    return bom


def spdx(log: Log, index: int) -> dict[str, Any]:
    entries = _Entries(log)
    leaf = entries.get(index)
    base = f"https://{log.origin}/spdx/{leaf.leaf_hash.hex()[:32]}"
    org = org_of_kid(leaf.kid)
    agent = f"{base}#org"
    graph: list[dict[str, Any]] = [
        {
            "type": "CreationInfo",
            "@id": "_:creationinfo",
            "specVersion": "3.0.1",
            "created": _time(leaf.pub["time"]),
            "createdBy": [agent],
        },
        {"type": "Organization", "spdxId": agent, "creationInfo": "_:creationinfo", "name": org},
    ]
    roots: list[str] = []

    def add_licence(package: str, expression: str, name: str) -> None:
        licence = f"{base}#license-{name}"
        graph.append(
            {
                "type": "simplelicensing_LicenseExpression",
                "spdxId": licence,
                "creationInfo": "_:creationinfo",
                "simplelicensing_licenseExpression": expression,
            }
        )
        for kind in ("hasConcludedLicense", "hasDeclaredLicense"):
            graph.append(
                {
                    "type": "Relationship",
                    "spdxId": f"{base}#{kind}-{name}",
                    "creationInfo": "_:creationinfo",
                    "from": package,
                    "relationshipType": kind,
                    "to": [licence],
                }
            )

    def add_dataset(dataset_index: int, dataset: Leaf) -> str:
        pub = dataset.pub
        spdx_id = f"{base}#dataset-{dataset_index}"
        element: dict[str, Any] = {
            "type": "dataset_DatasetPackage",
            "spdxId": spdx_id,
            "creationInfo": "_:creationinfo",
            "name": pub["urn"],
            "software_packageVersion": pub["version"],
            "software_downloadLocation": f"https://{log.origin}/entries/{dataset_index}",
            "software_primaryPurpose": "data",
            "builtTime": _time(pub["time"]),
            "releaseTime": _time(pub["time"]),
            "originatedBy": [agent],
            "dataset_datasetType": list(pub.get("dataset_type") or ["noAssertion"]),
            "dataset_datasetSize": pub["bytes"],
        }
        if "tlp" in pub:
            element["dataset_confidentialityLevel"] = {
                "CLEAR": "clear",
                "GREEN": "green",
                "AMBER": "amber",
                "AMBER+STRICT": "amber",
                "RED": "red",
            }[pub["tlp"]]
        if "sensitive_pi" in pub:
            element["dataset_hasSensitivePersonalInformation"] = pub["sensitive_pi"]
        if "intended_use" in pub:
            element["dataset_intendedUse"] = pub["intended_use"]
        if "collection_method" in pub:
            element["dataset_dataCollectionProcess"] = pub["collection_method"]
        graph.append(element)
        add_licence(spdx_id, pub["license"], f"dataset-{dataset_index}")
        return spdx_id

    if leaf.type == "dataset.manifest":
        roots.append(add_dataset(index, leaf))
    else:
        checkpoint_index, checkpoint = entries.checkpoint_of(index, leaf)
        run_index, run = entries.run_of(checkpoint_index, checkpoint)
        version = str(checkpoint.pub["step"])
        location = f"https://{log.origin}/entries/{checkpoint_index}"
        licence = None
        if leaf.type == "release":
            version = leaf.pub["purl"].rpartition("@")[2] or version
            location = leaf.pub["purl"]
            licence = leaf.pub["license"]
        model = f"{base}#model"
        graph.append(
            {
                "type": "ai_AIPackage",
                "spdxId": model,
                "creationInfo": "_:creationinfo",
                "name": str(leaf.pub.get("name") or f"{run.pub['run_id']}-step-{checkpoint.pub['step']}"),
                "software_packageVersion": version,
                "software_downloadLocation": location,
                "software_primaryPurpose": "model",
                "releaseTime": _time(leaf.pub["time"]),
                "suppliedBy": agent,
                "verifiedUsing": [
                    {
                        "type": "Hash",
                        "algorithm": "sha256",
                        "hashValue": checkpoint.pub["oms_root"],
                        "comment": "OpenSSF model_signing manifest root (files serialization)",
                    }
                ],
                "ai_informationAboutTraining": (
                    f"Training run {run.pub['run_id']} (code {run.pub['code_commit']}), logged as entry "
                    f"{run_index} of {log.origin}"
                ),
            }
        )
        roots.append(model)
        add_licence(model, licence or "NOASSERTION", "model")
        trained_on = [add_dataset(i, d) for i, d in entries.datasets_of(run)]
        if trained_on:
            graph.append(
                {
                    "type": "Relationship",
                    "spdxId": f"{base}#trainedOn",
                    "creationInfo": "_:creationinfo",
                    "from": model,
                    "relationshipType": "trainedOn",
                    "to": trained_on,
                    "completeness": "noAssertion",
                    "comment": "claimed by the trainer in its signed ledger entry; not verified",
                }
            )
    elements = [item["spdxId"] for item in graph if "spdxId" in item]
    graph.append(
        {
            "type": "SpdxDocument",
            "spdxId": f"{base}#document",
            "creationInfo": "_:creationinfo",
            "name": f"modeltrace ledger export of {log.origin} entry {index}",
            "profileConformance": ["core", "software", "simpleLicensing", "ai", "dataset"],
            "rootElement": roots,
            "element": elements,
        }
    )
    return {"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": graph}


def oms(log: Log, index: int) -> dict[str, Any]:
    entries = _Entries(log)
    checkpoint_index, checkpoint = entries.checkpoint_of(index, entries.get(index))
    data = log.store.blob(checkpoint.stmt, "oms")
    if data is None:
        raise NotFoundError(
            f"entry {checkpoint_index}: no OMS manifest in this evidence store (foreign or shredded)"
        )
    manifest: dict[str, Any] = jcs.loads(data, what="OMS manifest")
    digest = hashlib.sha256()
    for resource in manifest["predicate"]["resources"]:
        digest.update(bytes.fromhex(resource["digest"]))
    if digest.hexdigest() != checkpoint.pub["oms_root"]:
        raise EntryError(
            f"entry {checkpoint_index}", "the stored OMS manifest does not hash to the logged root"
        )
    return manifest


EXPORTERS: dict[str, Callable[[Log, int], dict[str, Any]]] = {
    "slsa": slsa,
    "intoto-release": intoto_release,
    "cyclonedx": cyclonedx,
    "spdx": spdx,
    "oms": oms,
}


def export(log: Log, index: int, fmt: str) -> dict[str, Any]:
    exporter = EXPORTERS.get(fmt)
    if exporter is None:
        raise NotFoundError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    return exporter(log, index)
