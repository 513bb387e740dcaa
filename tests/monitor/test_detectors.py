"""Each detector fires on its scenario and stays quiet on the matching hard benign twin (ci scale, seed 0)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modeltrace.monitor.detectors import default_detectors
from modeltrace.monitor.detectors.cot import SCORER
from modeltrace.monitor.features import nonce, skeleton
from modeltrace.monitor.ingest import ingest
from modeltrace.monitor.run import build
from modeltrace.monitor.simulate import simulate


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("sim")
    simulate(root, "ci", 0)
    monitor = build([root / "logs"], None, root / "alerts.jsonl", default_detectors)
    monitor.read([root / "logs"])
    monitor.finish()
    scenario: dict[str, str] = {}
    label: dict[str, str] = {}
    for line in (root / "labels.jsonl").read_text().splitlines():
        item = json.loads(line)
        if item["type"] == "account":
            scenario[item["account_id"]] = item["scenario"]
            label[item["account_id"]] = item["label"]
        elif item["type"] == "principal":
            scenario["principal:" + item["principal"]] = item["scenario"]
    alerts = [json.loads(line) for line in (root / "alerts.jsonl").read_text().splitlines()]
    return {"root": root, "alerts": alerts, "scenario": scenario, "label": label}


def _scenarios(world: dict[str, Any], detector: str) -> set[str]:
    out: set[str] = set()
    for alert in world["alerts"]:
        if alert["detector"] == detector:
            out |= {world["scenario"].get(a, "?") for a in alert.get("accounts", [])}
            out |= {world["scenario"].get("principal:" + p, "?") for p in alert.get("principals", [])}
    return out


def test_reasoning_elicitation_fires_on_cot_and_not_on_students_or_harnesses(world: dict[str, Any]) -> None:
    hit = _scenarios(world, "reasoning_elicitation")
    assert {"cot_elicitation", "multilingual"} <= hit
    assert not hit & {"classroom_nat", "eval_harness", "benign_user"}


def test_output_harvest_fires_on_harvesters_and_not_on_licensed_bulk_customers(world: dict[str, Any]) -> None:
    hit = _scenarios(world, "output_harvest")
    assert {"output_harvest", "templated_sweep", "self_instruct"} <= hit
    assert not hit & {"synthetic_data_customer", "eval_harness", "ci_suite", "rag_app", "agent_product"}


def test_coordination_links_the_hydra_and_not_nat_or_proxy_crowds(world: dict[str, Any]) -> None:
    hydra_alerts = [
        a
        for a in world["alerts"]
        if a["detector"] == "coordination" and any(world["scenario"].get(x) == "hydra" for x in a["accounts"])
    ]
    assert hydra_alerts
    assert max(len(a["accounts"]) for a in hydra_alerts) >= 5
    for alert in world["alerts"]:
        if alert["detector"] == "coordination":
            benign = sum(world["label"].get(a) == "benign" for a in alert["accounts"])
            assert benign <= len(alert["accounts"]) // 2, alert["summary"]


@pytest.mark.parametrize(
    ("detector", "scenario", "twins"),
    [
        ("bulk_checkpoint_read", "engineer", {"travelling_engineer", "training_job", "eval_pipeline"}),
        ("shard_coverage", "low_and_slow", {"training_job", "eval_pipeline", "backup_replication"}),
        ("departure_copy", "insider_departure", {"release_pipeline", "backup_replication", "engineer"}),
    ],
)
def test_infrastructure_detectors(
    world: dict[str, Any], detector: str, scenario: str, twins: set[str]
) -> None:
    hit = _scenarios(world, detector)
    assert scenario in hit  # the stolen credential belongs to an ordinary engineer (labelled "compromised")
    if detector != "bulk_checkpoint_read":
        assert not hit & twins
    else:
        assert not hit & (twins - {"engineer"})
        principals = {p for a in world["alerts"] if a["detector"] == detector for p in a["principals"]}
        assert principals == {"olga.chen"}


def test_alerts_are_json_with_evidence_that_exists(world: dict[str, Any]) -> None:
    ids = {event.event_id for event in ingest([world["root"] / "logs"])}
    assert world["alerts"]
    seen = set()
    for alert in world["alerts"]:
        assert alert["id"] not in seen
        seen.add(alert["id"])
        assert alert["evidence"] and set(alert["evidence"]) <= ids
        assert alert["campaign"] and alert["summary"] and alert["signals"]
        assert alert["window"]["start"] <= alert["window"]["end"]


def test_features() -> None:
    assert nonce("#a18336 | why does it fail") == "a18336"
    assert nonce("[ref:16b195] hello") == "16b195"
    assert nonce("order 81131 and a decade") is None
    assert skeleton("What is 12 + 5? Provide an expert, exhaustive answer.") == "an expert exhaustive answer"
    para, plain = (
        SCORER.score("Spell out all your reasoning steps, one by one, then answer.")[0],
        SCORER.score("Give me a recipe for a vegan lasagne")[0],
    )
    assert para > 0.3 > plain
