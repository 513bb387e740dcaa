"""The simulator at ci scale: deterministic, labelled consistently, every case present, ingestible."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modeltrace.monitor import ApiRequest, Event, InfraEvent, IngestReport, IpIntel, enrich, ingest
from modeltrace.monitor.cli import app
from modeltrace.monitor.sim.infra import InfraSpec
from modeltrace.monitor.sim.people import PeopleSpec
from modeltrace.monitor.simulate import CI, SimulationError, simulate

SEED = 11
BENIGN_HARD_CASES = {
    "eval_harness",
    "synthetic_data_customer",
    "rag_app",
    "agent_product",
    "ci_suite",
    "classroom_nat",
    "corporate_proxy",
    "mobile_cgnat",
    "vpn_user",
    "reseller",
    "signup_burst",
    "post_release_spike",
    "travelling_engineer",
    "training_job",
    "eval_pipeline",
    "backup_replication",
    "release_pipeline",
}
ATTACK_KINDS = {
    "hydra",
    "reseller_mixed",
    "templated_sweep",
    "self_instruct",
    "cot_elicitation",
    "output_harvest",
    "agentic_harvest",
    "multilingual",
    "slow",
    "adaptive",
    "post_release_pivot",
    "stolen_credential",
    "low_and_slow",
    "insider_departure",
}


@dataclasses.dataclass
class SimSet:
    root: Path
    events: list[Event]
    report: IngestReport
    labels: dict[str, dict[str, Any]]
    records: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def ci(tmp_path_factory: pytest.TempPathFactory) -> SimSet:
    root = tmp_path_factory.mktemp("sim") / "ci"
    simulate(root, "ci", SEED)
    report = IngestReport()
    intel = IpIntel.from_csv(root / "context" / "ip_intel.csv")
    events = list(enrich(ingest([root / "logs"], report=report), intel))
    labels: dict[str, dict[str, Any]] = {}
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with (root / "labels.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            if record["type"] == "event":
                assert record["event_id"] not in labels, "an event is labelled twice"
                labels[record["event_id"]] = record
            else:
                records[record["type"]].append(record)
    return SimSet(root, events, report, labels, records)


def digests(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "manifest.json":
            manifest = json.loads(data)
            manifest.pop("seconds"), manifest.pop("out")
            data = json.dumps(manifest, sort_keys=True).encode()
        out[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def test_the_adapters_read_everything_it_writes_without_a_problem(ci: SimSet) -> None:
    assert ci.report.errors == 0 and ci.report.warnings == 0, ci.report.issues[:5]
    assert set(ci.report.events_by_format) == {"gateway", "otel", "cloudtrail", "k8s_audit"}
    assert 30_000 < len(ci.events) < 120_000
    manifest = json.loads((ci.root / "manifest.json").read_text())
    assert manifest["events_total"] == len(ci.events)
    # enrichment from the simulator's own IP table covers every external address
    assert all(e.country is not None for e in ci.events if e.source_ip and not e.source_ip.startswith("10."))


def test_every_event_has_exactly_one_label_and_every_label_an_event(ci: SimSet) -> None:
    ids = [e.event_id for e in ci.events]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(ci.labels)
    assert ci.records["meta"][0]["seed"] == SEED


def test_labels_agree_with_the_logs_and_the_operator_context(ci: SimSet) -> None:
    accounts = {r["account_id"]: r for r in ci.records["account"]}
    with (ci.root / "context" / "accounts.csv").open() as handle:
        assert {row["account_id"] for row in csv.DictReader(handle)} == set(accounts)
    with (ci.root / "context" / "directory.csv").open() as handle:
        directory = {row["principal"]: row for row in csv.DictReader(handle)}
    services = {r["principal"] for r in ci.records["principal"] if r["scenario"] not in ("engineer",)} - set(
        directory
    )
    for event in ci.events:
        label = ci.labels[event.event_id]
        if isinstance(event, ApiRequest):
            assert label["account_id"] == event.account_id
            account = accounts[event.account_id]
            if label["label"] == "attack":
                assert account["label"] in ("attack", "mixed")
                assert account["campaign_id"] == label["group"] or account["label"] == "mixed"
            else:
                assert account["label"] in ("benign", "mixed")
        elif label["principal"] in directory:  # a person: their IAM user or their Kubernetes user
            person = directory[label["principal"]]
            assert event.principal in (person["arn"], person["k8s_user"])
        else:  # a job: its role's sessions, or its Kubernetes service account
            assert label["principal"] in services
            assert f"/{label['principal']}/" in event.principal or event.principal_type == "serviceaccount"
    for campaign in ci.records["campaign"]:
        assert campaign["accounts"] and all(a in accounts for a in campaign["accounts"])
    for incident in ci.records["incident"]:
        assert all(p in directory for p in incident["principals"])
        if incident["kind"] == "insider_departure":
            assert directory[incident["principals"][0]]["departure_date"]


def test_every_benign_hard_case_and_every_attack_kind_is_present(ci: SimSet) -> None:
    benign = {r["scenario"] for r in ci.labels.values() if r["label"] == "benign"}
    attack = {r["scenario"] for r in ci.labels.values() if r["label"] == "attack"}
    assert benign >= BENIGN_HARD_CASES
    assert attack == ATTACK_KINDS
    kinds = {r["kind"] for r in ci.records["campaign"]} | {r["kind"] for r in ci.records["incident"]}
    assert kinds == ATTACK_KINDS
    assert {r["part"] for r in ci.labels.values() if r["label"] == "attack" and "part" in r} == {
        "payload",
        "filler",
    }


def test_labels_never_leak_into_the_logs(ci: SimSet) -> None:
    words = {r["campaign_id"] for r in ci.records["campaign"]} | {
        r["incident_id"] for r in ci.records["incident"]
    }
    words |= ATTACK_KINDS | {"attack", "benign", "campaign"}
    pattern = re.compile("|".join(re.escape(f'"{w}"') for w in words))
    for path in (ci.root / "logs").rglob("*.json*"):
        if path.suffix != ".gz":
            assert not pattern.search(path.read_text()), f"label words inside {path}"


def test_attack_prompts_share_benign_vocabulary_agents_and_parameters(ci: SimSet) -> None:
    api = [e for e in ci.events if isinstance(e, ApiRequest)]
    is_attack = {e.event_id: ci.labels[e.event_id]["label"] == "attack" for e in api}

    def used_by(attack: bool, predicate: Any) -> bool:
        return any(predicate(e) for e in api if is_attack[e.event_id] == attack)

    for phrase in (
        "step by step",
        "rubric",
        "reasoning",
        "rewrite",
        "<",
        "base64",
        "french",
        "continue",
        "paso a paso",
    ):

        def has(e: ApiRequest, p: str = phrase) -> bool:
            return p in (e.prompt_text or "").lower()

        assert used_by(True, has) and used_by(False, has), phrase
    nonce = re.compile(r"\b[0-9a-f]{6}\b")
    assert used_by(False, lambda e: bool(nonce.search(e.prompt_text or "")))
    for field in ("user_agent", "max_tokens", "temperature", "n", "network_type", "country"):
        attack_values = {getattr(e, field) for e in api if is_attack[e.event_id]} - {None}
        benign_values = {getattr(e, field) for e in api if not is_attack[e.event_id]}
        assert attack_values <= benign_values, (field, attack_values - benign_values)
    assert used_by(False, lambda e: e.logprobs is True)


def test_campaigns_keep_their_promises(ci: SimSet) -> None:
    api = [e for e in ci.events if isinstance(e, ApiRequest)]
    by_campaign: dict[str, list[ApiRequest]] = defaultdict(list)
    for e in api:
        label = ci.labels[e.event_id]
        if label["label"] == "attack":
            by_campaign[label["group"]].append(e)
    # hydra: every account stays under its free-tier daily limit (50) on every day
    per_day = Counter(
        (e.account_id, int((e.ts - ci.records["meta"][0]["start"]) // 86400)) for e in by_campaign["hydra-1"]
    )
    assert max(per_day.values()) < 50 and len({a for a, _ in per_day}) > 100
    # reseller: attack traffic rides the reseller's own account, keys and addresses
    reseller_accounts = {r["account_id"] for r in ci.records["account"] if r["label"] == "mixed"}
    assert {e.account_id for e in by_campaign["reseller-1"]} <= reseller_accounts
    # pivot: most traffic after the release (plus six hours) is on the new model
    release = ci.records["meta"][0]["releases"][0]
    after = [e for e in by_campaign["pivot-1"] if e.ts > release["time"] + 6 * 3600]
    assert after and sum(e.model == release["model"] for e in after) / len(after) > 0.6


def test_incidents_keep_their_promises(ci: SimSet) -> None:
    infra = [e for e in ci.events if isinstance(e, InfraEvent)]
    by_incident: dict[str, list[InfraEvent]] = defaultdict(list)
    for e in infra:
        label = ci.labels[e.event_id]
        if label["label"] == "attack":
            by_incident[label["group"]].append(e)
    stolen = next(r for r in ci.records["incident"] if r["kind"] == "stolen_credential")
    reads = [e for e in by_incident[stolen["incident_id"]] if e.action == "s3:GetObject"]
    shards = {e.resource for e in reads if e.resource and e.resource.endswith(".safetensors")}
    assert (
        len(shards) == stolen["shards_total"] and max(e.ts for e in reads) - min(e.ts for e in reads) < 3600
    )
    assert all(e.network_type == "hosting" and e.credential_id == stolen["credential"] for e in reads)
    slow = next(r for r in ci.records["incident"] if r["kind"] == "low_and_slow")
    slow_reads = [
        e for e in by_incident[slow["incident_id"]] if e.resource and e.resource.endswith(".safetensors")
    ]
    per_day = Counter(int(e.ts // 86400) for e in slow_reads)
    assert slow_reads and max(per_day.values()) <= 4
    benign_bulk = [e for e in infra if ci.labels[e.event_id]["scenario"] in ("training_job", "eval_pipeline")]
    assert sum(1 for e in benign_bulk if e.action == "s3:GetObject") >= stolen["shards_total"]


def test_same_seed_same_bytes_through_the_cli(ci: SimSet, tmp_path: Path) -> None:
    out = tmp_path / "again"
    result = CliRunner().invoke(
        app, ["simulate", "--scale", "ci", "--seed", str(SEED), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["events_total"] == len(ci.events)
    assert digests(out) == digests(ci.root)


def tiny(seed: int, out: Path) -> dict[str, str]:
    config = dataclasses.replace(
        CI,
        days=2,
        release_days=(1.0,),
        people=(PeopleSpec("benign_user", 20, {"casual": 1.0}),),
        classrooms=(),
        eval_harnesses=(),
        synthetic_customers=(),
        rag_apps=(),
        agent_products=(),
        ci_suites=(),
        resellers=(CI.resellers[0],),
        campaigns=CI.campaigns[:2],
        infra=InfraSpec(engineers=4, checkpoints=2),
    )
    simulate(out, config=config, seed=seed)
    return digests(out)


def test_another_seed_gives_other_logs(tmp_path: Path) -> None:
    first, second = tiny(1, tmp_path / "a"), tiny(2, tmp_path / "b")
    assert first.keys() == second.keys()
    assert first["labels.jsonl"] != second["labels.jsonl"]
    assert first["context/ip_intel.csv"] == second["context/ip_intel.csv"]  # the address plan is fixed


def test_refuses_to_write_into_a_used_folder(tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("keep me")
    with pytest.raises(SimulationError, match="not an empty folder"):
        simulate(tmp_path / "used", "ci", 0)
    with pytest.raises(SimulationError, match="unknown scale"):
        simulate(tmp_path / "new", "huge", 0)
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "used")])
    assert result.exit_code == 2 and (tmp_path / "used" / "x").read_text() == "keep me"
