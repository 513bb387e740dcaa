"""``verify`` (and proof checking) catch a change to any stored byte of an entry, a tile or a checkpoint.

Each test flips one bit of one stored value directly in the database (SQLite or PostgreSQL), runs the
fsck, and puts the byte back; the log must be found broken every time and whole again after.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from modeltrace.ledger import statements
from modeltrace.ledger.bundle import check_bundle
from modeltrace.ledger.dataset import DatasetFile, DatasetFiles
from modeltrace.ledger.entries import sign
from modeltrace.ledger.errors import LedgerError
from modeltrace.ledger.log import Log
from modeltrace.ledger.policy import parse_policy
from tests.ledger.logkit import TIME, RawDb, attestation, fill, flip, new_log, org_key, raw_sql


def _small_log(db_url: str) -> Log:
    log = new_log(db_url)
    files = DatasetFiles((DatasetFile("a.txt", 5, "a" * 64),), (), bytes(32))
    log.append(
        [
            sign(
                statements.dataset(
                    files,
                    urn="urn:x",
                    version="1",
                    license="MIT",
                    provenance={"origin_geography": ["DE"]},
                    time=TIME,
                ),
                org_key(),
            )
        ]
    )
    log.append([attestation(1), attestation(2)])
    return log


def _each_flip_is_caught(
    log: Log,
    db_url: str,
    table: str,
    column: str,
    where: str,
    key: Iterable[object],
    positions: Iterable[int] | None = None,
    stride: int = 1,
) -> int:
    raw = RawDb(db_url)
    try:
        [(original,)] = raw(f"SELECT {column} FROM {table} WHERE {where}", list(key))
        original = bytes(original)
        checked = 0
        for position in positions if positions is not None else range(0, len(original), stride):
            raw(f"UPDATE {table} SET {column} = ? WHERE {where}", [flip(original, position), *key])
            report = log.verify()
            assert not report.ok, f"{table}.{column} byte {position} flipped but verify passed"
            checked += 1
        raw(f"UPDATE {table} SET {column} = ? WHERE {where}", [original, *key])
    finally:
        raw.close()
    assert log.verify().ok
    return checked


def test_every_byte_of_an_entry_tile_and_checkpoint(db_url: str) -> None:
    with _small_log(db_url) as log:
        assert log.verify().ok
        size = log.size
        checked = _each_flip_is_caught(log, db_url, "entries", "leaf", "idx = ?", [1])
        checked += _each_flip_is_caught(log, db_url, "tiles", "data", "level = ? AND idx = ?", [0, 0])
        checked += _each_flip_is_caught(log, db_url, "checkpoints", "note", "size = ?", [size])
        # Copies and indexes of the same bytes: every 5th byte is enough to show each is compared.
        checked += _each_flip_is_caught(log, db_url, "checkpoints", "note", "size = ?", [2], stride=5)
        checked += _each_flip_is_caught(log, db_url, "log_state", "checkpoint", "id = ?", [1], stride=5)
        checked += _each_flip_is_caught(log, db_url, "log_state", "root", "id = ?", [1], stride=5)
        checked += _each_flip_is_caught(log, db_url, "dedup", "leaf_hash", "idx = ?", [2], stride=5)
        assert checked > 800


@pytest.mark.parametrize(
    ("sql", "params", "problem"),
    [
        ("UPDATE entries SET type = 'release' WHERE idx = 2", [], "columns do not match"),
        ("UPDATE entries SET kid = 'example.org+00000000' WHERE idx = 2", [], "columns do not match"),
        ("UPDATE entries SET stmt = '00' WHERE idx = 2", [], "columns do not match"),
        ("DELETE FROM entries WHERE idx = 2", [], "entry 2 is missing"),
        ("DELETE FROM tiles", [], "is missing"),
        ("UPDATE tiles SET width = 3", [], "stored width"),
        ("DELETE FROM checkpoints WHERE size = 6", [], "not the latest stored"),
        ("UPDATE checkpoints SET size = 7 WHERE size = 6", [], "the signed note says size 6"),
        ("DELETE FROM dedup WHERE idx = 1", [], "dedup table"),
        ("UPDATE subjects SET idx = 0", [], "subjects table"),
        ("DELETE FROM keys", [], "key registry"),
        ("UPDATE keys SET status = 'revoked'", [], "key registry"),
        ("UPDATE log_state SET size = 2", [], "does not match the latest|beyond"),
        (
            "INSERT INTO entries (idx, leaf, type, kid, stmt) SELECT 99, leaf, type, kid, stmt FROM entries "
            "WHERE idx = 3",
            [],
            "beyond the signed tree size",
        ),
    ],
)
def test_rows_changed_removed_or_added(db_url: str, sql: str, params: list[object], problem: str) -> None:
    with _small_log(db_url) as log:
        log.append([sign(statements.checkpoint(_fake_digest(), run=_run(log), step=1, time=TIME), org_key())])
        assert log.verify().ok
        raw_sql(db_url, sql, params)
        report = log.verify()
        assert not report.ok
        assert any(__import__("re").search(problem, text) for text in report.problems), report.problems


def _run(log: Log) -> object:
    [receipt] = log.append(
        [
            sign(
                statements.run_start(
                    run_id="r",
                    code_commit="a" * 40,
                    config_digest="b" * 64,
                    datasets=[log.ref(1)],
                    seed=1,
                    data_order="c" * 64,
                    time=TIME,
                ),
                org_key(),
            )
        ]
    )
    return log.ref(receipt.index)


def _fake_digest() -> object:
    from modeltrace.ledger.model_hash import FileDigest, ModelDigest

    return ModelDigest(
        "m", "d" * 64, (), (FileDigest("model.safetensors", 10, "e" * 64),), "f" * 64, "safetensors"
    )


def test_sampled_bytes_of_a_two_level_tree_and_proof_checking(db_url: str) -> None:
    with new_log(db_url) as log:
        fill(log, 299)  # 300 entries: a full level-0 tile, a partial one, a level-1 tile
        policy = parse_policy(log.policy_text())
        assert {(row.level, row.index, row.width) for row in log.store.tiles()} == {
            (0, 0, 256),
            (0, 1, 44),
            (1, 0, 1),
        }
        samples = [0, 32, 8191]
        _each_flip_is_caught(log, db_url, "tiles", "data", "level = ? AND idx = ?", [0, 0], samples)
        _each_flip_is_caught(log, db_url, "tiles", "data", "level = ? AND idx = ?", [0, 1], [0, 700, 1407])
        _each_flip_is_caught(log, db_url, "tiles", "data", "level = ? AND idx = ?", [1, 0], [0, 9, 31])
        _each_flip_is_caught(log, db_url, "entries", "leaf", "idx = ?", [150], [0, 100, 200])

        # The same tampering is caught offline, by a verifier holding only the proof bundle.
        [(leaf,)] = raw_sql(db_url, "SELECT leaf FROM entries WHERE idx = 150")
        raw_sql(db_url, "UPDATE entries SET leaf = ? WHERE idx = 150", [flip(bytes(leaf), 10)])
        with pytest.raises(LedgerError):
            check_bundle(log.prove(150), policy)
        raw_sql(db_url, "UPDATE entries SET leaf = ? WHERE idx = 150", [bytes(leaf)])
        check_bundle(log.prove(150), policy)

        [(tile,)] = raw_sql(db_url, "SELECT data FROM tiles WHERE level = 0 AND idx = 0")
        sibling = 151 * 32  # the leaf hash next to entry 150 is the first hash of its inclusion proof
        raw_sql(db_url, "UPDATE tiles SET data = ? WHERE level = 0 AND idx = 0", [flip(bytes(tile), sibling)])
        with pytest.raises(LedgerError):
            check_bundle(log.prove(150), policy)
        raw_sql(db_url, "UPDATE tiles SET data = ? WHERE level = 0 AND idx = 0", [bytes(tile)])

        [(note,)] = raw_sql(db_url, "SELECT checkpoint FROM log_state WHERE id = 1")
        raw_sql(db_url, "UPDATE log_state SET checkpoint = ? WHERE id = 1", [flip(bytes(note), 30)])
        with pytest.raises(LedgerError):
            check_bundle(log.prove(150), policy)
        raw_sql(db_url, "UPDATE log_state SET checkpoint = ? WHERE id = 1", [bytes(note)])
        assert log.verify().ok
