"""Shared material for the log's tests: deterministic keys, statements, tiny models, raw SQL access."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modeltrace.ledger import statements
from modeltrace.ledger.entries import Draft, SignedStatement, sign
from modeltrace.ledger.keys import OrgKey
from modeltrace.ledger.log import Log

ORIGIN = "example.org/training-log"
ORG = "example.org"
ORG_SEED = bytes(range(100, 132))
LOG_SEED = bytes(range(32))
TIME = 1767225600  # 2026-01-01T00:00:00Z


def org_key(seed: bytes = ORG_SEED, org: str = ORG) -> OrgKey:
    return OrgKey.from_seed(org, seed)


def new_log(db: str, key: OrgKey | None = None) -> Log:
    """A log at ``db`` with ``key`` (default the test organisation's) registered as entry 0."""
    log = Log.init(ORIGIN, db, seed=LOG_SEED)
    key = key or org_key()
    log.append([sign(statements.org_key_register(key, contact="legal@example.org", time=TIME), key)])
    return log


def attestation(number: int, key: OrgKey | None = None) -> SignedStatement:
    """A statement without salts, so signing it twice gives the same leaf (Ed25519 is deterministic)."""
    key = key or org_key()
    pub = {
        "time": TIME,
        "digest": hashlib.sha256(b"attestation %d" % number).hexdigest(),
        "predicate_type": "https://example.org/test/v1",
    }
    return sign(Draft("attestation", pub), key)


def fill(log: Log, count: int, start: int = 0, batch: int = 256) -> None:
    for first in range(start, start + count, batch):
        log.append([attestation(n) for n in range(first, min(start + count, first + batch))])


def write_safetensors(path: Path, tensors: dict[str, np.ndarray[Any, Any]]) -> None:
    """A minimal, valid safetensors file (header padded to 8 bytes, as the reference writer does)."""
    header: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        dtype = {"float32": "F32", "float16": "F16", "int64": "I64"}[str(array.dtype)]
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def tiny_model(folder: Path, seed: int = 0) -> Path:
    """A two-shard safetensors model folder with a config, a tokenizer file and a nested file."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(
        folder / "model-00001-of-00002.safetensors",
        {
            "embed.weight": rng.standard_normal((16, 8)).astype(np.float32),
            "layers.0.mlp.weight": rng.standard_normal((8, 8)).astype(np.float32),
        },
    )
    write_safetensors(
        folder / "model-00002-of-00002.safetensors",
        {
            "layers.1.mlp.weight": rng.standard_normal((8, 8)).astype(np.float16),
            "position_ids": np.arange(16, dtype=np.int64),
        },
    )
    index = {
        "metadata": {},
        "weight_map": {
            "embed.weight": "model-00001-of-00002.safetensors",
            "layers.0.mlp.weight": "model-00001-of-00002.safetensors",
            "layers.1.mlp.weight": "model-00002-of-00002.safetensors",
            "position_ids": "model-00002-of-00002.safetensors",
        },
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(json.dumps({"model_type": "test"}))
    (folder / "extra").mkdir(exist_ok=True)
    (folder / "extra" / "notes.txt").write_text("trained on synthetic data\n")
    return folder


class RawDb:
    """A direct connection to a store's tables, bypassing the log (tampering, inspection)."""

    def __init__(self, db: str) -> None:
        self.postgres = db.startswith("postgresql://")
        if self.postgres:
            import psycopg
            from psycopg import sql as pgsql

            from modeltrace.ledger.store_postgres import split_url

            conninfo, schema = split_url(db)
            self._pg = psycopg.connect(conninfo, autocommit=True)
            self._pg.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema)))
            self._pg.execute("SET synchronous_commit TO OFF")  # a tampering tool need not wait for the disk
        else:
            self._lite = sqlite3.connect(db, isolation_level=None)
            self._lite.execute("PRAGMA synchronous=OFF")  # a tampering tool need not wait for the disk

    def __call__(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        if self.postgres:
            cursor = self._pg.execute(sql.replace("?", "%s").encode(), params)
            return list(cursor.fetchall()) if cursor.description else []
        return list(self._lite.execute(sql, params).fetchall())

    def close(self) -> None:
        (self._pg if self.postgres else self._lite).close()


def raw_sql(db: str, sql: str, params: Sequence[object] = ()) -> list[Any]:
    """One statement straight against a store's tables."""
    raw = RawDb(db)
    try:
        return raw(sql, params)
    finally:
        raw.close()


def flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
