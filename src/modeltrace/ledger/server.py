"""``modeltrace ledger serve``: the log over HTTP (FastAPI), appends authenticated by the organisation.

Writes
    ``POST /v1/entries`` — the body is one signed ``aiprov/1`` leaf (JCS JSON, at most
    :data:`MAX_BODY_BYTES`, else 413), or with ``Content-Type: application/x-ndjson`` up to 256 leaves,
    one per line (answered ``{"entries": [...]}``, one receipt per line). Before queueing: canonical
    leaf, signed by a key the log has registered and not revoked (an ``org.key`` *register* must instead
    carry the operator's Ed25519 signature over the body in ``X-Modeltrace-Operator-Signature``,
    base64), per-key token-bucket rate limit per leaf (429 + ``Retry-After``). Every leaf's signature
    is verified by the log inside the append transaction; a statement failing it is answered 403 and
    the rest of its batch is still appended (an NDJSON request then gets the first failing line's status
    with ``{"error", "entries"}``, where a refused line is ``{"error", "status"}``). A
    :class:`Sequencer` thread collects concurrent submissions, single leaves and NDJSON batches alike,
    for at most ``batch_ms`` or :data:`MAX_SEQUENCER_BATCH` entries and appends them in one durable
    transaction (:meth:`Log.append`, group commit); each request is answered after the commit with 201
    ``{index, leaf_hash, checkpoint, inclusion, tlog_proof}`` (200 for a statement the log already
    holds). With witnesses (``cosign``), the log's cosign hook gathers the quorum before the answer, so
    the returned checkpoint and tlog-proof carry the cosignatures. ``POST /v1/entries`` is served ahead
    of the framework's middleware (:class:`LedgerApp`): the per-request overhead decides the rate.

Reads (public, cacheable; C2SP tlog-tiles)
    ``/checkpoint``, ``/tile/<L>/<N>[.p/<W>]``, ``/tile/entries/<N>[.p/<W>]`` (full tiles are immutable:
    ``Cache-Control: public, max-age=31536000, immutable``) and JSON conveniences ``/v1/entries/<i>``,
    ``/v1/entries/<i>.tlog-proof``, ``/v1/proof/inclusion?index=&size=``,
    ``/v1/proof/consistency?old=&new=``, ``/v1/policy``, ``/v1/keys``. Reads use their own database
    connection, so they never wait for a write transaction. With a witness quorum in the policy, a
    ``.tlog-proof`` is against the latest checkpoint that met it (404 until one covers the entry).

Hostile input gets a JSON ``{"error": …}`` with a 4xx status; an unexpected failure is a bare 500 JSON
without a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from modeltrace.ledger.entries import Leaf, parse_leaf
from modeltrace.ledger.errors import FormatError, LedgerError, MissingTileError, ProofError, QuorumError
from modeltrace.ledger.keys import ACTIVE, KeyRecord, KeyRegistry, org_of_kid
from modeltrace.ledger.log import CosignHook, Log, Receipt
from modeltrace.ledger.log_errors import EntryError, KeyStateError, NotFoundError, StoreError
from modeltrace.ledger.note import Ed25519Verifier, parse_vkey
from modeltrace.ledger.policy import parse_policy
from modeltrace.ledger.tlog_proof import format_tlog_proof

MAX_BODY_BYTES = 8192  # a leaf is at most 4 KiB; twice that leaves room for nothing else
MAX_SEQUENCER_BATCH = 256
OPERATOR_HEADER = "x-modeltrace-operator-signature"
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/jsonlines")
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=1"
JSON_ERRORS: dict[type[LedgerError], int] = {NotFoundError: 404, KeyStateError: 403}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per signing key: ``burst`` submissions at once, refilled at ``per_second``."""

    per_second: float = 1000.0
    burst: int = 2000


