"""The ledger's protocol layer: RFC 6962/9162 proofs and the C2SP transparency-log formats.

Pure functions and small classes, no storage and no network: Merkle inclusion and consistency proofs
(:mod:`.proofs`), signed notes and cosignatures (:mod:`.note`), checkpoints (:mod:`.checkpoint`), tiles
and entry bundles (:mod:`.tiles`), witness policies (:mod:`.policy`) and offline proofs
(:mod:`.tlog_proof`). Everything that parses input treats it as hostile and raises a
:class:`LedgerError` subclass.
"""

from modeltrace.ledger.checkpoint import (
    Checkpoint,
    Cosignature,
    SignedCheckpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from modeltrace.ledger.errors import (
    FormatError,
    LedgerError,
    MissingTileError,
    ProofError,
    QuorumError,
    RootMismatchError,
    SignatureError,
)
from modeltrace.ledger.note import (
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    Signature,
    Signer,
    VerifiedNote,
    VerifiedSignature,
    Verifier,
    key_id,
    parse_note,
    parse_skey,
    parse_vkey,
    sign_note,
    verify_note,
)
from modeltrace.ledger.policy import Policy, parse_policy
from modeltrace.ledger.proofs import (
    InMemoryTree,
    SubtreeHash,
    consistency_proof,
    inclusion_proof,
    root_from_inclusion_proof,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from modeltrace.ledger.tiles import (
    EntryBundleRef,
    TileRef,
    TileSubtrees,
    build_entry_bundle,
    changed_tiles,
    new_tiles,
    parse_entry_bundle,
    parse_tile,
    parse_tile_path,
)
from modeltrace.ledger.tlog_proof import TlogProof, VerifiedTlogProof, parse_tlog_proof, verify_tlog_proof

__all__ = [
    "Checkpoint",
    "Cosignature",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Ed25519Signer",
    "Ed25519Verifier",
    "EntryBundleRef",
    "FormatError",
    "InMemoryTree",
    "LedgerError",
    "MissingTileError",
    "Note",
    "Policy",
    "ProofError",
    "QuorumError",
    "RootMismatchError",
    "Signature",
    "SignatureError",
    "SignedCheckpoint",
    "Signer",
    "SubtreeHash",
    "TileRef",
    "TileSubtrees",
    "TlogProof",
    "VerifiedNote",
    "VerifiedSignature",
    "VerifiedTlogProof",
    "Verifier",
    "build_entry_bundle",
    "changed_tiles",
    "consistency_proof",
    "inclusion_proof",
    "key_id",
    "new_tiles",
    "open_checkpoint",
    "parse_checkpoint",
    "parse_entry_bundle",
    "parse_note",
    "parse_policy",
    "parse_skey",
    "parse_tile",
    "parse_tile_path",
    "parse_tlog_proof",
    "parse_vkey",
    "root_from_inclusion_proof",
    "sign_checkpoint",
    "sign_note",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
    "verify_note",
    "verify_tlog_proof",
]
