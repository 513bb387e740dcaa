"""The ledger over HTTP: real uvicorn servers on loopback, httpx clients, offline checks of the answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from modeltrace.ledger import statements
from modeltrace.ledger.checkpoint import open_checkpoint
from modeltrace.ledger.entries import sign
from modeltrace.ledger.keys import OrgKey
from modeltrace.ledger.log import Log
from modeltrace.ledger.note import Ed25519Signer
from modeltrace.ledger.policy import parse_policy
from modeltrace.ledger.proofs import verify_consistency, verify_inclusion
from modeltrace.ledger.server import OPERATOR_HEADER, RateLimit, create_app, operator_signature
from modeltrace.ledger.tiles import parse_entry_bundle
from modeltrace.ledger.tlog_proof import verify_tlog_proof
from modeltrace.merkle import leaf_hash
from tests.ledger.logkit import LOG_SEED, ORIGIN, TIME, attestation, org_key

OPERATOR = Ed25519Signer.from_seed("operator.example.org", bytes([7]) * 32)


class Served:
    """A uvicorn server in a thread on an ephemeral loopback port."""

    def __init__(self, app: FastAPI) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def register_body(key: OrgKey) -> bytes:
    return sign(statements.org_key_register(key, time=TIME), key).raw


def register(client: httpx.Client, key: OrgKey) -> httpx.Response:
    body = register_body(key)
    return client.post(
        "/v1/entries", content=body, headers={OPERATOR_HEADER: operator_signature(OPERATOR, body)}
    )


def fresh_log(db: str) -> str:
    Log.init(ORIGIN, db, seed=LOG_SEED).close()
    return db


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    return fresh_log(str(tmp_path / "ledger.db"))


@pytest.fixture
def served(sqlite_db: str) -> Iterator[tuple[Served, httpx.Client]]:
    with (
        Served(create_app(sqlite_db, operator_vkey=OPERATOR.vkey, rate_limit=RateLimit(5, 8))) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield server, client


def _check_receipt(document: dict[str, Any], log_vkey: str) -> None:
    policy = parse_policy(f"log {log_vkey}\nquorum none\n")
    digest = bytes.fromhex(document["leaf_hash"])
    verified = verify_tlog_proof(document["tlog_proof"].encode(), digest, policy, origin=ORIGIN)
    assert verified.index == document["index"]
    verify_inclusion(
        digest,
        document["index"],
        document["size"],
        [bytes.fromhex(h) for h in document["inclusion"]],
        bytes.fromhex(document["root"]),
    )


def test_http_appends_round_trip_and_verify_offline(db_url: str) -> None:
    fresh_log(db_url)
    with Log.open(db_url) as log:
        vkey = log.vkey
    key = org_key()
    with (
        Served(create_app(db_url, operator_vkey=OPERATOR.vkey, batch_ms=5)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        first = register(client, key)
        assert first.status_code == 201, first.text
        assert first.json()["index"] == 0
        bodies = [attestation(n, key).raw for n in range(260)]  # crosses a full 256-wide tile
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda b: client.post("/v1/entries", content=b), bodies))
        assert [r.status_code for r in responses] == [201] * len(bodies)
        documents = [r.json() for r in responses]
        assert sorted(d["index"] for d in documents) == list(range(1, 261))
        for body, document in zip(bodies, documents, strict=True):
            assert document["leaf_hash"] == leaf_hash(body).hex()
            _check_receipt(document, vkey)
        again = client.post("/v1/entries", content=bodies[0])  # a resubmission keeps its index
        assert again.status_code == 200 and again.json()["index"] == documents[0]["index"]

        # public tlog-tiles reads match the store, full tiles are immutable
        checkpoint = client.get("/checkpoint")
        signed = open_checkpoint(checkpoint.content, [Ed25519Signer.from_seed(ORIGIN, LOG_SEED).verifier])
        assert signed.checkpoint.size == 261
        full = client.get("/tile/0/000")
        assert full.status_code == 200 and "immutable" in full.headers["cache-control"]
        partial = client.get("/tile/0/001.p/5")
        assert partial.status_code == 200 and "immutable" not in partial.headers["cache-control"]
        level1 = client.get("/tile/1/000.p/1")
        entries = client.get("/tile/entries/000")
        with Log.open(db_url) as log:
            assert full.content == log.store.tile(0, 0).data  # type: ignore[union-attr]
            assert partial.content == log.store.tile(0, 1).data  # type: ignore[union-attr]
            assert level1.content == log.store.tile(1, 0).data  # type: ignore[union-attr]
            assert parse_entry_bundle(entries.content) == [r.leaf for r in log.store.entries(0, 256)]
        assert client.get("/tile/0/001").status_code == 404  # not full yet
        assert client.get("/tile/0/x999/000").status_code == 404
        assert client.get("/tile/../../etc/passwd").status_code == 404

        # JSON conveniences
        entry = client.get("/v1/entries/5").json()
        assert entry["index"] == 5 and leaf_hash(entry["leaf"].encode()).hex() == entry["leaf_hash"]
        proof_text = client.get("/v1/entries/5.tlog-proof")
        policy = parse_policy(client.get("/v1/policy").text)
        verify_tlog_proof(proof_text.content, bytes.fromhex(entry["leaf_hash"]), policy)
        inclusion = client.get("/v1/proof/inclusion", params={"index": 5, "size": 100}).json()
        consistency = client.get("/v1/proof/consistency", params={"old": 100, "new": 261}).json()
        with Log.open(db_url) as log:
            root100 = log.subtrees(100)
            from modeltrace.ledger.proofs import tree_root

            r100, r261 = tree_root(100, root100), log.state().root
        verify_inclusion(
            bytes.fromhex(entry["leaf_hash"]), 5, 100, [bytes.fromhex(h) for h in inclusion["proof"]], r100
        )
        verify_consistency(100, 261, [bytes.fromhex(h) for h in consistency["proof"]], r100, r261)
        assert [k["kid"] for k in client.get("/v1/keys").json()] == [key.kid]
        assert "/v1/entries" in client.get("/openapi.json").json()["paths"]
    with Log.open(db_url) as log:
        assert log.verify().ok and log.size == 261


def test_unauthorised_submissions_get_403(served: tuple[Served, httpx.Client]) -> None:
    _, client = served
    key, stranger = org_key(), OrgKey.from_seed("other.example", bytes([9]) * 32)
    body = register_body(key)
    assert client.post("/v1/entries", content=body).status_code == 403  # no operator signature
    forged = operator_signature(Ed25519Signer.from_seed("operator.example.org", bytes([8]) * 32), body)
    assert client.post("/v1/entries", content=body, headers={OPERATOR_HEADER: forged}).status_code == 403
    assert client.post("/v1/entries", content=body, headers={OPERATOR_HEADER: "***"}).status_code == 403
    assert register(client, key).status_code == 201
    response = client.post("/v1/entries", content=attestation(1, stranger).raw)
    assert response.status_code == 403 and "error" in response.json()
    # revoked keys may no longer append
    revoke = sign(statements.org_key_revoke(key.org, key.kid, time=TIME), key).raw
    assert client.post("/v1/entries", content=revoke).status_code == 201
    assert client.post("/v1/entries", content=attestation(2, key).raw).status_code == 403


@pytest.fixture
def roomy(sqlite_db: str) -> Iterator[tuple[Served, httpx.Client]]:
    with (
        Served(create_app(sqlite_db, operator_vkey=OPERATOR.vkey, batch_ms=50)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield server, client


def test_bad_signature_is_403_and_spares_its_batch(roomy: tuple[Served, httpx.Client]) -> None:
    _, client = roomy
    key = org_key()
    assert register(client, key).status_code == 201
    good = [attestation(n, key).raw for n in range(3)]
    document = attestation(9, key).raw
    at = document.index(b'"sig":"') + 7
    forged = document[:at] + (b"B" if document[at : at + 1] == b"A" else b"A") + document[at + 1 :]
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda b: client.post("/v1/entries", content=b), [*good, forged]))
    assert [r.status_code for r in responses] == [201, 201, 201, 403]
    # a batch of several leaves in one request (NDJSON)
    batch = b"\n".join(attestation(n, key).raw for n in range(10, 15)) + b"\n"
    response = client.post("/v1/entries", content=batch, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 201, response.text
    entries = response.json()["entries"]
    assert [e["index"] for e in entries] == [4, 5, 6, 7, 8]
    bad = client.post("/v1/entries", content=b"{}\n", headers={"Content-Type": "application/x-ndjson"})
    assert bad.status_code == 400
    # a forged line in a batch: the request says so, and which lines were appended all the same
    mixed = b"\n".join([attestation(20, key).raw, forged, attestation(21, key).raw])
    response = client.post("/v1/entries", content=mixed, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 403 and response.json()["error"].startswith("line 2: ")
    first, refused, last = response.json()["entries"]
    assert refused["status"] == 403 and "index" not in refused
    for document, number in ((first, 20), (last, 21)):
        assert document["leaf_hash"] == leaf_hash(attestation(number, key).raw).hex()
        assert client.get(f"/v1/entries/{document['index']}").status_code == 200


def test_hostile_requests_get_clean_4xx(served: tuple[Served, httpx.Client]) -> None:
    _, client = served
    huge = b"{" + b" " * 20000 + b"}"
    response = client.post("/v1/entries", content=huge)
    assert response.status_code == 413 and "error" in response.json()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while streaming
        for _ in range(100):
            yield b"x" * 1000

    assert client.post("/v1/entries", content=chunks()).status_code == 413
    for body in (b"", b"not json", b"[]", b'{"v":"aiprov/9"}', "\u2603".encode() * 10):
        response = client.post("/v1/entries", content=body)
        assert response.status_code == 400 and "error" in response.json(), body
    for path in ("/v1/entries/abc", "/v1/entries/99999999999999999999999", "/v1/entries/-1"):
        assert client.get(path).status_code in (400, 404), path
    assert client.get("/v1/entries/7").status_code == 404
    assert client.get("/v1/entries/7.tlog-proof").status_code == 404
    assert client.get("/v1/proof/inclusion", params={"index": "x"}).status_code == 422
    assert client.get("/v1/proof/inclusion", params={"index": 3, "size": 2}).status_code == 400
    assert client.get("/v1/proof/consistency", params={"old": 0, "new": 1}).status_code == 400
    assert client.get("/nothing").status_code == 404
    assert client.put("/v1/entries").status_code == 405


def test_rate_limit_per_key_gets_429_with_retry_after(served: tuple[Served, httpx.Client]) -> None:
    _, client = served
    key = org_key()
    assert register(client, key).status_code == 201  # the bucket holds 8 with 5/s refill
    statuses = [client.post("/v1/entries", content=attestation(n, key).raw) for n in range(12)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited and all(int(r.headers["retry-after"]) >= 1 for r in limited)
    assert {r.status_code for r in statuses} == {201, 429}
    other = OrgKey.from_seed("other.example", bytes([9]) * 32)
    assert register(client, other).status_code == 201  # another key has its own bucket
    assert client.post("/v1/entries", content=attestation(1, other).raw).status_code == 201