class _Buckets:
    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, count: int = 1) -> float:
        """0 when ``count`` tokens were taken; else the seconds until they will be available."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - stamp) * self.limit.per_second)
            if tokens >= count:
                self._buckets[key] = (tokens - count, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (count - tokens) / self.limit.per_second if self.limit.per_second > 0 else 3600.0


Outcome = tuple[Receipt, bytes] | Exception
"""What became of one submitted leaf: its receipt and the (cosigned) checkpoint note, or the error."""


@dataclass
class _Job:
    """One request's leaves; answered all at once on the request's event loop after the commit."""

    leaves: list[Leaf]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Outcome]]


def _resolve(answers: list[tuple[asyncio.Future[list[Outcome]], list[Outcome]]]) -> None:
    for future, outcomes in answers:
        if not future.done():  # the request may have been cancelled (client gone)
            future.set_result(outcomes)


class Sequencer:
    """One writer thread: group-commits concurrent submissions into single :meth:`Log.append` transactions.

    A request's leaves travel as one job, and a whole batch is answered with one wake-up of each event
    loop (``call_soon_threadsafe``), not one future and wake-up per leaf: the server's Python runs on
    one core (the GIL), and at thousands of leaves a second every per-leaf step shows.
    """

    def __init__(self, log: Log, *, batch_ms: float = 10.0, max_batch: int = MAX_SEQUENCER_BATCH) -> None:
        self.log = log
        self.batch_seconds = batch_ms / 1000.0
        self.max_batch = max_batch
        # SimpleQueue: a C queue without the Condition dance of queue.Queue, per request on the hot path.
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._cosigned: bytes | None = None
        self._thread = threading.Thread(target=self._run, name="ledger-sequencer", daemon=True)
        self.batches = 0
        if log.cosign is not None:
            hook = log.cosign

            def remember(note: bytes, old: int, proof: Sequence[bytes]) -> bytes | None:
                cosigned = hook(note, old, proof)
                self._cosigned = cosigned
                return cosigned

            log.cosign = remember
        self._thread.start()

    def submit(self, leaves: list[Leaf]) -> asyncio.Future[list[Outcome]]:
        """Queue ``leaves`` (call from the event loop); the future gets one outcome per leaf, in order."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Outcome]] = loop.create_future()
        self._queue.put(_Job(leaves, loop, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs, count = [first], len(first.leaves)
        deadline = time.monotonic() + self.batch_seconds
        while count < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            count += len(job.leaves)
        return jobs, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            jobs, stop = self._collect(first)
            leaves = [leaf for job in jobs for leaf in job.leaves]
            try:
                try:
                    outcomes = self._append(leaves)
                except LedgerError:
                    outcomes = self._salvage(leaves)
            except Exception as error:  # answered to every request of the batch; the thread goes on
                outcomes = [error] * len(leaves)
            except BaseException:
                self._answer(jobs, [ApiError(500, "internal error")] * len(leaves))
                raise
            self._answer(jobs, outcomes)

    @staticmethod
    def _answer(jobs: list[_Job], outcomes: list[Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[list[Outcome]], list[Outcome]]]]
        by_loop = {}
        position = 0
        for job in jobs:
            answer = outcomes[position : position + len(job.leaves)]
            position += len(job.leaves)
            by_loop.setdefault(job.loop, []).append((job.future, answer))
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting
                loop.call_soon_threadsafe(_resolve, answers)

    def _salvage(self, leaves: list[Leaf]) -> list[Outcome]:
        """One bad statement failed the batch: answer the bad ones, append the rest together, else singly."""
        registry = KeyRegistry(self.log.store.key_records())
        outcomes: list[Outcome | None] = [None] * len(leaves)
        survivors: list[int] = []
        for position, leaf in enumerate(leaves):
            if leaf.type != "org.key":
                record = registry.get(leaf.kid)
                if record is None or record.status != ACTIVE:
                    outcomes[position] = ApiError(403, f"key {leaf.kid} is not active in this log")
                    continue
                if not record.verifier.verify(leaf.signed_message, leaf.sig):
                    outcomes[position] = ApiError(403, "the signature does not verify under the key")
                    continue
            survivors.append(position)
        if survivors:
            try:
                appended = self._append([leaves[i] for i in survivors])
                for position, outcome in zip(survivors, appended, strict=True):
                    outcomes[position] = outcome
            except LedgerError:
                for position in survivors:
                    try:
                        outcomes[position] = self._append([leaves[position]])[0]
                    except Exception as error:  # answered to its request, never fatal here
                        outcomes[position] = error
        return [outcome if outcome is not None else ApiError(500, "internal error") for outcome in outcomes]

    def _append(self, leaves: list[Leaf]) -> list[Outcome]:
        self._cosigned = None
        receipts = self.log.append(leaves)
        self.batches += 1
        cosigned = self._cosigned
        return [
            (receipt, cosigned if cosigned is not None and not receipt.duplicate else receipt.checkpoint)
            for receipt in receipts
        ]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _parse_index(text: str, what: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise ApiError(400, f"{what} must be a non-negative decimal integer")
    return int(text)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad Content-Length")
        if int(declared) > limit:
            raise ApiError(413, f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _Keys:
    """The registry as the server last read it: checked before queueing, re-read after key changes."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self._lock = threading.Lock()
        self.records: dict[str, KeyRecord] = {}
        self.refresh()

    def refresh(self) -> None:
        records = {record.kid: record for record in self.log.store.key_records()}
        with self._lock:
            self.records = records

    def active(self, kid: str) -> KeyRecord | None:
        record = self.records.get(kid)
        if record is None:
            self.refresh()
            record = self.records.get(kid)
        return record if record is not None and record.status == ACTIVE else None


def create_app(
    log_db: str | Path,
    *,
    operator_vkey: str | None = None,
    cosign: CosignHook | None = None,
    policy_text: str | None = None,
    max_body: int = MAX_BODY_BYTES,
    rate_limit: RateLimit | None = None,
    batch_ms: float = 10.0,
    max_batch: int = MAX_SEQUENCER_BATCH,
    verify_early: bool = False,
) -> FastAPI:
    """The ledger HTTP API over the log at ``log_db`` (which must exist; this process becomes its writer).

    ``operator_vkey`` (an Ed25519 vkey) is the only key that may authorise ``org.key`` registrations;
    without it, registrations over HTTP are refused. ``cosign`` is installed as the log's cosign hook
    (see :mod:`.witness_client`); ``policy_text`` is what ``/v1/policy`` serves (default: the log's
    own policy, no witnesses). Signatures are verified by the log inside the append transaction;
    ``verify_early`` also verifies them before queueing (costs a second verification per entry).
    """
    # With witnesses, a tlog-proof is served against the latest checkpoint that meets the served
    # policy's quorum: one against a checkpoint whose witnesses were unreachable would not verify.
    served_policy = parse_policy(policy_text) if policy_text is not None else None
    if served_policy is not None and served_policy.quorum == "none":
        served_policy = None
    operator: Ed25519Verifier | None = None
    if operator_vkey is not None:
        parsed = parse_vkey(operator_vkey)
        if not isinstance(parsed, Ed25519Verifier):
            raise FormatError("operator key", "must be an Ed25519 (type 0x01) vkey")
        operator = parsed
    buckets = _Buckets(rate_limit or RateLimit())
    holder: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        writer = Log.open(log_db)
        writer.store.acquire_writer()
        reader = Log.open(log_db)
        writer.cosign = cosign
        holder.update(
            writer=writer,
            reader=reader,
            keys=_Keys(reader),
            sequencer=Sequencer(writer, batch_ms=batch_ms, max_batch=max_batch),
        )
        try:
            yield
        finally:
            holder["sequencer"].close()
            writer.close()
            reader.close()

    app = LedgerApp(
        title="modeltrace ledger",
        version="1",
        description="A witnessed transparency log of AI training provenance (C2SP tlog-tiles reads).",
        lifespan=lifespan,
    )

    def reader() -> Log:
        log: Log = holder["reader"]
        return log

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, error.message, error.headers)

    @app.exception_handler(LedgerError)
    async def ledger_error(_: Request, error: LedgerError) -> JSONResponse:
        return _error(JSON_ERRORS.get(type(error), 400), str(error))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid request parameters")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def internal_error(_: Request, error: Exception) -> JSONResponse:
        return _error(500, "internal error")

    # -- writes ------------------------------------------------------------------------------------
    def admit(body: bytes, headers: Mapping[str, str], where: str) -> Leaf:
        """Parse a submitted leaf and check who may append it (the log re-checks all of it)."""
        try:
            leaf = parse_leaf(body, where)
        except EntryError as error:
            raise ApiError(400, str(error)) from None
        if leaf.type == "org.key" and leaf.pub.get("action") == "register":
            _check_operator(operator, headers.get(OPERATOR_HEADER), body)
            return leaf
        keys: _Keys = holder["keys"]
        record = keys.active(leaf.kid)
        if record is None:
            raise ApiError(403, f"{where}: key {leaf.kid} is not a registered, active key of this log")
        if leaf.type == "org.key" and org_of_kid(leaf.kid) != leaf.pub.get("org"):
            raise ApiError(403, f"{where}: an org.key entry must be signed by a key of that organisation")
        if verify_early and not record.verifier.verify(leaf.signed_message, leaf.sig):
            raise ApiError(403, f"{where}: the signature does not verify under the registered key")
        return leaf

    def limit(leaves: list[Leaf]) -> None:
        wanted: dict[str, int] = {}
        for leaf in leaves:
            wanted[leaf.kid] = wanted.get(leaf.kid, 0) + 1
        for kid, count in wanted.items():
            wait = buckets.take(kid, count)
            if wait > 0:
                raise ApiError(429, f"rate limit exceeded for {kid}", {"Retry-After": str(math.ceil(wait))})

    def document(leaf: Leaf, outcome: Outcome) -> dict[str, Any]:
        """The 201/200 answer for one appended leaf; raises the :class:`ApiError` for a refused one."""
        if isinstance(outcome, Exception):
            raise _api_error(outcome)
        receipt, note = outcome
        document = receipt.to_json()
        document["checkpoint"] = note.decode("utf-8")
        proof = format_tlog_proof(receipt.index, receipt.inclusion, note, extra=leaf.raw)
        document["tlog_proof"] = proof.decode("utf-8")
        return document

    async def sequence(leaves: list[Leaf]) -> list[Outcome]:
        sequencer: Sequencer = holder["sequencer"]
        outcomes = await sequencer.submit(leaves)
        if any(leaf.type == "org.key" for leaf in leaves):
            holder["keys"].refresh()
        return outcomes

    async def submit(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        if not headers.get("content-type", "").startswith(NDJSON_TYPES):
            leaf = admit(body, headers, "submitted entry")
            limit([leaf])
            [outcome] = await sequence([leaf])
            answer = document(leaf, outcome)
            return 200 if answer["duplicate"] else 201, answer
        lines = body.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if not 0 < len(lines) <= max_batch:
            raise ApiError(400, f"a batch holds 1 to {max_batch} leaves, one per line")
        leaves = [admit(line, headers, f"line {number}") for number, line in enumerate(lines, start=1)]
        limit(leaves)
        outcomes = await sequence(leaves)
        documents: list[dict[str, Any]] = []
        first_error: ApiError | None = None
        for number, (leaf, outcome) in enumerate(zip(leaves, outcomes, strict=True), start=1):
            try:
                documents.append(document(leaf, outcome))
            except ApiError as error:
                # The other lines were appended all the same: say which, so the client need not guess.
                first_error = first_error or ApiError(error.status, f"line {number}: {error.message}")
                documents.append({"error": error.message, "status": error.status})
        if first_error is not None:
            return first_error.status, {"error": first_error.message, "entries": documents}
        return 201, {"entries": documents}

    def body_limit(headers: Mapping[str, str]) -> int:
        batch = headers.get("content-type", "").startswith(NDJSON_TYPES)
        return max_body * max_batch if batch else max_body

    @app.post(
        "/v1/entries",
        status_code=201,
        summary="Append one signed aiprov/1 leaf (application/json), or up to 256 (application/x-ndjson)",
    )
    async def post_entry(request: Request) -> JSONResponse:
        # Served by LedgerApp.entries ahead of the framework; this route documents it and is the fallback.
        body = await _read_body(request, body_limit(request.headers))
        status, document = await submit(body, request.headers)
        return JSONResponse(document, status_code=status)

    app.entries = _FastEntries(submit, body_limit)

    # -- C2SP tlog-tiles ---------------------------------------------------------------------------
    @app.get("/checkpoint", response_class=PlainTextResponse, summary="The latest checkpoint (signed note)")
    def get_checkpoint() -> Response:
        note = reader().published_checkpoint()
        return Response(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": SHORT})

    @app.get("/tile/{path:path}", summary="A C2SP tlog-tiles hash tile or entry bundle")
    def get_tile(path: str) -> Response:
        if len(path) > 200:
            raise ApiError(404, "no such tile")
        try:
            data = reader().read_path("tile/" + path)
        except FormatError:
            raise ApiError(404, "not a tile path") from None
        except MissingTileError:
            raise ApiError(404, "tile not stored") from None
        if data is None:
            raise ApiError(404, "no such tile in the current tree")
        cache = SHORT if ".p/" in path else IMMUTABLE
        return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})

    # -- JSON conveniences -------------------------------------------------------------------------
    @app.get("/v1/entries/{name}", summary="An entry as JSON, or <i>.tlog-proof for its C2SP tlog-proof")
    def get_entry(name: str) -> Response:
        log = reader()
        if name.endswith(".tlog-proof"):
            index = _parse_index(name[: -len(".tlog-proof")], "entry index")
            at = None
            if served_policy is not None:
                try:
                    at = log.witnessed_checkpoint(served_policy, index)
                except QuorumError:
                    raise ApiError(
                        404, f"no checkpoint cosigned to the quorum covers entry {index} yet"
                    ) from None
            return Response(log.tlog_proof(index, at=at), media_type="text/plain; charset=utf-8")
        index = _parse_index(name, "entry index")
        state = log.state()
        row = log.store.entry(index)
        if row is None or index >= state.size:
            raise ApiError(404, f"no entry {index} (the log has {state.size})")
        leaf = parse_leaf(row.leaf, f"entry {index}")
        return JSONResponse(
            {
                "index": index,
                "leaf_hash": leaf.leaf_hash.hex(),
                "leaf": row.leaf.decode("utf-8"),
                "type": leaf.type,
                "kid": leaf.kid,
            },
            headers={"Cache-Control": IMMUTABLE},
        )

    @app.get("/v1/proof/inclusion", summary="RFC 9162 inclusion proof of entry index in the tree of size")
    def get_inclusion(index: int, size: int | None = None) -> JSONResponse:
        log = reader()
        current = log.size
        size = current if size is None else size
        if not 0 <= index < size <= current:
            raise ApiError(400, f"need 0 <= index < size <= {current}")
        proof = log.inclusion_proof(index, size)
        return JSONResponse({"index": index, "size": size, "proof": [h.hex() for h in proof]})

    @app.get("/v1/proof/consistency", summary="RFC 9162 consistency proof between two tree sizes")
    def get_consistency(old: int, new: int | None = None) -> JSONResponse:
        log = reader()
        current = log.size
        new = current if new is None else new
        if not 0 < old <= new <= current:
            raise ApiError(400, f"need 0 < old <= new <= {current}")
        try:
            proof = log.consistency_proof(old, new)
        except ProofError as error:
            raise ApiError(400, str(error)) from None
        return JSONResponse({"old": old, "new": new, "proof": [h.hex() for h in proof]})

    @app.get("/v1/policy", response_class=PlainTextResponse, summary="The C2SP tlog-policy to check proofs")
    def get_policy() -> Response:
        text = policy_text if policy_text is not None else reader().policy_text()
        return Response(text, media_type="text/plain; charset=utf-8")

    @app.get("/v1/keys", summary="The organisation-key registry")
    def get_keys() -> JSONResponse:
        records = reader().store.key_records()
        return JSONResponse(
            [
                {
                    "kid": r.kid,
                    "org": r.org,
                    "vkey": r.vkey,
                    "status": r.status,
                    "introduced": r.introduced,
                    "ended": r.ended,
                }
                for r in records
            ]
        )

    return app


Submit = Callable[[bytes, Mapping[str, str]], Awaitable[tuple[int, Any]]]


class LedgerApp(FastAPI):
    """The ledger's FastAPI app, except that ``POST /v1/entries`` is answered before the framework.

    The hot write skips routing and the whole middleware stack (server errors, telemetry, body limits),
    which a one-leaf request would otherwise pay on top of its own work; every other request, and the
    lifespan, go through FastAPI as usual.
    """

    entries: _FastEntries | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entries = self.entries
        if (
            entries is not None
            and scope["type"] == "http"
            and scope["path"] == "/v1/entries"
            and scope["method"] == "POST"
        ):
            await entries(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


class _FastEntries:
    """Pure-ASGI ``POST /v1/entries``: bounded body read, :func:`submit`, one JSON answer, errors as JSON."""

    def __init__(self, submit: Submit, body_limit: Callable[[Mapping[str, str]], int]) -> None:
        self.submit = submit
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        extra: dict[str, str] = {}
        try:
            body = await self._body(headers, receive)
            status, document = await self.submit(body, headers)
        except ApiError as error:
            status, document, extra = error.status, {"error": error.message}, error.headers
        except Exception:
            status, document = 500, {"error": "internal error"}
        payload = json.dumps(document, separators=(",", ":")).encode()
        response_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *((key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})

    async def _body(self, headers: Mapping[str, str], receive: Receive) -> bytes:
        limit = self.body_limit(headers)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise ApiError(413 if declared.isdigit() else 400, f"request body larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ApiError(400, "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body larger than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _api_error(error: Exception) -> ApiError:
    """The HTTP answer for an append that failed inside the log (a leaf refused, or the store down)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, KeyStateError):
        return ApiError(403, str(error))
    if isinstance(error, EntryError):
        return ApiError(400, str(error))
    if isinstance(error, StoreError):
        return ApiError(503, "the log could not store the entry; retry later")
    return ApiError(500, "internal error")


def _check_operator(operator: Ed25519Verifier | None, header: str | None, body: bytes) -> None:
    if operator is None:
        raise ApiError(403, "this server accepts no key registrations (no operator key configured)")
    if header is None:
        raise ApiError(403, f"a key registration needs the operator's signature in {OPERATOR_HEADER}")
    try:
        signature = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(403, "the operator signature is not base64") from None
    if not operator.verify(body, signature):
        raise ApiError(403, "the operator signature does not verify")


def operator_signature(operator: Any, body: bytes) -> str:
    """The ``X-Modeltrace-Operator-Signature`` value for ``body`` (``operator`` signs raw bytes)."""
    return base64.b64encode(operator.sign(body)).decode("ascii")
