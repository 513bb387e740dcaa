"""An independent C2SP tlog-witness: cosigns only checkpoints consistent with the last one it cosigned.

``POST <prefix>/add-checkpoint`` with body ``old <N>\\n`` + 0–63 base64 consistency-proof lines + a
blank line + the signed checkpoint note. Answers (c2sp.org/tlog-witness):

* 404 — the origin is not a log this witness knows;
* 403 — no trusted log signature, or a trusted log key's signature fails;
* 400 — malformed request, or ``old`` larger than the checkpoint size;
* 409 — ``old`` is not the size this witness last cosigned for the origin; the body is that size,
  ``Content-Type: text/x.tlog.size``;
* 422 — size 0 with a root other than the empty tree's, ``old 0`` with a proof, a proof that does not
  verify, or the same size with a different root;
* 200 — the body is only this witness's ``cosignature/v1`` line(s).

The check and the new state are one SQLite ``BEGIN IMMEDIATE`` transaction (``synchronous=FULL``),
committed *before* the answer, and requests for one origin are serialised (a lock per origin plus the
database write lock), so of two racing requests from the same old size exactly one wins and the other
gets 409. Requests that carry a valid log signature but are rejected are kept in the ``evidence`` table
(a split view — two roots for one size — is exactly what a witness exists to catch). The state
survives restarts: it lives in ``<state dir>/witness.db``. ``GET <prefix>/<hex sha256(origin)>/checkpoint``
returns the latest cosigned checkpoint for monitoring.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from modeltrace.ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from modeltrace.ledger.errors import FormatError, LedgerError, ProofError, SignatureError
from modeltrace.ledger.note import (
    CosignatureSigner,
    Ed25519Verifier,
    Note,
    Signature,
    parse_note,
    parse_skey,
    parse_vkey,
)
from modeltrace.ledger.proofs import verify_consistency
from modeltrace.merkle import EMPTY_ROOT

MAX_REQUEST_BYTES = 64 * 1024
MAX_PROOF_LINES = 63
SIZE_MEDIA_TYPE = "text/x.tlog.size"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS logs (origin TEXT PRIMARY KEY, vkey TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS state (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,"
    " checkpoint BLOB NOT NULL, cosigned BLOB NOT NULL, updated INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS evidence (id INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL,"
    " received INTEGER NOT NULL, status INTEGER NOT NULL, reason TEXT NOT NULL, body BLOB NOT NULL)",
)

_INSERT_EVIDENCE = "INSERT INTO evidence (origin, received, status, reason, body) VALUES (?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, media type and body."""

    status: int
    body: bytes
    media_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Evidence:
    origin: str
    received: int
    status: int
    reason: str
    body: bytes


@dataclass(frozen=True)
class _Request:
    old: int
    proof: tuple[bytes, ...]
    note: Note
    checkpoint: Checkpoint


def _parse_request(body: bytes) -> _Request:
    if len(body) > MAX_REQUEST_BYTES:
        raise FormatError("request", f"larger than {MAX_REQUEST_BYTES} bytes")
    head, blank, rest = body.partition(b"\n\n")
    if not blank:
        raise FormatError("request", "no blank line before the checkpoint")
    lines = head.split(b"\n")
    first = lines[0]
    if not first.startswith(b"old "):
        raise FormatError("request", "must start with 'old <size>'")
    digits = first[4:]
    if not digits.isdigit() or (len(digits) > 1 and digits.startswith(b"0")) or len(digits) > 20:
        raise FormatError("request", "old size is not a decimal integer")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise FormatError("request", f"more than {MAX_PROOF_LINES} proof lines")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            digest = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise FormatError("request", "a proof line is not base64") from None
        if len(digest) != 32:
            raise FormatError("request", "a proof line is not a 32-byte hash")
        proof.append(digest)
    note = parse_note(rest)
    return _Request(int(digits), tuple(proof), note, parse_checkpoint(note.text))


