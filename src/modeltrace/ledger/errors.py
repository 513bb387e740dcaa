"""The errors the ledger's protocol layer raises.

Everything here reads hostile input (notes, checkpoints, proofs, tiles, policies from the network or from
an adversary's bundle), so the classes separate *malformed* (the bytes are not in the format at all) from
*does not verify* (well-formed, but a proof or signature fails): a witness answers the first with 400 or
422 and keeps the second as evidence.

::

    LedgerError
    ├── FormatError          malformed note, vkey, checkpoint, tile, bundle, policy or tlog-proof
    ├── ProofError           a Merkle proof is malformed for its sizes or does not verify
    │   └── RootMismatchError   well-formed, but recomputes a different root
    ├── SignatureError       a signed note fails the signed-note verification rules
    │   └── QuorumError         log-signed, but the cosignatures do not meet the policy's quorum
    └── MissingTileError     a tile or entry bundle the tree size requires is not available
"""

from __future__ import annotations

from modeltrace.errors import ModeltraceError


class LedgerError(ModeltraceError):
    """Base class of every error the ledger raises on purpose."""


class FormatError(LedgerError):
    """Input text or bytes are not a well-formed instance of the named format."""

    def __init__(self, what: str, problem: str) -> None:
        self.what = what
        self.problem = problem
        super().__init__(f"{what}: {problem}")


class ProofError(LedgerError):
    """An inclusion or consistency proof is malformed for its sizes, or does not verify."""


class RootMismatchError(ProofError):
    """The proof is well-formed but recomputes a root other than the one claimed."""

    def __init__(self, expected: bytes, calculated: bytes) -> None:
        self.expected = expected
        self.calculated = calculated
        super().__init__(f"calculated root {calculated.hex()} does not match expected root {expected.hex()}")


class SignatureError(LedgerError):
    """A signed note fails verification: a known key's signature is bad, repeated, or none verifies."""


class QuorumError(SignatureError):
    """The note is signed by a trusted log, but its cosignatures do not satisfy the policy's quorum."""


class MissingTileError(LedgerError):
    """A tile (or entry bundle) that the tree size requires could not be read."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"missing tile {path}")
