"""A hash-chained JSONL transcript of every request and response, which also makes runs resumable.

Each line is one JSON object with ``seq``, ``time``, ``kind`` (``response`` or ``error``), ``endpoint``
(base URL and model; never the API key), ``path``, ``request``, ``status``, ``response`` or ``error``,
``prev`` (the previous line's hash; 64 zeros for the first) and ``hash`` = SHA-256 over ``prev`` and the
canonical JSON (sorted keys, no spaces) of the line without ``hash``. :func:`verify_transcript` replays
the chain; a re-run opened on the same file answers the k-th identical request with the k-th recorded
response instead of querying again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from modeltrace.errors import ModeltraceError

__all__ = ["GENESIS", "Transcript", "TranscriptError", "canonical_json", "request_key", "verify_transcript"]

GENESIS = "0" * 64


class TranscriptError(ModeltraceError):
    """A transcript file is malformed or its hash chain is broken."""


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def request_key(endpoint: dict[str, str], path: str, request: dict[str, Any]) -> str:
    """The identity of a request for resuming: endpoint, path and body."""
    blob = canonical_json({"endpoint": endpoint, "path": path, "request": request})
    return hashlib.sha256(blob.encode()).hexdigest()


def _entry_hash(prev: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((prev + canonical_json(body)).encode()).hexdigest()


def _read(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Entries of ``path`` after checking the chain, and the byte length of the valid prefix.

    A torn last line (a crash mid-write: no trailing newline, not JSON) is dropped; anything else
    that does not verify raises :class:`TranscriptError`.
    """
    data = path.read_bytes()
    entries: list[dict[str, Any]] = []
    prev, offset = GENESIS, 0
    lines = data.split(b"\n")
    for i, raw in enumerate(lines):
        if not raw.strip():
            offset += len(raw) + 1
            continue
        last = i == len(lines) - 1  # no newline after it
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError as exc:
            if last:
                break
            raise TranscriptError(f"{path}: line {i + 1} is not JSON ({exc.msg})") from None
        if not isinstance(entry, dict) or "hash" not in entry:
            raise TranscriptError(f"{path}: line {i + 1} is not a transcript entry")
        body = {k: v for k, v in entry.items() if k != "hash"}
        if body.get("prev") != prev or _entry_hash(prev, body) != entry["hash"]:
            raise TranscriptError(f"{path}: hash chain broken at line {i + 1} (seq {entry.get('seq')})")
        if body.get("seq") != len(entries):
            raise TranscriptError(f"{path}: line {i + 1} has seq {body.get('seq')}, expected {len(entries)}")
        entries.append(entry)
        prev = entry["hash"]
        offset += len(raw) + (0 if last else 1)
    return entries, offset


def verify_transcript(path: str | Path) -> int:
    """Check the hash chain of a transcript; returns the number of entries (raises on any break)."""
    entries, _ = _read(Path(path))
    return len(entries)


class Transcript:
    """Append-only, hash-chained JSONL log; thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._recorded: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._used: dict[str, int] = defaultdict(int)
        self.head = GENESIS
        self.count = 0
        if self.path.exists():
            entries, valid = _read(self.path)
            if valid < self.path.stat().st_size:
                with self.path.open("r+b") as fh:
                    fh.truncate(valid)
            for entry in entries:
                if entry.get("kind") == "response":
                    key = request_key(entry["endpoint"], entry["path"], entry["request"])
                    self._recorded[key].append(entry["response"])
            if entries:
                self.head = entries[-1]["hash"]
            self.count = len(entries)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()

    def recorded(self, endpoint: dict[str, str], path: str, request: dict[str, Any]) -> dict[str, Any] | None:
        """The next unused recorded response to this exact request, if the transcript holds one."""
        key = request_key(endpoint, path, request)
        with self._lock:
            answers = self._recorded.get(key, [])
            used = self._used[key]
            if used < len(answers):
                self._used[key] = used + 1
                return answers[used]
        return None

    def append(
        self,
        endpoint: dict[str, str],
        path: str,
        request: dict[str, Any],
        *,
        status: int | None,
        response: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> str:
        with self._lock:
            body: dict[str, Any] = {
                "seq": self.count,
                "time": time.time(),
                "kind": "response" if error is None else "error",
                "endpoint": endpoint,
                "path": path,
                "request": request,
                "status": status,
                "prev": self.head,
            }
            if error is None:
                body["response"] = response
                key = request_key(endpoint, path, request)
                self._recorded[key].append(response or {})
                self._used[key] += 1  # this run consumed it already
            else:
                body["error"] = error
            digest = _entry_hash(self.head, body)
            line = canonical_json({**body, "hash": digest}) + "\n"
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
            self.head, self.count = digest, self.count + 1
            return digest
