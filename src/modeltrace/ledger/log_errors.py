"""Errors of the log itself: entries, keys, storage, integrity and disclosures.

They extend the protocol layer's :class:`~modeltrace.ledger.errors.LedgerError` tree::

    LedgerError
    ├── EntryError            a statement or stored leaf is not a valid aiprov/1 entry (names it and why)
    │   └── KeyStateError        signed by an unknown, superseded or revoked organisation key
    ├── StoreError            the database cannot be opened, created or written as asked
    │   └── WriterConflictError  another writer holds the log, or changed it under us
    ├── IntegrityError        ``verify`` found stored bytes that do not re-derive (tampering, corruption)
    ├── DisclosureError       a disclosure is unavailable (shredded, unknown field) or does not verify
    └── NotFoundError         no entry, field or file by that name
"""

from __future__ import annotations

from modeltrace.ledger.errors import LedgerError


class EntryError(LedgerError):
    """A statement or stored leaf is not a valid ``aiprov/1`` entry; ``where`` names it."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class KeyStateError(EntryError):
    """The statement's key is unknown to the log, superseded, revoked, or of another organisation."""


class StoreError(LedgerError):
    """The log's database cannot be opened, created or written as asked."""


class WriterConflictError(StoreError):
    """Another process is the log's writer, or the log changed under this writer (checkpoint CAS failed)."""


class IntegrityError(LedgerError):
    """Stored bytes do not re-derive: an entry, tile or checkpoint was altered or lost."""


class DisclosureError(LedgerError):
    """A committed value cannot be disclosed (destroyed salt, unknown field) or a disclosure fails."""


class NotFoundError(LedgerError):
    """No entry, field, file or record by that name."""
