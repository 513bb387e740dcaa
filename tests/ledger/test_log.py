"""The log over SQLite and PostgreSQL: appends, receipts and proofs, keys, references, writers, witnesses."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modeltrace.ledger import statements
from modeltrace.ledger.bundle import check_bundle
from modeltrace.ledger.checkpoint import open_checkpoint
from modeltrace.ledger.entries import Draft, Ref, sign
from modeltrace.ledger.errors import QuorumError
from modeltrace.ledger.log import Log
from modeltrace.ledger.log_errors import EntryError, KeyStateError, StoreError, WriterConflictError
from modeltrace.ledger.note import CosignatureSigner, parse_note, sign_note
from modeltrace.ledger.policy import parse_policy
from modeltrace.ledger.proofs import InMemoryTree, tree_root, verify_consistency, verify_inclusion
from modeltrace.ledger.tiles import TileSubtrees, check_entry_bundle, new_tiles, parse_entry_bundle
from modeltrace.ledger.tree import grow_tiles
from modeltrace.merkle import leaf_hash
from tests.ledger.logkit import ORIGIN, TIME, attestation, fill, new_log, org_key

REPO = Path(__file__).resolve().parents[2]


def _stored_leaf_hashes(log: Log) -> list[bytes]:
    return [leaf_hash(row.leaf) for row in log.store.entries(0, log.size)]


def test_appends_receipts_and_proofs_round_trip(db_url: str) -> None:
    log = new_log(db_url)
    policy = parse_policy(log.policy_text())
    receipts = []
    number = 0
    for size in (1, 7, 256, 36, 3):  # crosses a full tile and makes a level-1 tile
        receipts += log.append([attestation(n) for n in range(number, number + size)])
        number += size
    assert [r.index for r in receipts] == list(range(1, 304)) and log.size == 304
    for receipt in receipts:
        signed = open_checkpoint(receipt.checkpoint, [log.verifier], origin=ORIGIN).checkpoint
        assert (signed.size, signed.root) == (receipt.size, receipt.root)
        verify_inclusion(receipt.leaf_hash, receipt.index, receipt.size, receipt.inclusion, receipt.root)
    tree = InMemoryTree(_stored_leaf_hashes(log))
    assert tree.root() == log.state().root
    stored = {(row.level, row.index): row for row in log.store.tiles()}
    expected = new_tiles(0, tree.size, tree.subtree)
    assert {(t.level, t.index): (t.width, data) for t, data in expected.items()} == {
        key: (row.width, row.data) for key, row in stored.items()
    }
    assert {key[0] for key in stored} == {0, 1}
    sizes = [row.size for row in log.store.checkpoints()]
    assert sizes == [0, 1, 2, 9, 265, 301, 304]
    for old, new in itertools.pairwise(sizes[1:]):
        verify_consistency(old, new, log.consistency_proof(old, new), tree.root(old), tree.root(new))
    for index in (0, 1, 255, 256, 303):
        result = check_bundle(log.prove(index), policy)
        assert result.entry.index == index and result.entry.leaf.raw == log.store.entry(index).leaf  # type: ignore[union-attr]
    state = log.state()
    log.close()
    with Log.open(db_url) as reopened:
        assert reopened.state() == state
        assert reopened.verify().ok


def test_duplicates_keep_their_first_index(db_url: str) -> None:
    with new_log(db_url) as log:
        [first] = log.append([attestation(1)])
        again = log.append([attestation(2), attestation(1), attestation(2)])
        assert (first.index, first.duplicate) == (1, False)
        assert [(r.index, r.duplicate) for r in again] == [(2, False), (1, True), (2, True)]
        assert log.size == 3
        [only_dup] = log.append([attestation(1)])
        assert (
            only_dup.duplicate
            and only_dup.size == 3
            and [row.size for row in log.store.checkpoints()][-1] == 3
        )
        verify_inclusion(only_dup.leaf_hash, 1, 3, only_dup.inclusion, only_dup.root)
        assert log.verify().ok


def test_references_must_name_earlier_entries_by_their_true_hash(db_url: str) -> None:
    key = org_key()
    with new_log(db_url) as log:
        [target] = log.append([attestation(1)])
        good = Ref(ORIGIN, target.index, target.leaf_hash)
        bad_cases = {
            "wrong leaf hash": Ref(ORIGIN, target.index, bytes(32)),
            "not an earlier one": Ref(ORIGIN, 5, bytes(32)),
        }
        for problem, ref in bad_cases.items():
            with pytest.raises(EntryError, match=problem):
                log.append([sign(statements.correction(ref, "x", time=TIME), key)])
        run = sign(
            statements.run_start(
                run_id="r",
                code_commit="a" * 40,
                config_digest="b" * 64,
                datasets=[good],
                seed=1,
                data_order="c" * 64,
                time=TIME,
            ),
            key,
        )
        with pytest.raises(EntryError, match=r"must reference dataset\.manifest, not attestation"):
            log.append([run])
        size = log.size
        with pytest.raises(EntryError, match="statement 1"):  # the batch is atomic
            log.append([attestation(2), sign(statements.correction(bad_cases["wrong leaf hash"], "x"), key)])
        assert log.size == size
        foreign = Ref("other.example/log", 99, bytes(32))  # another log's entry: checked with its proof
        [ok] = log.append([sign(statements.correction(good, "fix", replacement=foreign, time=TIME), key)])
        assert not ok.duplicate
        assert log.verify().ok


def test_key_lifecycle_register_rotate_revoke(db_url: str) -> None:
    first = org_key()
    with new_log(db_url, first) as log:
        policy = parse_policy(log.policy_text())
        second = org_key(bytes(range(1, 33)))
        log.append([sign(statements.org_key_rotate(first, second, time=TIME), first)])
        with pytest.raises(KeyStateError, match="superseded"):
            log.append([attestation(1, first)])
        [by_new] = log.append([attestation(1, second)])
        result = check_bundle(log.prove(by_new.index), policy)
        assert result.key_chain == (1, 0)  # rotation, then the self-signed registration
        other = org_key(bytes(range(2, 34)), "example.com")
        log.append([sign(statements.org_key_register(other, time=TIME), other)])
        with pytest.raises(KeyStateError, match=r"not a key of example\.com"):
            log.append([sign(statements.org_key_revoke("example.com", second.kid, time=TIME), other)])
        with pytest.raises(KeyStateError, match=r"only example\.org may correct"):
            log.append([sign(statements.correction(log.ref(by_new.index), "mine now", time=TIME), other)])
        log.append(
            [sign(statements.org_key_revoke("example.org", second.kid, reason="lost", time=TIME), second)]
        )
        with pytest.raises(KeyStateError, match="revoked"):
            log.append([attestation(2, second)])
        stranger = org_key(bytes(range(3, 35)), "example.net")
        with pytest.raises(KeyStateError, match="not registered"):
            log.append([attestation(3, stranger)])
        impostor = org_key(bytes(range(4, 36)), "example.net")
        with pytest.raises(KeyStateError, match="signed by the key it registers"):
            log.append([sign(statements.org_key_register(impostor, time=TIME), stranger)])
        states = {record.kid: record.status for record in log.store.key_records()}
        assert states == {first.kid: "superseded", second.kid: "revoked", other.kid: "active"}
        assert (
            check_bundle(log.prove(by_new.index), policy).entry.index == by_new.index
        )  # earlier entries stay valid
        assert log.verify().ok


def stored_tile(stored: dict[tuple[int, int], bytes]) -> Callable[[int, int], bytes | None]:
    return lambda level, index: stored.get((level, index))


def test_grow_tiles_matches_the_definition() -> None:
    rng = random.Random(7)
    for _ in range(20):
        total = rng.randrange(1, 1500)
        hashes = [leaf_hash(b"%d" % i) for i in range(total)]
        stored: dict[tuple[int, int], bytes] = {}
        size = 0
        while size < total:
            step = min(total - size, rng.choice([1, 2, 255, 256, 257, rng.randrange(1, 700)]))
            changed = grow_tiles(stored_tile(stored), size, hashes[size : size + step])
            stored.update({(tile.level, tile.index): data for tile, data in changed.items()})
            size += step
        tree = InMemoryTree(hashes)
        expected = {(t.level, t.index): data for t, data in new_tiles(0, total, tree.subtree).items()}
        assert stored == expected


def _spawn_holder(db_url: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.writer_child", "hold", db_url],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_a_second_writer_process_is_refused(db_url: str) -> None:
    new_log(db_url).close()
    holder = _spawn_holder(db_url)
    try:
        with Log.open(db_url) as second:
            with pytest.raises(WriterConflictError, match="another process is this log's writer"):
                second.append([attestation(1)])
            assert second.verify().ok  # reading is never refused
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    with Log.open(db_url) as third:
        while True:
            try:
                third.append([attestation(2)])
                break
            except WriterConflictError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert third.size == 3 and third.verify().ok


def test_checkpoint_cas_stops_a_writer_that_bypassed_the_lock(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_log(db_url).close()
    first, second = Log.open(db_url), Log.open(db_url)
    for log in (first, second):
        monkeypatch.setattr(log.store, "acquire_writer", lambda: None)
    try:
        second.append([attestation(1)])
        first.append([attestation(2)])
        with pytest.raises(WriterConflictError, match="changed from size 2 to 3 behind this writer"):
            second.append([attestation(3)])
        assert first.verify().ok and first.size == 3
    finally:
        first.close()
        second.close()


def test_cosign_hook_stores_witness_cosignatures_for_offline_quorum_checks(db_url: str) -> None:
    witnesses = [
        CosignatureSigner.from_seed(f"w{i}.example", bytes([i + 1]) * 32, clock=lambda: TIME)
        for i in range(3)
    ]
    with new_log(db_url) as log:
        seen: list[tuple[int, int]] = []

        def cosign(note: bytes, old_size: int, proof: object) -> bytes:
            seen.append((old_size, len(proof)))  # type: ignore[arg-type]
            return sign_note(parse_note(note), *witnesses[:2]).to_bytes()

        log.cosign = cosign
        [receipt] = log.append([attestation(1)])
        fill(log, 5, start=10)
        policy = parse_policy(
            f"log {log.vkey}\n"
            + "".join(f"witness w{i} {w.vkey}\n" for i, w in enumerate(witnesses))
            + "group two 2 w0 w1 w2\nquorum two\n"
        )
        result = check_bundle(log.prove(receipt.index), policy, now=TIME)
        assert result.witnesses == frozenset({"w0", "w1"})
        assert seen[0][0] == 1 and seen[-1][0] == 2
        strict = parse_policy(policy.to_text().replace("group two 2", "group two 3"))
        with pytest.raises(QuorumError):
            check_bundle(log.prove(receipt.index), strict, now=TIME)
        assert log.verify().ok


def test_init_refuses_an_existing_log_and_open_refuses_a_missing_one(db_url: str) -> None:
    new_log(db_url).close()
    with pytest.raises(StoreError, match="already exists"):
        Log.init(ORIGIN, db_url)
    with pytest.raises(StoreError, match="no log here"):
        Log.open(db_url.replace("ledger.db", "other.db") if "schema=" not in db_url else db_url + "x")


def test_unknown_entry_type_statements_cannot_be_signed(db_url: str) -> None:
    with new_log(db_url) as log, pytest.raises(EntryError, match="unknown entry type"):
        log.append([sign(Draft("model.weights", {"time": TIME}), org_key())])


def test_tiles_and_entry_bundles_are_served_at_their_c2sp_paths(db_url: str) -> None:
    with new_log(db_url) as log:
        fill(log, 299)
        size = log.size
        subtree = TileSubtrees(size, log.read_path)
        assert tree_root(size, subtree) == log.state().root  # a tiles-only client rebuilds the signed root
        full = log.read_path("tile/entries/000")
        assert full is not None and len(parse_entry_bundle(full)) == 256
        partial = log.read_path("tile/entries/001.p/44")
        assert partial is not None
        check_entry_bundle(parse_entry_bundle(partial, 44), log.read_path("tile/0/001.p/44") or b"")
        older = log.read_path("tile/0/001.p/10")  # a narrower, older width: a prefix
        assert older == (log.read_path("tile/0/001.p/44") or b"")[: 10 * 32]
        assert log.read_path("tile/0/001") is None  # not full yet
        assert log.read_path("tile/entries/001.p/45") is None
        assert log.read_path("tile/1/000.p/1") is not None and log.read_path("tile/2/000.p/1") is None


def test_writer_subtree_cache_survives_random_batches_failures_and_reopening(tmp_path: Path) -> None:
    # The writer keeps the previous tree's frontier between batches instead of re-reading tiles;
    # every root and receipt must still be the definition's, also after a failed batch and a reopen.
    db = str(tmp_path / "ledger.db")
    log = new_log(db)
    tree = InMemoryTree(_stored_leaf_hashes(log))
    rng = random.Random(11)
    stranger = org_key(bytes([9]) * 32, "other.example")
    number = 0
    for step in range(30):
        if step == 11:  # a batch refused inside the transaction: nothing of it may linger
            with pytest.raises(KeyStateError):
                log.append([attestation(number), attestation(number + 1, stranger)])
        if step == 21:  # a fresh writer starts without the cache
            log.close()
            log = Log.open(db)
        size = rng.choice([1, 2, 3, 5, 17, 64, 100, 255, 256, 257])
        batch = [attestation(n) for n in range(number, number + size)]
        if step % 9 == 4:
            batch.append(attestation(rng.randrange(number)))  # an old one: a duplicate receipt
        receipts = log.append(batch)
        for receipt in receipts[:size]:
            tree.append(receipt.leaf_hash)
        number += size
        assert log.state().root == tree.root()
        for receipt in receipts:
            assert receipt.root == tree.root(receipt.size)
            verify_inclusion(receipt.leaf_hash, receipt.index, receipt.size, receipt.inclusion, receipt.root)
    assert log.verify().ok
    log.close()
