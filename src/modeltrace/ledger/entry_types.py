"""The ``aiprov/1`` entry types: which public fields each carries, their syntax, and what they reference.

Every type is a table of fields with a validator each; a field unknown to its type is refused, so a
signer cannot smuggle data into ``pub`` that a privacy scan would not expect, and a parser never meets
a shape it has not been written for. A field listed as *committable* may appear either in clear in
``pub`` or as a salted commitment (its name in ``commit.fields``), never both: Data & Trust Alliance
provenance fields such as geography or the consent reference are public or confidential per dataset.

References to other entries are ``{"log", "index", "leaf"}`` objects; the table says which entry types
each may point at, and the log checks local references against its own entries when appending.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from modeltrace.ledger.errors import FormatError
from modeltrace.ledger.iso3166 import is_country_code
from modeltrace.ledger.jcs import MAX_SAFE_INTEGER
from modeltrace.ledger.keys import check_org
from modeltrace.ledger.log_errors import EntryError
from modeltrace.ledger.spdx_expression import parse_license_expression

Validator = Callable[[object, str], None]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_GIT_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,6})?")
_DATE = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])")
_PERIOD = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])")
_PURL = re.compile(r"pkg:[a-zA-Z][a-zA-Z0-9.+-]*/[^\s]{1,400}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")
_KID = re.compile(r"[^+\s]{1,255}\+[0-9a-f]{8}")
_CONTROL = re.compile(r"[\x00-\x1f]")
MAX_TEXT = 512
MAX_LIST = 32


def _fail(where: str, problem: str) -> EntryError:
    return EntryError(where, problem)


def text(max_length: int = MAX_TEXT) -> Validator:
    def check(value: object, where: str) -> None:
        if not isinstance(value, str) or not value:
            raise _fail(where, "must be a non-empty string")
        if len(value) > max_length:
            raise _fail(where, f"longer than {max_length} characters")
        if _CONTROL.search(value) is not None:
            raise _fail(where, "contains a control character")

    return check


def pattern(regex: re.Pattern[str], description: str) -> Validator:
    def check(value: object, where: str) -> None:
        if not isinstance(value, str) or regex.fullmatch(value) is None:
            raise _fail(where, f"{str(value)[:80]!r} is not {description}")

    return check


def integer(minimum: int = 0, maximum: int = MAX_SAFE_INTEGER) -> Validator:
    def check(value: object, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise _fail(where, f"must be an integer in [{minimum}, {maximum}]")

    return check


def one_of(*values: str) -> Validator:
    allowed = frozenset(values)

    def check(value: object, where: str) -> None:
        if value not in allowed:
            raise _fail(where, f"{str(value)[:40]!r} is not one of {', '.join(sorted(allowed))}")

    return check


def list_of(item: Validator, max_items: int = MAX_LIST, *, unique: bool = True) -> Validator:
    def check(value: object, where: str) -> None:
        if not isinstance(value, list) or len(value) > max_items:
            raise _fail(where, f"must be a list of at most {max_items} items")
        for position, element in enumerate(value):
            item(element, f"{where}[{position}]")
        if unique and len({repr(element) for element in value}) != len(value):
            raise _fail(where, "lists an item twice")

    return check


def mapping(key: Validator, value: Validator, max_items: int = 64) -> Validator:
    def check(candidate: object, where: str) -> None:
        if not isinstance(candidate, dict) or len(candidate) > max_items:
            raise _fail(where, f"must be an object of at most {max_items} members")
        for name, element in candidate.items():
            key(name, f"{where} key")
            value(element, f"{where}.{name}")

    return check


def country(value: object, where: str) -> None:
    if not isinstance(value, str) or not is_country_code(value):
        raise _fail(where, f"{str(value)[:20]!r} is not an ISO 3166-1 alpha-2 (or 3166-2) code")


def spdx_license(value: object, where: str) -> None:
    if not isinstance(value, str):
        raise _fail(where, "must be an SPDX license expression string")
    try:
        normalised = parse_license_expression(value)
    except FormatError as error:
        raise _fail(where, error.problem) from None
    if normalised != value:
        raise _fail(where, f"write the expression as {normalised!r}")


def organisation(value: object, where: str) -> None:
    try:
        check_org(value)  # type: ignore[arg-type]
    except FormatError as error:
        raise _fail(where, error.problem) from None


def ref(value: object, where: str) -> None:
    if not isinstance(value, dict) or set(value) != {"log", "index", "leaf"}:
        raise _fail(where, "a reference is {log, index, leaf}")
    text(255)(value["log"], f"{where}.log")
    integer()(value["index"], f"{where}.index")
    hex64(value["leaf"], f"{where}.leaf")


hex64 = pattern(_HEX64, "a lower-case hex SHA-256")
git_commit = pattern(_GIT_COMMIT, "a 40- or 64-digit lower-case hex git commit")
decimal = pattern(_DECIMAL, "a non-negative decimal such as 12.5")
date = pattern(_DATE, "a date YYYY-MM-DD")
period = pattern(_PERIOD, "a month YYYY-MM")
purl = pattern(_PURL, "a package URL (pkg:type/namespace/name@version)")
digest = pattern(_DIGEST, "sha256:<64 lower-case hex digits>")
token = pattern(_TOKEN, "a short identifier")
kid = pattern(_KID, "a key id <org>+<8 hex digits>")
presence = one_of("yes", "no", "noAssertion")
mining_permission = one_of("allowed", "notAllowed", "constrained")


@dataclass(frozen=True)
class Field:
    """A public field: its validator, whether it is required, and the entry types a reference targets."""

    check: Validator
    required: bool = False
    targets: tuple[str, ...] = ()
    committable: bool = False
    many: bool = False


def req(check: Validator, *targets: str) -> Field:
    return Field(check, True, targets)


def opt(check: Validator, *targets: str) -> Field:
    return Field(check, False, targets)


def refs(required: bool, max_items: int, *targets: str) -> Field:
    """A list of references to entries of the ``targets`` types."""
    return Field(list_of(ref, max_items), required, targets, many=True)


def either(check: Validator) -> Field:
    """Optional and committable: in clear in ``pub`` or as a commitment, the signer chooses."""
    return Field(check, False, (), True)


@dataclass(frozen=True)
class EntryType:
    name: str
    fields: Mapping[str, Field]
    #: committed field names beyond the committable public fields (values never public)
    secret_fields: frozenset[str] = frozenset()
    required_secrets: frozenset[str] = frozenset()
    needs_subject: bool = False
    check: Callable[[Mapping[str, object], frozenset[str], str], None] | None = None

    def committable(self, name: str) -> bool:
        spec = self.fields.get(name)
        return name in self.secret_fields or (spec is not None and spec.committable)

    def refs(self) -> list[tuple[str, tuple[str, ...], bool]]:
        """(field name, target types, is a list) for every reference field."""
        return [(name, spec.targets, spec.many) for name, spec in self.fields.items() if spec.targets]


_TIME = req(integer())

RUN_START, CHECKPOINT, RUN_END, DATASET, RELEASE = (
    "training.run.start",
    "checkpoint",
    "training.run.end",
    "dataset.manifest",
    "release",
)
ANY_TYPE = (
    "org.key",
    DATASET,
    RUN_START,
    CHECKPOINT,
    RUN_END,
    "access.event",
    RELEASE,
    "attestation",
    "correction",
    "revocation",
)


def _org_key_check(pub: Mapping[str, object], committed: frozenset[str], where: str) -> None:
    action = pub.get("action")
    needed = {
        "register": {"vkey", "alg", "valid_from"},
        "rotate": {"vkey", "alg", "valid_from", "supersedes", "pop"},
        "revoke": {"target"},
    }[str(action)]
    allowed = needed | {"action", "org", "time", "reason"}
    missing = sorted(needed - set(pub))
    if missing:
        raise _fail(where, f"org.key {action} needs {', '.join(missing)}")
    extra = sorted(set(pub) - allowed)
    if extra:
        raise _fail(where, f"org.key {action} does not take {', '.join(extra)}")


def _geography() -> Field:
    return either(list_of(country, 250))


TYPES: dict[str, EntryType] = {
    spec.name: spec
    for spec in (
        EntryType(
            "org.key",
            {
                "time": _TIME,
                "action": req(one_of("register", "rotate", "revoke")),
                "org": req(organisation),
                "vkey": opt(text(255)),
                "alg": opt(one_of("ed25519")),
                "valid_from": opt(integer()),
                "supersedes": opt(kid),
                "pop": opt(pattern(re.compile(r"[A-Za-z0-9+/]{86}=="), "a base64 Ed25519 signature")),
                "target": opt(kid),
                "reason": opt(text()),
            },
            secret_fields=frozenset({"contact"}),
            check=_org_key_check,
        ),
        EntryType(
            DATASET,
            {
                "time": _TIME,
                "urn": req(text(255)),
                "version": req(text(64)),
                "files_root": req(hex64),
                "files": req(integer()),
                "bytes": req(integer()),
                "ignored": opt(integer()),
                "license": req(spdx_license),
                "mining": opt(
                    mapping(
                        one_of(
                            "cawg.ai_training",
                            "cawg.ai_generative_training",
                            "cawg.data_mining",
                            "cawg.ai_inference",
                        ),
                        mining_permission,
                    )
                ),
                "dataset_type": opt(
                    list_of(
                        one_of(
                            "audio",
                            "categorical",
                            "graph",
                            "image",
                            "noAssertion",
                            "numeric",
                            "other",
                            "sensor",
                            "structured",
                            "syntactic",
                            "text",
                            "timeseries",
                            "timestamp",
                            "video",
                        ),
                        14,
                    )
                ),
                "tlp": opt(one_of("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")),
                "origin_geography": _geography(),
                "processing_geography": _geography(),
                "storage_geography": _geography(),
                "collection_method": either(text()),
                "consent_ref": either(text()),
                "confidentiality": either(one_of("public", "internal", "confidential", "restricted")),
                "pets": either(list_of(text(128), 16)),
                "sources": either(list_of(text(), 16)),
                "intended_use": either(text()),
                "issuer": either(text(255)),
                "issue_date": either(date),
                "data_format": either(text(128)),
                "sensitive_pi": either(presence),
                "parents": refs(False, 8, DATASET),
            },
        ),
        EntryType(
            RUN_START,
            {
                "time": _TIME,
                "run_id": req(text(128)),
                "code_commit": req(git_commit),
                "config_digest": req(hex64),
                "image_digest": opt(digest),
                "datasets": refs(True, 16, DATASET),
                "base": opt(ref, CHECKPOINT, RELEASE),
                "compute": opt(text(255)),
            },
            secret_fields=frozenset({"seed", "data_order", "hyperparameters"}),
            required_secrets=frozenset({"seed", "data_order"}),
        ),
        EntryType(
            CHECKPOINT,
            {
                "time": _TIME,
                "run": req(ref, RUN_START),
                "step": req(integer()),
                "tensor_root": req(hex64),
                "tensors": req(integer()),
                "oms_root": req(hex64),
                "files": req(integer(1)),
                "bytes": req(integer()),
                "format": opt(token),
                "prev": opt(ref, CHECKPOINT),
                "data_segment_root": opt(hex64),
            },
            secret_fields=frozenset({"optimizer_digest", "loss"}),
            needs_subject=True,
        ),
        EntryType(
            RUN_END,
            {
                "time": _TIME,
                "run": req(ref, RUN_START),
                "final": req(ref, CHECKPOINT),
                "steps": req(integer()),
                "tokens": opt(integer()),
                "gpu_hours": opt(decimal),
                "energy_kwh": opt(decimal),
                "status": opt(one_of("completed", "failed", "aborted")),
            },
            secret_fields=frozenset({"evals"}),
        ),
        EntryType(
            "access.event",
            {
                "time": _TIME,
                "batch_root": req(hex64),
                "records": req(integer(1)),
                "artifacts": req(list_of(text(300), 16)),
                "by_country": req(mapping(country, integer(), 250)),
                "by_purpose": req(mapping(token, integer(), 64)),
                "periods": req(list_of(period, 12)),
            },
        ),
        EntryType(
            RELEASE,
            {
                "time": _TIME,
                "purl": req(purl),
                "checkpoint": req(ref, CHECKPOINT),
                "license": req(spdx_license),
                "name": opt(text(255)),
                "package_id": opt(text(128)),
                "oms_bundle_digest": opt(hex64),
                "card_digest": opt(hex64),
                "eval_digests": opt(list_of(hex64, 16)),
            },
            needs_subject=True,
        ),
        EntryType(
            "attestation",
            {
                "time": _TIME,
                "digest": req(hex64),
                "predicate_type": req(text(255)),
                "payload_type": opt(text(255)),
                "envelope": opt(one_of("dsse", "statement")),
            },
        ),
        EntryType(
            "correction",
            {
                "time": _TIME,
                "target": req(ref, *ANY_TYPE),
                "reason": req(text()),
                "replacement": opt(ref, *ANY_TYPE),
            },
            secret_fields=frozenset({"details"}),
        ),
        EntryType(
            "revocation",
            {"time": _TIME, "target": req(ref, *ANY_TYPE), "reason": req(text())},
            secret_fields=frozenset({"details"}),
        ),
    )
}


def validate_body(
    entry_type: EntryType, pub: Mapping[str, object], committed: frozenset[str], where: str
) -> None:
    """Check ``pub`` and the committed field names against the type's table."""
    for name in pub:
        if name not in entry_type.fields:
            raise _fail(where, f"{entry_type.name} has no public field {name!r}")
    for name, spec in entry_type.fields.items():
        if name in pub:
            spec.check(pub[name], f"{where}: pub.{name}")
        elif spec.required:
            raise _fail(where, f"{entry_type.name} needs pub.{name}")
    for name in committed:
        if not entry_type.committable(name):
            raise _fail(where, f"{entry_type.name} cannot commit a field named {name!r}")
        if name in pub:
            raise _fail(where, f"field {name!r} is both public and committed")
    missing = sorted(entry_type.required_secrets - committed)
    if missing:
        raise _fail(where, f"{entry_type.name} needs committed {', '.join(missing)}")
    if entry_type.check is not None:
        entry_type.check(pub, committed, where)


def validate_committed_value(entry_type: EntryType, name: str, value: object, where: str) -> None:
    """A confidential value is checked like its public twin before it is hidden behind a commitment."""
    spec = entry_type.fields.get(name)
    if spec is not None:
        spec.check(value, f"{where}: {name}")
