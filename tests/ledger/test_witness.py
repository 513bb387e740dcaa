"""The C2SP tlog-witness over real HTTP, and a log gathering a 2-of-3 quorum from three witnesses."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from modeltrace.ledger.bundle import check_bundle
from modeltrace.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from modeltrace.ledger.cli import app as ledger_app
from modeltrace.ledger.errors import QuorumError
from modeltrace.ledger.log import Log
from modeltrace.ledger.note import CosignatureSigner, Ed25519Signer, parse_note
from modeltrace.ledger.policy import parse_policy
from modeltrace.ledger.proofs import InMemoryTree
from modeltrace.ledger.server import create_app
from modeltrace.ledger.tlog_proof import verify_tlog_proof
from modeltrace.ledger.witness import SIZE_MEDIA_TYPE, Witness, create_witness_app, load_signer
from modeltrace.ledger.witness_client import WitnessClient, add_checkpoint_body
from modeltrace.merkle import leaf_hash
from tests.ledger.logkit import LOG_SEED, ORIGIN, TIME, attestation, new_log, org_key
from tests.ledger.test_server import OPERATOR, Served, fresh_log, register

LOG = Ed25519Signer.from_seed(ORIGIN, LOG_SEED)


def witness_key(number: int) -> CosignatureSigner:
    return CosignatureSigner.from_seed(f"w{number}.example", bytes([40 + number]) * 32, clock=lambda: TIME)


class Tree:
    """A log's tree kept in memory, signing checkpoints with the log key."""

    def __init__(self, signer: Ed25519Signer = LOG) -> None:
        self.signer = signer
        self.tree = InMemoryTree()

    def grow(self, count: int, salt: bytes = b"") -> None:
        for _ in range(count):
            self.tree.append(leaf_hash(salt + b"leaf %d" % self.tree.size))

    def note(self, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        checkpoint = Checkpoint(self.signer.name, size, self.tree.root(size))
        return sign_checkpoint(checkpoint, self.signer).to_bytes()

    def body(self, old: int, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        proof = self.tree.consistency_proof(old, size) if 0 < old < size else []
        return add_checkpoint_body(old, proof, self.note(size))


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[tuple[Witness, httpx.Client]]:
    state = Witness(tmp_path / "w", witness_key(0), [LOG.vkey])
    with Served(create_witness_app(state)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield state, client
    state.close()


def post(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post("/add-checkpoint", content=body)


def test_consistent_checkpoints_are_cosigned_with_only_the_cosignature(
    witness: tuple[Witness, httpx.Client],
) -> None:
    state, client = witness
    tree = Tree()
    assert post(client, tree.body(0)).status_code == 200  # size 0, the empty root
    tree.grow(5)
    response = post(client, tree.body(0))
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("\u2014 w0.example ")
    cosigned = tree.note() + response.content  # the log appends the lines to its note
    signed = open_checkpoint(cosigned, [LOG.verifier], [witness_key(0).verifier])
    assert [c.timestamp for c in signed.cosignatures] == [TIME]
    tree.grow(1000)
    assert post(client, tree.body(5)).status_code == 200  # from the last cosigned size, with a proof
    assert post(client, tree.body(1005)).status_code == 200  # same size, same root: cosigned again
    assert state.latest(ORIGIN) is not None and state.latest(ORIGIN)[0] == 1005  # type: ignore[index]
    assert state.evidence() == []
    hashed = __import__("hashlib").sha256(ORIGIN.encode()).hexdigest()
    monitored = client.get(f"/{hashed}/checkpoint")
    assert monitored.status_code == 200 and monitored.content.startswith(tree.note()[:-1].split(b"\n\n")[0])


def test_status_codes_per_tlog_witness(witness: tuple[Witness, httpx.Client]) -> None:
    state, client = witness
    tree = Tree()
    tree.grow(8)
    assert post(client, tree.body(0)).status_code == 200
    tree.grow(4)
    stale = post(client, tree.body(3))
    assert stale.status_code == 409 and stale.text == "8\n"
    assert stale.headers["content-type"] == SIZE_MEDIA_TYPE
    assert post(client, tree.body(20, 12)).status_code == 400  # old > size
    stranger = Tree(Ed25519Signer.from_seed("other.example/log", bytes([3]) * 32))
    stranger.grow(2)
    assert post(client, stranger.body(0)).status_code == 404  # unknown origin
    impostor = Tree(Ed25519Signer.from_seed(ORIGIN, bytes([5]) * 32))  # same name, another key
    impostor.grow(12)
    assert post(client, impostor.body(8)).status_code == 403
    note = tree.note()
    forged = note[:-10] + (b"A" if note[-10:-9] != b"A" else b"B") + note[-9:]  # the log's line, broken
    assert post(client, add_checkpoint_body(8, tree.tree.consistency_proof(8, 12), forged)).status_code == 403
    bad_proof = [bytes(32)] * len(tree.tree.consistency_proof(8, 12))
    assert post(client, add_checkpoint_body(8, bad_proof, tree.note())).status_code == 422
    assert post(client, add_checkpoint_body(8, [], tree.note())).status_code == 422
    for garbage in (b"", b"old x\n\n" + note, b"old 8\nnot-base64!\n\n" + note, b"old 08\n\n" + note, note):
        assert post(client, garbage).status_code == 400, garbage
    assert post(client, b"x" * 70000).status_code == 413
    assert state.latest(ORIGIN)[0] == 8  # type: ignore[index]  # nothing rejected moved the state
    assert {e.status for e in state.evidence(ORIGIN)} == {400, 409, 422}


def test_size_zero_rules(tmp_path: Path) -> None:
    state = Witness(tmp_path / "w", witness_key(0), [LOG.vkey])
    try:
        tree = Tree()
        wrong = sign_checkpoint(Checkpoint(ORIGIN, 0, bytes(32)), LOG).to_bytes()
        assert state.add_checkpoint(add_checkpoint_body(0, [], wrong)).status == 422
        tree.grow(3)
        assert state.add_checkpoint(add_checkpoint_body(0, [bytes(32)], tree.note())).status == 422
        assert state.add_checkpoint(tree.body(0)).status == 200
    finally:
        state.close()


def test_same_size_different_root_is_422_without_cosignature_and_kept(
    witness: tuple[Witness, httpx.Client],
) -> None:
    state, client = witness
    honest, fork = Tree(), Tree()
    honest.grow(10)
    fork.grow(10, salt=b"fork ")
    assert post(client, honest.body(0)).status_code == 200
    response = post(client, fork.body(10))
    assert response.status_code == 422 and "\u2014" not in response.text
    [evidence] = state.evidence(ORIGIN)
    assert evidence.status == 422 and fork.note() in evidence.body
    assert state.latest(ORIGIN)[1] == honest.tree.root()  # type: ignore[index]


def _send(client: httpx.Client, barrier: threading.Barrier, body: bytes, statuses: list[int]) -> None:
    barrier.wait()
    statuses.append(post(client, body).status_code)


def test_two_concurrent_requests_exactly_one_wins(witness: tuple[Witness, httpx.Client]) -> None:
    state, client = witness
    tree = Tree()
    tree.grow(4)
    assert post(client, tree.body(0)).status_code == 200
    for round_ in range(5):
        old = tree.tree.size
        tree.grow(3)
        bodies = [tree.body(old, old + 2), tree.body(old, old + 3)]
        barrier = threading.Barrier(2)
        statuses: list[int] = []
        threads = [threading.Thread(target=_send, args=(client, barrier, b, statuses)) for b in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200, 409], (round_, statuses)
        won = state.latest(ORIGIN)[0]  # type: ignore[index]
        assert won in (old + 2, old + 3)
        assert post(client, tree.body(won)).status_code == 200  # catch up to the tree's end


def test_restarted_witness_keeps_its_state(tmp_path: Path) -> None:
    key_file = tmp_path / "witness.key"
    key_file.write_text(witness_key(0).skey() + "\n")
    tree = Tree()
    tree.grow(7)
    first = Witness(tmp_path / "state", load_signer(key_file), [LOG.vkey])
    with Served(create_witness_app(first)) as server, httpx.Client(base_url=server.url) as client:
        assert post(client, tree.body(0)).status_code == 200
    first.close()
    second = Witness(tmp_path / "state", load_signer(key_file))  # the log list is kept too
    try:
        with Served(create_witness_app(second)) as server, httpx.Client(base_url=server.url) as client:
            again = post(client, tree.body(0))
            assert again.status_code == 409 and again.text == "7\n"
            tree.grow(2)
            assert post(client, tree.body(7)).status_code == 200
    finally:
        second.close()


def _witness_servers(tmp_path: Path, count: int) -> tuple[list[Witness], list[Served]]:
    states = [Witness(tmp_path / f"w{i}", witness_key(i), [LOG.vkey]) for i in range(count)]
    return states, [Served(create_witness_app(s, prefix="/w")) for s in states]


def _policy(servers: list[Served]) -> str:
    lines = [f"log {LOG.vkey}\n"]
    lines += [f"witness w{i} {witness_key(i).vkey} {s.url}/w\n" for i, s in enumerate(servers)]
    return "".join(lines) + "group two 2 w0 w1 w2\nquorum two\n"


def test_two_of_three_quorum_over_http_and_offline_bundle_check(tmp_path: Path) -> None:
    states, servers = _witness_servers(tmp_path, 3)
    db = fresh_log(str(tmp_path / "ledger.db"))
    try:
        policy_text = _policy(servers)
        policy = parse_policy(policy_text)
        proofs = Log.open(db)
        client = WitnessClient(policy, proofs.consistency_proof)
        app = create_app(db, operator_vkey=OPERATOR.vkey, cosign=client, policy_text=policy_text)
        key = org_key()
        with Served(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            assert register(http, key).status_code == 201
            documents = [http.post("/v1/entries", content=attestation(n, key).raw).json() for n in range(5)]
            servers[2].stop()  # one witness down: 2 of 3 still make the quorum
            documents.append(http.post("/v1/entries", content=attestation(99, key).raw).json())
            for document in documents:
                verified = verify_tlog_proof(
                    document["tlog_proof"].encode(), bytes.fromhex(document["leaf_hash"]), policy, now=TIME
                )
                assert len(verified.witnesses) >= 2
            with Log.open(db) as reader:  # a bundle under the latest, witnessed checkpoint
                bundle = reader.prove(documents[-1]["index"])
            servers[1].stop()  # now only one: the entry is durable but not witnessed
            lonely = http.post("/v1/entries", content=attestation(100, key).raw)
            assert lonely.status_code == 201 and "w0.example" not in lonely.json()["checkpoint"]
            assert client.last_error is not None
            # tlog-proofs served later use the latest checkpoint that met the quorum, not the latest
            served = http.get(f"/v1/entries/{documents[-1]['index']}.tlog-proof")
            assert served.status_code == 200, served.text
            digest = bytes.fromhex(documents[-1]["leaf_hash"])
            assert verify_tlog_proof(served.content, digest, policy, now=TIME).checkpoint.checkpoint.size == 7
            unwitnessed = http.get(f"/v1/entries/{lonely.json()['index']}.tlog-proof")
            assert unwitnessed.status_code == 404 and "quorum" in unwitnessed.json()["error"]
        proofs.close()
        client.close()
        with Log.open(db) as log:
            assert log.verify().ok and log.size == 8
        bundle_path, policy_path = tmp_path / "bundle.json", tmp_path / "policy.txt"
        bundle_path.write_bytes(bundle.to_bytes())
        policy_path.write_text(policy_text)
        result = CliRunner().invoke(
            ledger_app, ["check", str(bundle_path), "--policy", str(policy_path), "--now", str(TIME)]
        )
        assert result.exit_code == 0, result.output
        strict = policy_text.replace("group two 2", "group two 3")
        policy_path.write_text(strict)
        result = CliRunner().invoke(
            ledger_app, ["check", str(bundle_path), "--policy", str(policy_path), "--now", str(TIME)]
        )
        assert result.exit_code == 1
    finally:
        for server in servers:
            server.stop()
        for state in states:
            state.close()


def test_client_catches_a_lagging_witness_up_from_its_409(tmp_path: Path) -> None:
    states, servers = _witness_servers(tmp_path, 3)
    try:
        policy = parse_policy(_policy(servers))
        with new_log(str(tmp_path / "ledger.db")) as log:
            client = WitnessClient(policy, log.consistency_proof)
            log.cosign = client
            log.append([attestation(1)])
            client.known["w1"] = 0  # forget: the next request gets a 409 with the real size
            log.append([attestation(2), attestation(3)])
            note = log.published_checkpoint()
            signed = open_checkpoint(note, [log.verifier], [witness_key(i).verifier for i in range(3)])
            assert len(signed.cosignatures) >= 2
            assert len(parse_note(note).signatures) >= 3
            client.close()  # waits for stragglers
            assert client.known == {"w0": 4, "w1": 4, "w2": 4}
    finally:
        for server in servers:
            server.stop()
        for state in states:
            state.close()


def _cosigned_by(witness: Witness, note: bytes) -> bytes:
    """``note`` with ``witness``'s cosignature line, from the real witness logic (no HTTP)."""
    answer = witness.add_checkpoint(add_checkpoint_body(0, [], note))
    assert answer.status == 200, answer.body
    return note + answer.body


def test_published_checkpoint_is_one_keyed_lookup(db_url: str, tmp_path: Path) -> None:
    # GET /checkpoint serves this on every poll: it must not read every checkpoint the log ever signed.
    with new_log(db_url) as log:
        for number in range(30):
            log.append([attestation(number)])  # a checkpoint per batch: 31 rows
        state = log.state()
        assert log.published_checkpoint() == state.checkpoint  # no cosignatures yet
        witness = Witness(tmp_path / "w", witness_key(0), [LOG.vkey])
        try:
            cosigned = _cosigned_by(witness, state.checkpoint)
        finally:
            witness.close()
        log.store.add_cosigned(state.size, cosigned)
        assert log.published_checkpoint() == cosigned
        if db_url.startswith("postgresql://"):
            return
        connection = sqlite3.connect(db_url)
        statements: list[str] = []
        log.store._connect().set_trace_callback(statements.append)  # type: ignore[attr-defined]
        try:
            assert log.published_checkpoint(state) == cosigned
        finally:
            log.store._connect().set_trace_callback(None)  # type: ignore[attr-defined]
        touching = [sql for sql in statements if "checkpoints" in sql]
        assert len(touching) == 1, statements
        plan = " ".join(str(row) for row in connection.execute("EXPLAIN QUERY PLAN " + touching[0]))
        connection.close()
        assert "SEARCH" in plan and "SCAN" not in plan, plan


def test_prove_with_a_policy_uses_the_latest_witnessed_checkpoint(db_url: str, tmp_path: Path) -> None:
    states, servers = _witness_servers(tmp_path, 3)
    try:
        policy_text = _policy(servers)
        policy = parse_policy(policy_text)
        with new_log(db_url) as log:
            client = WitnessClient(policy, log.consistency_proof)
            log.cosign = client
            witnessed = log.append([attestation(1), attestation(2)])  # size 3, cosigned by a quorum
            servers[1].stop()
            servers[2].stop()
            late = log.append([attestation(3)])  # size 4: one witness left, durable but unwitnessed
            assert client.last_error is not None and log.size == 4
            client.close()
            # Without a policy, prove still takes the latest checkpoint, which the policy rejects.
            with pytest.raises(QuorumError):
                check_bundle(log.prove(witnessed[0].index), policy, now=TIME)
            bundle = log.prove(witnessed[0].index, policy=policy, now=TIME)
            checked = check_bundle(bundle, policy, now=TIME)
            assert checked.entry.proof.checkpoint.checkpoint.size == 3
            with pytest.raises(QuorumError, match="no checkpoint covering entry 3 is cosigned"):
                log.prove(late[0].index, policy=policy, now=TIME)
        policy_path, out = tmp_path / "policy.txt", tmp_path / "bundle.json"
        policy_path.write_text(policy_text)
        runner = CliRunner()
        prove = ["prove", "--out", str(out), "--policy", str(policy_path), "--db", db_url]
        result = runner.invoke(ledger_app, [*prove[:1], str(witnessed[0].index), *prove[1:]])
        assert result.exit_code == 0, result.output
        checked_cli = runner.invoke(ledger_app, ["check", str(out), "--policy", str(policy_path)])
        assert checked_cli.exit_code == 0, checked_cli.output
        result = runner.invoke(ledger_app, [*prove[:1], str(late[0].index), *prove[1:]])
        assert result.exit_code == 2
        assert "no checkpoint covering entry 3 is cosigned to the policy's quorum 'two'" in result.stderr
        assert result.stderr.count("\n") == 1
    finally:
        for server in servers:
            server.stop()
        for state in states:
            state.close()
