"""The log's side of C2SP tlog-witness: gather cosignatures from a tlog-policy's witnesses until quorum.

::

    client = WitnessClient(parse_policy(text), log.consistency_proof)
    log.cosign = client          # Log.append calls it after each commit: (note, old size, proof) → note

For each witness (``witness <name> <vkey> <url>`` in the policy; the URL is the prefix of
``/add-checkpoint``) the client remembers the size that witness last cosigned — 0 at first, corrected by
a 409's ``text/x.tlog.size`` body — and sends ``old <that size>`` with a consistency proof from it, so a
witness that missed a checkpoint catches up in one retry. Requests go to all witnesses in parallel;
the call returns as soon as the cosignatures gathered satisfy the policy's quorum (stragglers finish in
the background and only update their remembered size). Every cosignature is verified against the
witness's key before it is attached. Without quorum within ``timeout`` the hook returns ``None`` (the log
keeps the checkpoint unpublished-with-witnesses) and :attr:`WitnessClient.last_error` says why.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import httpx

from modeltrace.ledger.checkpoint import parse_checkpoint
from modeltrace.ledger.errors import LedgerError
from modeltrace.ledger.note import Note, Signature, parse_note
from modeltrace.ledger.policy import Policy, PolicyWitness
from modeltrace.ledger.witness import SIZE_MEDIA_TYPE

ProofSource = Callable[[int, int], Sequence[bytes]]


def add_checkpoint_body(old: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """The tlog-witness request body: ``old N``, base64 proof lines, a blank line, the checkpoint."""
    lines = [b"old %d\n" % old] + [base64.b64encode(h) + b"\n" for h in proof]
    return b"".join(lines) + b"\n" + note


class WitnessClient:
    """A :data:`~modeltrace.ledger.log.CosignHook` that asks the policy's witnesses for cosignatures."""

    def __init__(self, policy: Policy, proofs: ProofSource, *, timeout: float = 5.0) -> None:
        self.policy = policy
        self.proofs = proofs
        self.timeout = timeout
        self.witnesses: dict[str, PolicyWitness] = {
            name: witness for name, witness in policy.witnesses.items() if witness.url
        }
        self.known: dict[str, int] = dict.fromkeys(self.witnesses, 0)
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=timeout)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.witnesses)), thread_name_prefix="witness")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    def _ask(self, name: str, note: bytes, size: int) -> Signature | None:
        witness = self.witnesses[name]
        url = f"{str(witness.url).rstrip('/')}/add-checkpoint"
        text = parse_note(note).text_bytes
        for _attempt in range(3):
            with self._lock:
                old = self.known[name]
            if old > size:
                return None
            proof = self.proofs(old, size) if 0 < old < size else []
            response = self._http.post(url, content=add_checkpoint_body(old, proof, note))
            if response.status_code == 409 and response.headers.get("content-type", "").startswith(
                SIZE_MEDIA_TYPE
            ):
                reported = response.text.strip()
                if not reported.isdigit():
                    return None
                with self._lock:
                    self.known[name] = int(reported)
                continue
            if response.status_code != 200:
                raise LedgerError(f"witness {name}: HTTP {response.status_code}: {response.text[:200]}")
            with self._lock:
                self.known[name] = max(self.known[name], size)
            return self._cosignature(witness, text, response.content)
        return None

    @staticmethod
    def _cosignature(witness: PolicyWitness, text: bytes, body: bytes) -> Signature | None:
        verifier = witness.verifier
        for raw in body.decode("utf-8", "replace").splitlines():
            if not raw.startswith("\u2014 "):
                continue
            name, _, encoded = raw[2:].partition(" ")
            try:
                blob = base64.b64decode(encoded, validate=True)
            except ValueError:
                continue
            if name != verifier.name or blob[:4] != verifier.key_id:
                continue
            if verifier.verify(text, blob[4:]):
                return Signature(name, blob[:4], blob[4:])
        raise LedgerError(f"witness {witness.name}: no valid cosignature in its answer")

    def __call__(self, note: bytes, old_size: int, proof: Sequence[bytes]) -> bytes | None:
        size = parse_checkpoint(parse_note(note).text).size
        futures: dict[Future[Signature | None], str] = {
            self._pool.submit(self._ask, name, note, size): name for name in self.witnesses
        }
        gathered: dict[str, Signature] = {}
        errors: list[str] = []
        pending = set(futures)
        deadline = time.monotonic() + self.timeout
        while pending and not self.policy.satisfied_by(gathered):
            done, pending = wait(
                pending, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED
            )
            if not done:
                break
            for future in done:
                name = futures[future]
                try:
                    signature = future.result()
                except (LedgerError, httpx.HTTPError) as error:
                    errors.append(str(error)[:300])
                    continue
                if signature is not None:
                    gathered[name] = signature
        if not self.policy.satisfied_by(gathered):
            self.last_error = f"quorum {self.policy.quorum!r} not met by {sorted(gathered)}: {errors}"
            return None
        self.last_error = None
        parsed = parse_note(note)
        extra = tuple(gathered[name] for name in sorted(gathered))
        return Note(parsed.text, (*parsed.signatures, *extra)).to_bytes()
