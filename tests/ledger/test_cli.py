"""``modeltrace ledger`` end to end: every command, its ``--json``, exit codes and one-line errors."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modeltrace.ledger.cli import app
from tests.ledger.logkit import tiny_model

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def ledger(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result.stdout if code == 0 else result.stderr


def as_json(*args: str) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(ledger(*args, "--json"))
    return parsed


def test_the_whole_workflow(db_url: str, tmp_path: Path) -> None:
    db = ["--db", db_url]
    key, policy = tmp_path / "org.key", tmp_path / "policy.txt"
    assert as_json("init", "--origin", "example.org/training-log", "--policy-out", str(policy), *db)["vkey"]
    ledger("key", "add", "--org", "example.org", "--out", str(key), "--contact", "legal@example.org", *db)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha")
    (data / "sub" / "b.txt").write_text("beta")
    (data / ".git").mkdir()
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"sources": ["forum.example"], "issuer": "Example Org"}))
    k = ["--key", str(key)]
    dataset = as_json(
        "add",
        "dataset",
        str(data),
        *k,
        "--license",
        "CC-BY-4.0 OR MIT",
        "--origin-geo",
        "DE,FR",
        "--storage-geo",
        "IE",
        "--consent-ref",
        "CR-9",
        "--method",
        "licensed",
        "--meta",
        str(meta),
        "--confidential",
        "storage_geography",
        "--mining",
        "cawg.ai_training=allowed",
        *db,
    )
    assert dataset["index"] == 1
    config = tmp_path / "config.yaml"
    config.write_text("lr: 0.0003\n")
    order = tmp_path / "order.txt"
    order.write_text("3\n1\n2\n")
    run = as_json(
        "add",
        "run-start",
        *k,
        "--run-id",
        "r1",
        "--code-commit",
        "a" * 40,
        "--seed",
        "1234",
        "--dataset",
        "1",
        "--config",
        str(config),
        "--data-order",
        str(order),
        "--compute",
        "8xH100",
        *db,
    )
    model = tiny_model(tmp_path / "model")
    checkpoint = as_json(
        "add", "checkpoint", str(model), *k, "--run", str(run["index"]), "--step", "100", *db
    )
    as_json(
        "add",
        "run-end",
        *k,
        "--run",
        "2",
        "--final",
        str(checkpoint["index"]),
        "--steps",
        "100",
        "--gpu-hours",
        "3.5",
        *db,
    )
    release = as_json(
        "add",
        "release",
        *k,
        "--checkpoint",
        "3",
        "--purl",
        "pkg:huggingface/example/tiny@1",
        "--license",
        "Apache-2.0",
        *db,
    )
    access = tmp_path / "access.jsonl"
    access.write_text(
        '{"time": 1767225600, "actor": "alice@example.com", "artifact": "pkg:huggingface/example/tiny@1", '
        '"country": "DE", "purpose": "research"}\n'
    )
    batch = as_json("add", "access-batch", str(access), *k, *db)
    statement = tmp_path / "statement.json"
    statement.write_text(
        json.dumps(
            {
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "x", "digest": {"sha256": "ab" * 32}}],
                "predicateType": "https://example.org/eval/v1",
                "predicate": {},
            }
        )
    )
    attested = as_json("add", "attestation", str(statement), *k, *db)
    as_json("add", "correction", *k, "--target", "1", "--reason", "licence typo", "--details", "was MIT", *db)

    report = as_json("verify", "--evidence", *db)
    assert report["ok"] is True and report["entries"] == 9
    assert "ok" in ledger("verify", *db)
    listed = json.loads(ledger("log", "--json", *db))
    assert [item["type"] for item in listed][:3] == ["org.key", "dataset.manifest", "training.run.start"]
    found = json.loads(ledger("search", "--type", "checkpoint", "--json", *db))
    assert [item["index"] for item in found] == [3]
    assert (
        json.loads(ledger("search", "--subject", "sha256:" + "ab" * 32, "--json", *db))[0]["index"]
        == attested["index"]
    )
    shown = as_json("show", "1", *db)
    assert shown["annotations"] and "storage_geography" in shown["leaf"]["commit"]["fields"]  # type: ignore[index]
    # the withheld value as a JSON string: bare "IE" also turns up by chance inside base64 (~2 % of runs)
    assert '"IE"' not in json.dumps(shown["leaf"])
    assert "dataset.manifest" in ledger("show", "1", *db)
    assert as_json("disclose", "1", "storage_geography", *db)["value"] == ["IE"]
    assert as_json("disclose", str(batch["index"]), "record:0", *db)["value"]["country"] == "DE"  # type: ignore[index]

    bundle = tmp_path / "bundle.json"
    ledger(
        "prove", "1", "--out", str(bundle), "--disclose", "consent_ref", "--disclose", "file:sub/b.txt", *db
    )
    checked = as_json("check", str(bundle), "--policy", str(policy))
    assert checked["ok"] is True and checked["disclosed"]["consent_ref"] == "CR-9"  # type: ignore[index]
    assert "ok entry 1" in ledger("check", str(bundle), "--policy", str(policy))
    document = json.loads(bundle.read_text())
    document["entry"] = document["entry"].replace("index 1\n", "index 2\n")
    bundle.write_text(json.dumps(document))
    error = ledger("check", str(bundle), "--policy", str(policy), code=1)
    assert error.startswith(f"error: {bundle}:") and error.count("\n") == 1

    for fmt in ("slsa", "intoto-release", "cyclonedx", "spdx", "oms"):
        out = tmp_path / f"{fmt}.json"
        ledger("export", str(release["index"]), "--format", fmt, "--out", str(out), *db)
        assert json.loads(out.read_text())
    assert ledger("policy", *db).startswith("log example.org/training-log+")

    rotated = tmp_path / "org2.key"
    ledger("key", "rotate", *k, "--out", str(rotated), *db)
    # A new statement: resubmitting the one already logged would (rightly) return its receipt, if
    # the clock has not moved on to another second since, instead of testing the superseded key.
    statement.write_text(statement.read_text().replace("eval/v1", "eval/v2"))
    error = ledger("add", "attestation", str(statement), *k, *db, code=2)
    assert "superseded" in error and error.count("\n") == 1
    keys = json.loads(ledger("key", "list", "--json", *db))
    assert [item["status"] for item in keys] == ["superseded", "active"]
    ledger("shred", "1", "consent_ref", *db)
    ledger("disclose", "1", "consent_ref", *db, code=2)
    assert as_json("verify", "--evidence", *db)["ok"] is True


def test_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "ledger.db")]
    assert ledger("verify", *db, code=2).startswith("error: ")
    ledger("init", "--origin", "example.org/log", *db)
    ledger("init", "--origin", "example.org/log", *db, code=2)
    key = tmp_path / "k"
    ledger("key", "add", "--org", "Not A Domain", "--out", str(key), *db, code=2)
    ledger("key", "add", "--org", "example.org", "--out", str(key), *db)
    message = ledger("key", "add", "--org", "example.org", "--out", str(key), *db, code=2)
    assert "refusing to overwrite" in message
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"time": 1, "actor": "a", "artifact": "x", "country": "UK", "purpose": "p"}\n')
    message = ledger("add", "access-batch", str(bad), "--key", str(key), *db, code=2)
    assert message == f"error: {bad}:1: 'UK' is not an ISO 3166-1 alpha-2 (or 3166-2) code\n"
    data = tmp_path / "d"
    data.mkdir()
    (data / "f").write_text("x")
    message = ledger(
        "add", "dataset", str(data), "--key", str(key), "--license", "mit or apache", *db, code=2
    )
    assert "must be upper case" in message and message.count("\n") == 1
    assert "no entry 99" in ledger("show", "99", *db, code=2)
    assert "unknown export format" in ledger("export", "0", "--format", "xml", *db, code=2)


def test_verify_exits_1_on_tampering_in_a_real_subprocess(tmp_path: Path) -> None:
    db = str(tmp_path / "ledger.db")
    ledger("init", "--origin", "example.org/log", "--db", db)
    ledger("key", "add", "--org", "example.org", "--out", str(tmp_path / "k"), "--db", db)
    import sqlite3

    connection = sqlite3.connect(db)
    connection.execute("UPDATE tiles SET data = zeroblob(32)")
    connection.commit()
    connection.close()
    command = [sys.executable, "-c", "from modeltrace.ledger.cli import app; app()", "verify", "--db", db]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
    assert result.returncode == 1
    assert "stored hashes do not match" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["add", "--help"], ["key", "--help"]])
def test_help(args: list[str]) -> None:
    assert "Usage" in ledger(*args)