class Witness:
    """The witness's logic and durable state (thread-safe; one instance per state directory)."""

    def __init__(
        self,
        state_dir: str | Path,
        signer: CosignatureSigner,
        logs: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.signer = signer
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "witness.db"
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db_lock = threading.Lock()
        self._origin_locks: dict[str, threading.Lock] = {}
        with self._db_lock:
            for statement in _SCHEMA:
                self._db.execute(statement)
        for vkey in logs:
            self.add_log(vkey)

    def close(self) -> None:
        with self._db_lock:
            self._db.close()

    # -- configuration -----------------------------------------------------------------------------
    def add_log(self, vkey: str) -> None:
        verifier = parse_vkey(vkey)
        if not isinstance(verifier, Ed25519Verifier):
            raise FormatError("log key", "must be an Ed25519 (type 0x01) vkey")
        with self._db_lock:
            self._db.execute(
                "INSERT INTO logs (origin, vkey) VALUES (?, ?) ON CONFLICT(origin) DO UPDATE SET vkey = ?",
                (verifier.name, vkey, vkey),
            )

    def log_key(self, origin: str) -> Ed25519Verifier | None:
        with self._db_lock:
            row = self._db.execute("SELECT vkey FROM logs WHERE origin = ?", (origin,)).fetchone()
        if row is None:
            return None
        verifier = parse_vkey(str(row[0]))
        assert isinstance(verifier, Ed25519Verifier)
        return verifier

    def _origin_lock(self, origin: str) -> threading.Lock:
        with self._db_lock:
            return self._origin_locks.setdefault(origin, threading.Lock())

    # -- reads -------------------------------------------------------------------------------------
    def latest(self, origin: str) -> tuple[int, bytes, bytes] | None:
        """(size, root, cosigned checkpoint note) last cosigned for ``origin``."""
        with self._db_lock:
            row = self._db.execute(
                "SELECT size, root, cosigned FROM state WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), bytes(row[2]))

    def latest_by_hash(self, origin_hash: str) -> bytes | None:
        with self._db_lock:
            rows = self._db.execute("SELECT origin, cosigned FROM state").fetchall()
        for origin, note in rows:
            if hashlib.sha256(str(origin).encode()).hexdigest() == origin_hash.lower():
                return bytes(note)
        return None

    def evidence(self, origin: str | None = None) -> list[Evidence]:
        with self._db_lock:
            rows = self._db.execute(
                "SELECT origin, received, status, reason, body FROM evidence ORDER BY id"
            ).fetchall()
        return [
            Evidence(str(r[0]), int(r[1]), int(r[2]), str(r[3]), bytes(r[4]))
            for r in rows
            if origin is None or r[0] == origin
        ]

    # -- add-checkpoint ----------------------------------------------------------------------------
    def add_checkpoint(self, body: bytes) -> Answer:
        """Handle one ``add-checkpoint`` request body; the state is durable before this returns 200."""
        try:
            request = _parse_request(body)
        except LedgerError as error:
            return Answer(400, f"{error}\n".encode())
        origin = request.checkpoint.origin
        log_key = self.log_key(origin)
        if log_key is None:
            return Answer(404, b"unknown log origin\n")
        try:
            open_checkpoint(request.note, [log_key], origin=origin)
        except (SignatureError, FormatError):
            return Answer(403, b"no valid signature by the log's key\n")
        with self._origin_lock(origin):
            return self._add_locked(request, body)

    def _reject(self, origin: str, status: int, reason: str, body: bytes, answer: Answer) -> Answer:
        with self._db_lock:
            self._db.execute(
                _INSERT_EVIDENCE,
                (origin, int(time.time()), status, reason, body),
            )
        return answer

    def _add_locked(self, request: _Request, body: bytes) -> Answer:
        checkpoint = request.checkpoint
        origin, old, size = checkpoint.origin, request.old, checkpoint.size
        if old > size:
            reason = "old size larger than checkpoint size"
            return self._reject(origin, 400, reason, body, Answer(400, b"old > size\n"))
        with self._db_lock:
            cursor = self._db.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                row = cursor.execute("SELECT size, root FROM state WHERE origin = ?", (origin,)).fetchone()
                known_size, known_root = (0, EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))
                problem = self._check(request, known_size, known_root)
                if problem is not None:
                    status, reason = problem
                    cursor.execute(
                        _INSERT_EVIDENCE,
                        (origin, int(time.time()), status, reason, body),
                    )
                    cursor.execute("COMMIT")
                    if status == 409:
                        return Answer(409, b"%d\n" % known_size, SIZE_MEDIA_TYPE)
                    return Answer(status, f"{reason}\n".encode())
                text = request.note.text_bytes
                cosignature = Signature(self.signer.name, self.signer.key_id, self.signer.sign(text))
                line = cosignature.line().encode()
                cosigned = Note(request.note.text, (*request.note.signatures, cosignature)).to_bytes()
                cursor.execute(
                    "INSERT INTO state (origin, size, root, checkpoint, cosigned, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(origin) DO UPDATE SET size = excluded.size,"
                    " root = excluded.root, checkpoint = excluded.checkpoint, cosigned = excluded.cosigned,"
                    " updated = excluded.updated",
                    (origin, size, checkpoint.root, request.note.to_bytes(), cosigned, int(time.time())),
                )
                cursor.execute("COMMIT")  # durable (synchronous=FULL) before the cosignature leaves
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return Answer(200, line)

    @staticmethod
    def _check(request: _Request, known_size: int, known_root: bytes) -> tuple[int, str] | None:
        checkpoint = request.checkpoint
        old, size, proof = request.old, checkpoint.size, request.proof
        if old != known_size:
            return 409, f"old size {old} is not the last cosigned size {known_size}"
        if size == 0 and checkpoint.root != EMPTY_ROOT:
            return 422, "size 0 with a root that is not the empty tree's"
        if old == 0 and proof:
            return 422, "old size 0 with a consistency proof"
        if old == size:
            if proof:
                return 422, "same size with a non-empty proof"
            if checkpoint.root != known_root:
                return 422, f"same size {size} with a different root (split view)"
            return None
        if old == 0:
            return None
        try:
            verify_consistency(old, size, list(proof), known_root, checkpoint.root)
        except (ProofError, FormatError):
            return 422, f"consistency proof from {old} to {size} does not verify"
        return None


def load_signer(path: str | Path) -> CosignatureSigner:
    """A witness key file: one line, Go note's ``PRIVATE+KEY+<name>+<id>+<base64(0x04 ‖ seed)>``."""
    text = Path(path).read_text(encoding="utf-8").strip()
    signer = parse_skey(text)
    if not isinstance(signer, CosignatureSigner):
        raise FormatError(str(path), "not a cosignature/v1 (type 0x04) private key")
    return signer


def create_witness_app(witness: Witness, *, prefix: str = "") -> FastAPI:
    """The FastAPI app of a witness: ``POST <prefix>/add-checkpoint`` and the monitoring read."""
    app = FastAPI(title="modeltrace witness", version="1", description="C2SP tlog-witness")

    @app.exception_handler(Exception)
    async def internal_error(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.post(f"{prefix}/add-checkpoint", summary="C2SP tlog-witness add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES):
            return Response(b"request too large\n", status_code=413, media_type="text/plain")
        chunks: list[bytes] = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_REQUEST_BYTES:
                return Response(b"request too large\n", status_code=413, media_type="text/plain")
            chunks.append(chunk)
        answer = await run_in_threadpool(witness.add_checkpoint, b"".join(chunks))
        return Response(answer.body, status_code=answer.status, headers={"Content-Type": answer.media_type})

    @app.get(prefix + "/{origin_hash}/checkpoint", summary="Latest cosigned checkpoint of a log")
    def latest(origin_hash: str) -> Response:
        note = witness.latest_by_hash(origin_hash)
        if note is None:
            return Response(b"unknown log\n", status_code=404, media_type="text/plain")
        return Response(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})

    return app
