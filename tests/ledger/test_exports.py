"""Exports: each parses as JSON and has the fields its specification requires."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from modeltrace.ledger import statements
from modeltrace.ledger.dataset import scan_folder
from modeltrace.ledger.entries import sign
from modeltrace.ledger.exports import FORMATS, export
from modeltrace.ledger.log import Log
from modeltrace.ledger.log_errors import NotFoundError
from modeltrace.ledger.model_hash import hash_model
from tests.ledger.logkit import TIME, new_log, org_key, tiny_model

HEX64 = re.compile(r"[0-9a-f]{64}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _chain(db_url: str, tmp_path: Path) -> tuple[Log, dict[str, int]]:
    key = org_key()
    log = new_log(db_url, key)
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    draft = statements.dataset(
        scan_folder(folder),
        urn="urn:ds:web",
        version="3",
        license="CC-BY-4.0",
        tlp="GREEN",
        dataset_type=["text"],
        provenance={"origin_geography": ["DE"], "sensitive_pi": "no"},
        time=TIME,
    )
    index: dict[str, int] = {}
    index["dataset"] = log.append([sign(draft, key)])[0].index
    index["run"] = log.append(
        [
            sign(
                statements.run_start(
                    run_id="run-7",
                    code_commit="c" * 40,
                    config_digest="d" * 64,
                    datasets=[log.ref(index["dataset"])],
                    seed=1,
                    data_order="e" * 64,
                    image_digest="sha256:" + "f" * 64,
                    compute="8xH100",
                    time=TIME,
                ),
                key,
            )
        ]
    )[0].index
    digest = hash_model(tiny_model(tmp_path / "model"))
    index["checkpoint"] = log.append(
        [sign(statements.checkpoint(digest, run=log.ref(index["run"]), step=500, time=TIME + 60), key)]
    )[0].index
    index["end"] = log.append(
        [
            sign(
                statements.run_end(
                    run=log.ref(index["run"]),
                    final=log.ref(index["checkpoint"]),
                    steps=500,
                    tokens=10**9,
                    gpu_hours="12.5",
                    time=TIME + 3600,
                ),
                key,
            )
        ]
    )[0].index
    index["release"] = log.append(
        [
            sign(
                statements.release(
                    checkpoint=log.ref(index["checkpoint"]),
                    oms_root=digest.oms_root,
                    purl="pkg:huggingface/example/tiny@1.0",
                    license="Apache-2.0",
                    name="tiny-1.0.safetensors",
                    package_id="tiny",
                    time=TIME + 7200,
                ),
                key,
            )
        ]
    )[0].index
    return log, index


@pytest.fixture
def chain(db_url: str, tmp_path: Path) -> tuple[Log, dict[str, int]]:
    return _chain(db_url, tmp_path)


def _as_json(document: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(json.dumps(document))
    return parsed


def test_slsa_provenance_v1(chain: tuple[Log, dict[str, int]]) -> None:
    log, index = chain
    with log:
        statement = _as_json(export(log, index["end"], "slsa"))
        checkpoint = log.leaf(index["checkpoint"])
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"] == [
        {"name": "checkpoint-step-500", "digest": {"sha256": checkpoint.pub["oms_root"]}}
    ]
    definition = statement["predicate"]["buildDefinition"]
    assert definition["buildType"].startswith("https://")
    assert (
        isinstance(definition["externalParameters"], dict)
        and definition["externalParameters"]["run_id"] == "run-7"
    )
    for dependency in definition["resolvedDependencies"]:
        assert {"uri", "digest", "content"} & set(dependency)
        for algorithm, value in dependency.get("digest", {}).items():
            assert algorithm in ("sha256", "gitCommit") and re.fullmatch(r"[0-9a-f]{40,64}", value)
    details = statement["predicate"]["runDetails"]
    assert details["builder"]["id"].startswith("https://")
    assert details["metadata"]["invocationId"] == "run-7"
    assert RFC3339.fullmatch(details["metadata"]["startedOn"]) and RFC3339.fullmatch(
        details["metadata"]["finishedOn"]
    )
    assert all("digest" in item or "uri" in item for item in details["byproducts"])


def test_intoto_release(chain: tuple[Log, dict[str, int]]) -> None:
    log, index = chain
    with log:
        statement = _as_json(export(log, index["release"], "intoto-release"))
        oms_root = log.leaf(index["checkpoint"]).pub["oms_root"]
        with pytest.raises(NotFoundError, match="not a release"):
            export(log, index["checkpoint"], "intoto-release")
    assert statement["predicateType"] == "https://in-toto.io/attestation/release/v0.1"
    assert statement["predicate"] == {"purl": "pkg:huggingface/example/tiny@1.0", "packageId": "tiny"}
    assert statement["subject"] == [{"name": "tiny-1.0.safetensors", "digest": {"sha256": oms_root}}]


def test_cyclonedx_ml_bom(chain: tuple[Log, dict[str, int]]) -> None:
    log, index = chain
    with log:
        bom = _as_json(export(log, index["release"], "cyclonedx"))
        data_only = _as_json(export(log, index["dataset"], "cyclonedx"))
    assert (bom["bomFormat"], bom["specVersion"], bom["version"]) == ("CycloneDX", "1.6", 1)
    assert re.fullmatch(
        r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", bom["serialNumber"]
    )
    refs = [component["bom-ref"] for component in bom["components"]]
    assert len(refs) == len(set(refs))
    model = next(c for c in bom["components"] if c["type"] == "machine-learning-model")
    data = [c for c in bom["components"] if c["type"] == "data"]
    assert model["purl"] == "pkg:huggingface/example/tiny@1.0" and model["licenses"] == [
        {"expression": "Apache-2.0"}
    ]
    datasets = model["modelCard"]["modelParameters"]["datasets"]
    assert datasets and all(item["ref"] in refs for item in datasets)
    for component in data:
        assert component["data"] and component["data"][0]["type"] in (
            "source-code",
            "configuration",
            "dataset",
            "definition",
            "other",
        )
    for dependency in bom["dependencies"]:
        assert dependency["ref"] in refs and set(dependency["dependsOn"]) <= set(refs)
    assert RFC3339.fullmatch(bom["metadata"]["timestamp"])
    assert [c["type"] for c in data_only["components"]] == ["data"]


def test_spdx_3_ai_and_dataset_packages(chain: tuple[Log, dict[str, int]]) -> None:
    log, index = chain
    with log:
        document = _as_json(export(log, index["release"], "spdx"))
    assert document["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
    graph = document["@graph"]
    ids = {item.get("spdxId") or item.get("@id") for item in graph}
    creation = next(item for item in graph if item["type"] == "CreationInfo")
    assert creation["specVersion"] == "3.0.1" and set(creation["createdBy"]) <= ids
    for item in graph:
        if item["type"] != "CreationInfo":
            assert item["creationInfo"] == creation["@id"] and item["spdxId"].startswith("https://")
    ai = next(item for item in graph if item["type"] == "ai_AIPackage")
    for field in (
        "suppliedBy",
        "software_downloadLocation",
        "software_packageVersion",
        "software_primaryPurpose",
        "releaseTime",
    ):
        assert ai.get(field), field
    datasets = [item for item in graph if item["type"] == "dataset_DatasetPackage"]
    assert datasets
    for dataset in datasets:
        for field in ("builtTime", "releaseTime", "software_downloadLocation", "software_primaryPurpose"):
            assert dataset.get(field), field
        assert len(dataset["originatedBy"]) == 1 and dataset["dataset_datasetType"] == ["text"]
        assert dataset["dataset_confidentialityLevel"] == "green"
    relationships = [item for item in graph if item["type"] == "Relationship"]
    for package in [ai, *datasets]:
        for kind in ("hasConcludedLicense", "hasDeclaredLicense"):
            assert (
                sum(
                    1
                    for r in relationships
                    if r["from"] == package["spdxId"] and r["relationshipType"] == kind
                )
                == 1
            )
    for relationship in relationships:
        assert relationship["from"] in ids and set(relationship["to"]) <= ids
    trained = next(r for r in relationships if r["relationshipType"] == "trainedOn")
    assert trained["from"] == ai["spdxId"] and set(trained["to"]) == {d["spdxId"] for d in datasets}
    document_element = next(item for item in graph if item["type"] == "SpdxDocument")
    assert (
        document_element["rootElement"] == [ai["spdxId"]] and "ai" in document_element["profileConformance"]
    )


def test_oms_manifest_matches_the_logged_root(chain: tuple[Log, dict[str, int]]) -> None:
    log, index = chain
    with log:
        manifest = _as_json(export(log, index["release"], "oms"))
        oms_root = log.leaf(index["checkpoint"]).pub["oms_root"]
        log.shred(index["checkpoint"], "oms")
        with pytest.raises(NotFoundError, match="no OMS manifest"):
            export(log, index["checkpoint"], "oms")
    assert manifest["predicateType"] == "https://model_signing/signature/v1.0"
    assert manifest["subject"][0]["digest"]["sha256"] == oms_root
    resources = manifest["predicate"]["resources"]
    assert all(HEX64.fullmatch(r["digest"]) and r["algorithm"] == "sha256" for r in resources)
    combined = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    assert combined == oms_root
    assert manifest["predicate"]["serialization"]["method"] == "files"


def test_every_format_is_offered_and_unknown_ones_are_refused(chain: tuple[Log, dict[str, int]]) -> None:
    log, index = chain
    with log:
        for fmt in FORMATS:
            assert json.dumps(export(log, index["release"], fmt))
        with pytest.raises(NotFoundError, match="unknown export format"):
            export(log, index["release"], "xml")
