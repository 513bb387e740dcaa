"""The log: append signed statements in batches, prove them, verify everything, disclose one item.

::

    log = Log.init("example.org/training-log", "ledger.db")        # or postgresql://…?schema=…
    key = OrgKey.generate("example.org")
    log.append([sign(statements.org_key_register(key), key)])
    [receipt] = log.append([sign(statements.dataset(files, urn=…, version=…, license="MIT"), key)])
    bundle = log.prove(receipt.index)                                # offline: Log.check(bundle, policy)
    log.verify().raise_for_problems()                                # fsck

**Append** is one database transaction per batch: lock the log state, check every statement exactly as
``verify`` will (signature by an active registered key, references to earlier entries, key rules),
write the entries, evidence and changed keys, grow the tiles, compute the new root from the tiles,
check it is consistent with the old root, sign the checkpoint, store it and compare-and-swap the state.
Receipts are returned only after the commit, so an acknowledged entry is durable; a crash before the
commit loses only unacknowledged work, and a statement resubmitted after a crash whose commit did land
is recognised by its leaf hash (the ``dedup`` table) and gets its original index.

For the crash tests, ``MODELTRACE_LEDGER_CRASH_AT=<step>[:<n>]`` makes the process SIGKILL itself the
``n``-th time it reaches ``step`` (:data:`CRASH_STEPS`), and :attr:`Log.crash_hook` does the same from
code. :attr:`Log.cosign` is the hook the witness step plugs in: called after each commit with the new
checkpoint and a consistency proof from the previous one, it returns the cosigned note to store.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time as clock
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeltrace.ledger import jcs
from modeltrace.ledger.access import AccessBatch, pseudonym
from modeltrace.ledger.bundle import CheckedBundle, ProofBundle, check_bundle
from modeltrace.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from modeltrace.ledger.commitments import FieldTree, commitment, new_salt, path_salt
from modeltrace.ledger.dataset import DatasetFiles
from modeltrace.ledger.disclosure import Disclosure, verify_disclosure
from modeltrace.ledger.entries import Leaf, Ref, SignedStatement, parse_leaf
from modeltrace.ledger.errors import LedgerError, MissingTileError, QuorumError
from modeltrace.ledger.keys import KeyRecord, KeyRegistry
from modeltrace.ledger.log_errors import (
    DisclosureError,
    EntryError,
    IntegrityError,
    NotFoundError,
    StoreError,
    WriterConflictError,
)
from modeltrace.ledger.note import Ed25519Signer, Ed25519Verifier, check_key_name, parse_vkey
from modeltrace.ledger.policy import Policy, parse_policy
from modeltrace.ledger.proofs import (
    InMemoryTree,
    consistency_proof,
    inclusion_proof,
    inclusion_proofs,
    tree_root,
    verify_consistency,
)
from modeltrace.ledger.store import (
    BlobRow,
    LogState,
    NewEntry,
    SecretRow,
    Store,
    WriteTransaction,
    open_store,
)
from modeltrace.ledger.tiles import (
    TILE_WIDTH,
    EntryBundleRef,
    TileRef,
    TileSubtrees,
    build_entry_bundle,
    parse_tile_path,
    tile_content,
    tile_width,
    tiles_for_size,
)
from modeltrace.ledger.tlog_proof import format_tlog_proof
from modeltrace.ledger.tree import CachedSubtrees, grow_tiles, tile_reader
from modeltrace.ledger.validation import validate_entry
from modeltrace.merkle import EMPTY_ROOT, leaf_hash

CRASH_ENV = "MODELTRACE_LEDGER_CRASH_AT"
CRASH_STEPS = ("locked", "entries", "evidence", "tiles", "signed", "checkpoint", "commit", "committed")
MAX_BATCH = 4096

CosignHook = Callable[[bytes, int, Sequence[bytes]], bytes | None]
"""``cosign(checkpoint note, old size, consistency proof from old size)`` → cosigned note, or ``None``."""


def _crash_hook_from_env() -> Callable[[str], None] | None:
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return None
    step, _, count = spec.partition(":")
    if step not in CRASH_STEPS:
        raise StoreError(f"{CRASH_ENV}={spec}: unknown step (one of {', '.join(CRASH_STEPS)})")
    remaining = [int(count or "1")]

    def hook(at: str) -> None:
        if at == step:
            remaining[0] -= 1
            if remaining[0] <= 0:
                os.kill(os.getpid(), signal.SIGKILL)

    return hook


@dataclass(frozen=True)
class Receipt:
    """An acknowledged entry: durable, with an inclusion proof to the checkpoint that first holds it."""

    index: int
    leaf_hash: bytes
    duplicate: bool
    size: int
    root: bytes
    checkpoint: bytes
    inclusion: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "duplicate": self.duplicate,
            "size": self.size,
            "root": self.root.hex(),
            "checkpoint": self.checkpoint.decode("utf-8"),
            "inclusion": [digest.hex() for digest in self.inclusion],
        }


@dataclass
class VerifyReport:
    """What ``verify`` re-derived, and every problem it found (empty when the log is intact)."""

    origin: str
    size: int
    entries: int = 0
    tiles: int = 0
    checkpoints: int = 0
    keys: int = 0
    evidence: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "origin": self.origin,
            "size": self.size,
            "entries": self.entries,
            "tiles": self.tiles,
            "checkpoints": self.checkpoints,
            "keys": self.keys,
            "evidence": self.evidence,
            "problems": list(self.problems),
        }

    def raise_for_problems(self) -> None:
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise IntegrityError(f"{self.origin}: {self.problems[0]}{more}")


@dataclass(frozen=True)
class _Facts:
    """What reference checks need of an earlier entry, without keeping the whole leaf in memory."""

    leaf_hash: bytes
    type: str
    kid: str


@dataclass
class _Plan:
    new: list[NewEntry] = field(default_factory=list)
    acks: list[tuple[int, bytes, bool]] = field(default_factory=list)
    secrets: list[SecretRow] = field(default_factory=list)
    blobs: list[BlobRow] = field(default_factory=list)
    keys: dict[str, KeyRecord] = field(default_factory=dict)


def _coerce(item: SignedStatement | Leaf | bytes, position: int) -> SignedStatement:
    if isinstance(item, SignedStatement):
        return item
    if isinstance(item, Leaf):
        return SignedStatement(item)
    return SignedStatement(parse_leaf(bytes(item), f"statement {position}"))


def _evidence_rows(statement: SignedStatement) -> tuple[list[SecretRow], list[BlobRow]]:
    stmt = statement.leaf.stmt
    secrets = [SecretRow(stmt, item.name, item.salt, jcs.dumps(item.value)) for item in statement.secrets]
    blobs = [BlobRow(stmt, kind, data) for kind, data in sorted(statement.evidence.items())]
    if statement.secrets:
        # Commitments are not secret; keeping them lets one field be disclosed after another is shredded.
        commitments = {item.name: item.commitment.hex() for item in statement.secrets}
        blobs.append(BlobRow(stmt, "commitments", jcs.dumps(commitments)))
    return secrets, blobs


class Log:
    """A transparency log of signed provenance statements over a :class:`Store`."""

    def __init__(self, store: Store, state: LogState) -> None:
        self.store = store
        self.origin = state.origin
        self.vkey = state.vkey
        verifier = parse_vkey(state.vkey)
        if not isinstance(verifier, Ed25519Verifier) or verifier.name != state.origin:
            raise StoreError(f"{store.url}: the stored log key does not belong to {state.origin}")
        self.verifier: Ed25519Verifier = verifier
        self._signer: Ed25519Signer | None = None
        self._known: LogState | None = None
        self._frontier: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()
        self.crash_hook: Callable[[str], None] | None = _crash_hook_from_env()
        self.cosign: CosignHook | None = None
        store.set_crash_hook(self._crash)

    # -- lifecycle -----------------------------------------------------------------------------------
    @classmethod
    def init(cls, origin: str, db: str | Path, *, seed: bytes | None = None) -> Log:
        """Create a log and its Ed25519 key (stored in the evidence tables); refuses an existing one."""
        check_key_name(origin, "origin")
        seed = seed or new_salt()
        signer = Ed25519Signer.from_seed(origin, seed)
        note = sign_checkpoint(Checkpoint(origin, 0, EMPTY_ROOT), signer).to_bytes()
        state = LogState(origin, signer.vkey, 0, EMPTY_ROOT, note)
        store = open_store(db)
        try:
            store.create(state, seed, int(clock.time()))
        except BaseException:
            store.close()
            raise
        return cls(store, state)

    @classmethod
    def open(cls, db: str | Path) -> Log:
        store = open_store(db)
        try:
            if not store.exists():
                raise StoreError(f"{store.url}: no log here (create one with 'modeltrace ledger init')")
            return cls(store, store.state())
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _crash(self, step: str) -> None:
        if self.crash_hook is not None:
            self.crash_hook(step)

    def _log_signer(self) -> Ed25519Signer:
        if self._signer is None:
            seed = self.store.evidence_key("log", self.origin)
            if seed is None:
                raise StoreError(f"{self.store.url}: this database does not hold the log's signing key")
            signer = Ed25519Signer.from_seed(self.origin, seed)
            if signer.vkey != self.vkey:
                raise StoreError(f"{self.store.url}: the stored signing key does not match the log's vkey")
            self._signer = signer
        return self._signer

    # -- reading -------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.store.state().size

    def state(self) -> LogState:
        return self.store.state()

    def leaf(self, index: int) -> Leaf:
        row = self.store.entry(index)
        if row is None:
            raise NotFoundError(f"{self.origin}: no entry {index} (the log has {self.size})")
        return parse_leaf(row.leaf, f"entry {index}")

    def ref(self, index: int) -> Ref:
        return Ref(self.origin, index, self.leaf(index).leaf_hash)

    def resolve(self, text: str) -> Ref:
        """A reference from ``N`` (an entry of this log) or ``<origin>#<index>#<leaf hash>``."""
        if text.isdigit():
            return self.ref(int(text))
        return Ref.parse(text)

    def policy_text(self) -> str:
        """A tlog-policy trusting this log's key, with no witness quorum (the witness step adds one)."""
        return f"log {self.vkey}\nquorum none\n"

    def _read_tile(self, level: int, index: int) -> tuple[int, bytes] | None:
        row = self.store.tile(level, index)
        return None if row is None else (row.width, row.data)

    def subtrees(self, size: int | None = None) -> CachedSubtrees:
        return CachedSubtrees(TileSubtrees(self.size if size is None else size, tile_reader(self._read_tile)))

    def read_path(self, path: str, size: int | None = None) -> bytes | None:
        """The bytes at a C2SP tlog-tiles path (``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]``).

        ``None`` when the tree of ``size`` (default: now) has no such tile at that width. Narrower
        partial widths are served as prefixes: tiles only grow at their right end.
        """
        ref = parse_tile_path(path)
        size = self.size if size is None else size
        if isinstance(ref, EntryBundleRef):
            if ref.width > tile_width(0, ref.index, size):
                return None
            start = ref.index * TILE_WIDTH
            rows = list(self.store.entries(start, start + ref.width))
            if len(rows) != ref.width:
                raise MissingTileError(ref.path)
            return build_entry_bundle([row.leaf for row in rows])
        if ref.width > tile_width(ref.level, ref.index, size):
            return None
        row = self.store.tile(ref.level, ref.index)
        if row is None or row.width < ref.width:
            raise MissingTileError(ref.path)
        return row.data[: ref.width * 32]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        subtree = self.subtrees(size)
        return inclusion_proof(index, subtree.size, subtree)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        subtree = self.subtrees(new)
        return consistency_proof(old, subtree.size, subtree)

    # -- appending -----------------------------------------------------------------------------------
    def append(self, statements: Sequence[SignedStatement | Leaf | bytes]) -> list[Receipt]:
        """Append a batch atomically; one receipt per statement, in order (duplicates get the old index)."""
        if not 0 < len(statements) <= MAX_BATCH:
            raise EntryError("batch", f"{len(statements)} statements; a batch holds 1 to {MAX_BATCH}")
        items = [_coerce(item, position) for position, item in enumerate(statements)]
        with self._lock:
            self.store.acquire_writer()
            signer = self._log_signer()
            with self.store.write() as tx:
                old = tx.state()
                self._crash("locked")
                if self._known is not None and (old.size, old.root) != (self._known.size, self._known.root):
                    raise WriterConflictError(
                        f"{self.store.url}: the log changed from size {self._known.size} to {old.size} "
                        "behind this writer; refusing to sign"
                    )
                plan = self._sequence(tx, old, items)
                new = old
                tiles: dict[TileRef, bytes] = {}
                if plan.new:
                    tx.add_entries(plan.new)
                    tx.add_evidence(plan.secrets, plan.blobs)
                    self._crash("evidence")
                    tx.put_keys(list(plan.keys.values()))
                    tiles = grow_tiles(tx.tile, old.size, [entry.leaf_hash for entry in plan.new])
                    tx.put_tiles(tiles)
                    self._crash("tiles")
                subtree = self._writer_subtrees(tx, old, old.size + len(plan.new), tiles)
                if plan.new:
                    new = self._sign_new_state(old, subtree, signer)
                    self._crash("signed")
                    tx.add_checkpoint(new.size, new.checkpoint)
                    tx.advance(old, new)
                    self._crash("checkpoint")
                elif plan.secrets or plan.blobs:
                    tx.add_evidence(plan.secrets, plan.blobs)
                # Proofs from the same subtree cache the root was computed with; returned after commit.
                receipts = self._receipts(plan, new, subtree)
            self._crash("committed")
            self._known = new
            self._frontier = subtree.frontier()
        if plan.new and self.cosign is not None:
            self._gather_cosignatures(old, new)
        return receipts

    def _sequence(self, tx: WriteTransaction, old: LogState, items: Sequence[SignedStatement]) -> _Plan:
        plan = _Plan()
        registry = KeyRegistry(tx.key_records())
        batch: dict[int, Leaf] = {}
        pending: dict[bytes, int] = {}
        stored: dict[int, Leaf | None] = {}
        known = tx.find_many([item.leaf.leaf_hash for item in items])

        def lookup(index: int) -> Leaf | None:
            if index in batch:
                return batch[index]
            if index not in stored:
                row = tx.entry(index)
                stored[index] = None if row is None else parse_leaf(row.leaf, f"entry {index}")
            return stored[index]

        for position, item in enumerate(items):
            leaf = item.leaf
            secrets, blobs = _evidence_rows(item)
            existing = pending.get(leaf.leaf_hash, known.get(leaf.leaf_hash))
            if existing is not None:
                plan.acks.append((existing, leaf.leaf_hash, True))
                plan.secrets.extend(secrets)
                plan.blobs.extend(blobs)
                continue
            index = old.size + len(plan.new)
            where = f"statement {position} ({leaf.type})"
            for record in validate_entry(leaf, index, self.origin, registry, lookup, where):
                plan.keys[record.kid] = record
            plan.new.append(
                NewEntry(index, leaf.raw, leaf.leaf_hash, leaf.type, leaf.kid, leaf.stmt, leaf.subj)
            )
            plan.acks.append((index, leaf.leaf_hash, False))
            plan.secrets.extend(secrets)
            plan.blobs.extend(blobs)
            pending[leaf.leaf_hash] = index
            batch[index] = leaf
        return plan

    def _writer_subtrees(
        self, tx: WriteTransaction, old: LogState, size: int, tiles: dict[TileRef, bytes]
    ) -> CachedSubtrees:
        """Subtree hashes of the tree of ``size`` inside the write: fresh tiles, then stored ones.

        Seeded with the previous batch's frontier (see :meth:`CachedSubtrees.frontier`) when this
        writer committed the old state itself; anything wrong in it would fail the consistency check
        against the stored old root before a checkpoint is signed.
        """

        def stored(level: int, index: int) -> tuple[int, bytes] | None:
            data = tx.tile(level, index)
            return None if data is None else (len(data) // 32, data)

        known = self._frontier if self._known is not None and self._known.size == old.size else None
        return CachedSubtrees(TileSubtrees(size, tile_reader(stored, tiles)), known)

    def _sign_new_state(self, old: LogState, subtree: CachedSubtrees, signer: Ed25519Signer) -> LogState:
        size = subtree.size
        root = tree_root(size, subtree)
        if old.size:
            # Never sign a tree head that does not extend the last one (tlog-checkpoint): checked.
            verify_consistency(old.size, size, consistency_proof(old.size, size, subtree), old.root, root)
        note = sign_checkpoint(Checkpoint(self.origin, size, root), signer).to_bytes()
        return LogState(self.origin, self.vkey, size, root, note)

    def _receipts(self, plan: _Plan, state: LogState, subtree: CachedSubtrees) -> list[Receipt]:
        proofs = inclusion_proofs([index for index, _, _ in plan.acks], state.size, subtree)
        return [
            Receipt(index, digest, duplicate, state.size, state.root, state.checkpoint, tuple(proof))
            for (index, digest, duplicate), proof in zip(plan.acks, proofs, strict=True)
        ]

    def _gather_cosignatures(self, old: LogState, new: LogState) -> None:
        assert self.cosign is not None
        proof = self.consistency_proof(old.size, new.size) if old.size else []
        cosigned = self.cosign(new.checkpoint, old.size, proof)
        if cosigned is not None:
            signed = open_checkpoint(cosigned, [self.verifier], origin=self.origin)
            if signed.checkpoint.size != new.size or signed.checkpoint.root != new.root:
                raise StoreError("the cosigned checkpoint is not the one the log signed")
            self.store.add_cosigned(new.size, cosigned)

    def published_checkpoint(self, state: LogState | None = None) -> bytes:
        """The latest checkpoint with whatever cosignatures are stored for it (one keyed lookup)."""
        state = state or self.store.state()
        row = self.store.checkpoint(state.size)
        return row.cosigned if row is not None and row.cosigned is not None else state.checkpoint

    def witnessed_checkpoint(
        self, policy: Policy, covering: int, *, now: int | None = None
    ) -> tuple[int, bytes]:
        """(size, note) of the latest checkpoint that holds entry ``covering`` and that ``policy`` accepts.

        Accepted means what an offline checker will require (:func:`check_bundle`): signed by a log key
        of the policy, and cosigned, at ``now`` (default: the current time), by witnesses meeting its
        quorum. A checkpoint whose witnesses were unreachable stays in the log unwitnessed; a proof
        against it would fail the check, so an older one that met the quorum is used instead.
        :class:`QuorumError` when none covers the entry.
        """
        now = int(clock.time()) if now is None else now
        state = self.store.state()
        if not 0 <= covering < state.size:
            raise NotFoundError(f"{self.origin}: no entry {covering} (the log has {state.size})")
        latest = (state.size, self.published_checkpoint(state))
        older = (
            (row.size, row.cosigned)
            for row in self.store.cosigned_checkpoints(below=state.size, above=covering)
        )
        for size, note in itertools.chain([latest], older):
            if note is not None and _accepted(note, policy, self.origin, now):
                return size, note
        raise QuorumError(
            f"{self.origin}: no checkpoint covering entry {covering} is cosigned to the policy's quorum "
            f"{policy.quorum!r} (the latest, of size {state.size}, is not); gather cosignatures, then prove"
        )

    # -- proofs --------------------------------------------------------------------------------------
    def tlog_proof(
        self, index: int, state: LogState | None = None, *, at: tuple[int, bytes] | None = None
    ) -> bytes:
        """A C2SP tlog-proof of entry ``index`` whose ``extra`` line carries the leaf.

        Against the latest checkpoint (with its cosignatures), or ``at`` = (size, note) of an earlier one.
        """
        if at is None:
            state = state or self.store.state()
            at = (state.size, self.published_checkpoint(state))
        size, note = at
        row = self.store.entry(index)
        if row is None or index >= size:
            raise NotFoundError(f"{self.origin}: no entry {index} in the tree of size {size}")
        proof = self.inclusion_proof(index, size)
        return format_tlog_proof(index, proof, note, extra=row.leaf)

    def key_chain(self, kid: str) -> list[int]:
        """Indices of the org.key entries that introduced ``kid``, back to its self-signed registration."""
        records = {record.kid: record for record in self.store.key_records()}
        chain: list[int] = []
        current: str | None = kid
        while current is not None:
            record = records.get(current)
            if record is None or record.introduced in chain:
                break
            chain.append(record.introduced)
            introducing = self.leaf(record.introduced)
            current = introducing.kid if introducing.pub.get("action") == "rotate" else None
        return chain

    def prove(
        self,
        index: int,
        *,
        disclose: Iterable[str] = (),
        policy: Policy | None = None,
        now: int | None = None,
    ) -> ProofBundle:
        """An offline bundle: the entry's tlog-proof, its signing key's chain, optional disclosures.

        Without ``policy``, against the latest checkpoint as published. With one, against the latest
        checkpoint that meets its quorum (:meth:`witnessed_checkpoint`), so the bundle passes
        :meth:`check` under that policy; :class:`QuorumError` if no witnessed checkpoint covers it.
        """
        if policy is None:
            state = self.store.state()
            at = (state.size, self.published_checkpoint(state))
        else:
            at = self.witnessed_checkpoint(policy, index, now=now)
        entry = self.tlog_proof(index, at=at)
        leaf = self.leaf(index)
        keys = tuple(self.tlog_proof(i, at=at) for i in self.key_chain(leaf.kid) if i != index)
        disclosures = tuple(self.disclose(index, item) for item in disclose)
        return ProofBundle(self.origin, entry, keys, disclosures)

    @staticmethod
    def check(
        bundle: ProofBundle | bytes, policy: Policy | str | bytes, *, now: int | None = None
    ) -> CheckedBundle:
        """Verify a :meth:`prove` bundle offline — no database, no network — against a tlog-policy."""
        parsed = bundle if isinstance(bundle, ProofBundle) else ProofBundle.from_bytes(bundle)
        trusted = policy if isinstance(policy, Policy) else parse_policy(policy)
        return check_bundle(parsed, trusted, now=now)

    # -- evidence: disclosure and shredding ---------------------------------------------------------
    def disclose(self, index: int, item: str) -> Disclosure:
        """Reveal one committed ``field``, ``file:<path>`` or ``record:<n>`` of an entry, with its proof."""
        leaf = self.leaf(index)
        if item.startswith("file:"):
            disclosure = self._disclose_file(index, leaf, item[len("file:") :])
        elif item.startswith("record:"):
            disclosure = self._disclose_record(index, leaf, item[len("record:") :])
        else:
            disclosure = self._disclose_field(index, leaf, item)
        verify_disclosure(leaf, disclosure)  # never hand out a disclosure that would not check
        return disclosure

    def _blob(self, leaf: Leaf, kind: str, index: int) -> bytes:
        data = self.store.blob(leaf.stmt, kind)
        if data is None:
            raise DisclosureError(
                f"entry {index}: the evidence store holds no {kind} for it (shredded or foreign)"
            )
        return data

    def _disclose_field(self, index: int, leaf: Leaf, name: str) -> Disclosure:
        if name not in leaf.committed_fields:
            raise NotFoundError(
                f"entry {index} commits no field {name!r} (it commits {list(leaf.committed_fields)})"
            )
        secrets = {row.name: row for row in self.store.secrets(leaf.stmt)}
        row = secrets.get(name)
        if row is None:
            raise DisclosureError(f"entry {index}: the salt of {name!r} was destroyed or is not held here")
        commitments = jcs.loads(self._blob(leaf, "commitments", index), what="commitments")
        tree = FieldTree({field: bytes.fromhex(value) for field, value in commitments.items()})
        position, proof = tree.proof(name)
        return Disclosure(
            index, "field", name, jcs.loads(row.value), row.salt, position, len(tree.names), tuple(proof)
        )

    def _disclose_file(self, index: int, leaf: Leaf, path: str) -> Disclosure:
        files = DatasetFiles.from_evidence(self._blob(leaf, "files", index))
        try:
            position = files.position(path)
        except KeyError:
            raise NotFoundError(f"entry {index}: the dataset has no file {path!r}") from None
        item = files.files[position]
        value = {"path": item.path, "size": item.size, "sha256": item.sha256}
        return Disclosure(
            index,
            "file",
            path,
            value,
            path_salt(files.secret, path),
            position,
            len(files.files),
            tuple(files.tree().proof(position)),
        )

    def _disclose_record(self, index: int, leaf: Leaf, number: str) -> Disclosure:
        leaves = AccessBatch.leaves_from_evidence(self._blob(leaf, "records", index))
        if not number.isdigit() or int(number) >= len(leaves):
            raise NotFoundError(f"entry {index}: no record {number!r} (the batch has {len(leaves)})")
        position = int(number)
        tree = AccessBatch(tuple(leaves), {}).tree()
        return Disclosure(
            index,
            "record",
            number,
            jcs.loads(leaves[position]),
            None,
            position,
            len(leaves),
            tuple(tree.proof(position)),
        )

    def shred(self, index: int, item: str) -> int:
        """Crypto-shred one committed field's salt and value, or an entry's ``files``/``records`` evidence."""
        leaf = self.leaf(index)
        if item in ("files", "records", "tensors", "oms", "attestation"):
            return self.store.shred(stmt=leaf.stmt, kind=item)
        if item not in leaf.committed_fields:
            raise NotFoundError(f"entry {index} commits no field {item!r}")
        return self.store.shred(stmt=leaf.stmt, name=item)

    def pseudonym_key(self, org: str, period: str, *, create: bool = True) -> bytes:
        """The organisation's pseudonym key for ``period`` (YYYY-MM), created on first use."""
        name = f"{org}/{period}"
        existing = self.store.evidence_key("pseudonym", name)
        if existing is not None:
            return existing
        if not create:
            raise DisclosureError(f"the pseudonym key of {org} for {period} was destroyed or never existed")
        return self.store.put_evidence_key("pseudonym", name, new_salt(), int(clock.time()))

    def pseudonym(self, org: str, period: str, actor: str) -> str:
        """Re-identify: the pseudonym ``actor`` had in ``period``, while the key still exists."""
        return pseudonym(self.pseudonym_key(org, period, create=False), actor)

    def shred_pseudonym_key(self, org: str, period: str) -> int:
        return self.store.shred(key=("pseudonym", f"{org}/{period}"))

    # -- fsck ----------------------------------------------------------------------------------------
    def verify(self, *, evidence: bool = False, max_problems: int = 1000) -> VerifyReport:
        """Re-derive every leaf hash, tile, root and signature from storage; report every mismatch."""
        return _Verifier(self, max_problems).run(evidence)


def _accepted(note: bytes, policy: Policy, origin: str, now: int) -> bool:
    """Whether ``note`` passes the checkpoint part of :func:`verify_tlog_proof` under ``policy``."""
    try:
        signed = open_checkpoint(note, policy.log_verifiers, policy.witness_verifiers, origin=origin)
    except LedgerError:
        return False
    return policy.satisfied_by(policy.witness_names(signed.cosigners(now=now)))


class _Verifier:
    def __init__(self, log: Log, max_problems: int) -> None:
        self.log = log
        self.store = log.store
        self.max_problems = max_problems
        self.state = self.store.state()
        self.report = VerifyReport(self.state.origin, self.state.size)
        self.tree = InMemoryTree()

    def problem(self, text: str) -> None:
        if len(self.report.problems) < self.max_problems:
            self.report.problems.append(text)

    def run(self, evidence: bool) -> VerifyReport:
        registry = KeyRegistry()
        self._entries(registry)
        self._keys(registry)
        self._tiles()
        self._checkpoints()
        if evidence:
            self._evidence()
        return self.report

    def _entries(self, registry: KeyRegistry) -> None:
        origin, size = self.state.origin, self.state.size
        facts: dict[int, _Facts] = {}
        expected_dedup: dict[bytes, int] = {}
        expected_subjects: set[tuple[str, int]] = set()
        for row in self.store.entries(0, size):
            if row.index != self.tree.size:
                self.problem(f"entry {self.tree.size} is missing")
                break
            digest = leaf_hash(row.leaf)
            where = f"entry {row.index}"
            try:
                leaf = parse_leaf(row.leaf, where)
                validate_entry(leaf, row.index, origin, registry, facts.get, where)
                if (row.type, row.kid, row.stmt) != (leaf.type, leaf.kid, leaf.stmt):
                    self.problem(f"{where}: its type/kid/stmt columns do not match the leaf")
                facts[row.index] = _Facts(digest, leaf.type, leaf.kid)
                expected_subjects.update((subject, row.index) for subject in leaf.subj)
            except LedgerError as error:
                self.problem(str(error))
                facts[row.index] = _Facts(digest, "", "")
            if digest in expected_dedup:
                self.problem(f"{where}: same leaf as entry {expected_dedup[digest]}")
            expected_dedup[digest] = row.index
            self.tree.append(digest)
        self.report.entries = self.tree.size
        if self.tree.size < size:
            self.problem(
                f"the log state says {size} entries but only {self.tree.size} are stored in sequence"
            )
        for row in self.store.entries(size, 2**62):
            self.problem(f"entry {row.index} is stored beyond the signed tree size {size}")
            break
        stored_dedup = dict(self.store.dedup())
        if stored_dedup != expected_dedup:
            wrong = sorted(set(stored_dedup.items()) ^ set(expected_dedup.items()), key=lambda kv: kv[1])
            self.problem(f"dedup table disagrees with the entries at index {wrong[0][1]}")
        stored_subjects = set(self.store.subjects())
        if stored_subjects != expected_subjects:
            wrong_subject = sorted(stored_subjects ^ expected_subjects, key=lambda pair: pair[1])[0]
            self.problem(f"subjects table disagrees with entry {wrong_subject[1]}")

    def _keys(self, registry: KeyRegistry) -> None:
        stored = {record.kid: record for record in self.store.key_records()}
        self.report.keys = len(registry.records)
        if stored != registry.records:
            kid = sorted(
                set(stored) ^ set(registry.records)
                or {k for k in stored if stored[k] != registry.records.get(k)}
            )[0]
            self.problem(f"key registry disagrees with the org.key entries about {kid}")

    def _tiles(self) -> None:
        size = self.tree.size
        expected = {(tile.level, tile.index): tile for tile in tiles_for_size(size)}
        seen: set[tuple[int, int]] = set()
        for row in self.store.tiles():
            seen.add((row.level, row.index))
            tile = expected.get((row.level, row.index))
            if tile is None:
                self.problem(f"tile {row.level}/{row.index} is not part of a tree of {size} entries")
                continue
            if row.width != tile.width:
                self.problem(f"{tile.path}: stored width {row.width}, expected {tile.width}")
                continue
            if row.data != tile_content(tile, self.tree.subtree):
                self.problem(f"{tile.path}: stored hashes do not match the entries")
                continue
            self.report.tiles += 1
        for position in sorted(expected.keys() - seen):
            self.problem(f"{expected[position].path} is missing")

    def _checkpoints(self) -> None:
        origin, verifier = self.state.origin, self.log.verifier
        previous: Checkpoint | None = None
        last_note: bytes | None = None
        for row in self.store.checkpoints():
            where = f"checkpoint of size {row.size}"
            last_note = row.note
            try:
                checkpoint = open_checkpoint(row.note, [verifier], origin=origin).checkpoint
                if checkpoint.size != row.size:
                    raise EntryError(where, f"the signed note says size {checkpoint.size}")
                if checkpoint.size > self.tree.size:
                    raise EntryError(where, f"larger than the {self.tree.size} stored entries")
                if checkpoint.root != self.tree.root(checkpoint.size):
                    raise EntryError(where, "its root does not match the stored entries")
                if previous is not None and previous.size:
                    proof = self.tree.consistency_proof(previous.size, checkpoint.size)
                    verify_consistency(previous.size, checkpoint.size, proof, previous.root, checkpoint.root)
                if row.cosigned is not None:
                    cosigned = open_checkpoint(row.cosigned, [verifier], origin=origin)
                    if cosigned.checkpoint != checkpoint:
                        raise EntryError(where, "its cosigned copy is of another tree")
                previous = checkpoint
                self.report.checkpoints += 1
            except LedgerError as error:
                self.problem(f"{where}: {error}")
        if last_note is None or last_note != self.state.checkpoint:
            self.problem("the log state's checkpoint is not the latest stored checkpoint")
        if previous is None or previous.size != self.state.size or previous.root != self.state.root:
            self.problem(f"the log state (size {self.state.size}) does not match the latest valid checkpoint")

    def _evidence(self) -> None:
        for row in self.store.entries(0, self.state.size):
            where = f"evidence of entry {row.index}"
            try:
                leaf = parse_leaf(row.leaf, where)
            except LedgerError:
                continue
            try:
                self._check_entry_evidence(leaf, where)
            except (LedgerError, KeyError, ValueError, TypeError) as error:
                self.problem(f"{where}: {error}")

    def _check_entry_evidence(self, leaf: Leaf, where: str) -> None:
        if leaf.committed_fields:
            blob = self.store.blob(leaf.stmt, "commitments")
            if blob is not None:
                commitments = {k: bytes.fromhex(v) for k, v in jcs.loads(blob, what=where).items()}
                if FieldTree(commitments).root != leaf.commit_root:
                    raise EntryError(where, "the stored commitments do not rebuild commit.root")
                for secret in self.store.secrets(leaf.stmt):
                    if commitment(secret.salt, jcs.loads(secret.value)) != commitments.get(secret.name):
                        raise EntryError(where, f"the stored salt and value of {secret.name!r} do not match")
                    self.report.evidence += 1
        files = self.store.blob(leaf.stmt, "files") if leaf.type == "dataset.manifest" else None
        if (
            files is not None
            and DatasetFiles.from_evidence(files).tree().root.hex() != leaf.pub["files_root"]
        ):
            raise EntryError(where, "the stored file list does not rebuild files_root")
        records = self.store.blob(leaf.stmt, "records") if leaf.type == "access.event" else None
        if records is not None:
            tree = AccessBatch(tuple(AccessBatch.leaves_from_evidence(records)), {}).tree()
            if tree.root.hex() != leaf.pub["batch_root"]:
                raise EntryError(where, "the stored records do not rebuild batch_root")
