"""``modeltrace ledger``: the provenance log from the command line, thin over :mod:`modeltrace.ledger.log`.

Every command takes ``--db`` (a SQLite path, default ``ledger.db``, or ``postgresql://…?schema=NAME``;
also ``$MODELTRACE_LEDGER_DB``) and ``--json`` for machines. Statements are signed with an
organisation key file (``--key``, also ``$MODELTRACE_LEDGER_KEY``) created by ``ledger key add``.
Entry references are an index in this log (``12``) or ``<origin>#<index>#<leaf hash>``.

Exit codes: 0 success; 1 a finding — ``verify`` found a problem, ``check`` rejected a bundle; 2 bad
input (one line naming the file or entry and the problem); 3 an internal error.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

from modeltrace.cli.errors import friendly_errors
from modeltrace.errors import ModeltraceError
from modeltrace.ledger import statements
from modeltrace.ledger.access import build_batch, read_access_log
from modeltrace.ledger.bundle import ProofBundle, check_bundle
from modeltrace.ledger.dataset import DEFAULT_IGNORED, read_manifest, scan_folder
from modeltrace.ledger.entries import Draft, Leaf, Ref, sign
from modeltrace.ledger.errors import FormatError, LedgerError
from modeltrace.ledger.exports import FORMATS, export
from modeltrace.ledger.keys import OrgKey
from modeltrace.ledger.log import Log, Receipt
from modeltrace.ledger.model_hash import hash_model
from modeltrace.ledger.policy import parse_policy

EXIT_FINDING = 1

app = typer.Typer(
    help="Tamper-evident, witnessed provenance log of AI training: datasets, runs, checkpoints, access.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
key_app = typer.Typer(help="Organisation signing keys: add, rotate, revoke, list.", no_args_is_help=True)
add_app = typer.Typer(help="Append a signed statement to the log.", no_args_is_help=True)
app.add_typer(key_app, name="key")
app.add_typer(add_app, name="add")

Db = Annotated[str, typer.Option("--db", envvar="MODELTRACE_LEDGER_DB", help="SQLite path or postgresql://…")]
KeyFile = Annotated[
    Path, typer.Option("--key", envvar="MODELTRACE_LEDGER_KEY", help="Organisation private key file.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
DEFAULT_DB = "ledger.db"

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


@contextmanager
def _open(db: str) -> Iterator[Log]:
    log = Log.open(db)
    try:
        yield log
    finally:
        log.close()


def _summary(leaf: Leaf) -> str:
    pub = leaf.pub
    describe: dict[str, Callable[[], str]] = {
        "org.key": lambda: f"{pub['action']} {pub.get('vkey') or pub.get('target')}",
        "dataset.manifest": lambda: f"{pub['urn']}@{pub['version']} {pub['files']} files, {pub['license']}",
        "training.run.start": lambda: f"run {pub['run_id']} code {pub['code_commit'][:12]}",
        "checkpoint": lambda: (
            f"run #{pub['run']['index']} step {pub['step']} tensors {pub['tensor_root'][:12]}"
        ),
        "training.run.end": lambda: (
            f"run #{pub['run']['index']} final #{pub['final']['index']} {pub['steps']} steps"
        ),
        "access.event": lambda: f"{pub['records']} records, {', '.join(pub['periods'])}",
        "release": lambda: f"{pub['purl']} checkpoint #{pub['checkpoint']['index']}",
        "attestation": lambda: f"{pub['predicate_type']} {pub['digest'][:12]}",
        "correction": lambda: f"#{pub['target']['index']}: {pub['reason']}",
        "revocation": lambda: f"#{pub['target']['index']}: {pub['reason']}",
    }
    return describe[leaf.type]()


def _append(log: Log, draft: Draft, key: OrgKey, as_json: bool) -> Receipt:
    signed = sign(draft, key)
    [receipt] = log.append([signed])
    if as_json:
        _print_json({**receipt.to_json(), "type": draft.type, "kid": key.kid, "origin": log.origin})
    else:
        note = " (already in the log)" if receipt.duplicate else ""
        out.print(
            f"[bold]entry {receipt.index}[/bold] {draft.type}{note}  leaf {receipt.leaf_hash.hex()}\n"
            f"  in checkpoint of size {receipt.size}, root {receipt.root.hex()}"
        )
    return receipt


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as error:
        raise FormatError(str(path), f"cannot read: {error.strerror}") from None
    return digest.hexdigest()


def _read_text(path: Path, limit: int = 1 << 20) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FormatError(str(path), f"cannot read: {error.strerror}") from None
    if len(data) > limit:
        raise FormatError(str(path), f"larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(str(path), "not UTF-8 text") from None


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


# -- init, policy -----------------------------------------------------------------------------------------


@app.command()
@friendly_errors
def init(
    origin: Annotated[
        str, typer.Option("--origin", help="The log's identity, e.g. example.org/training-log.")
    ],
    db: Db = DEFAULT_DB,
    policy_out: Annotated[
        Path | None, typer.Option("--policy-out", help="Also write a tlog-policy file.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create a log and its Ed25519 checkpoint key."""
    with Log.init(origin, db) as log:
        if policy_out is not None:
            policy_out.write_text(log.policy_text(), encoding="utf-8")
        if as_json:
            _print_json({"origin": log.origin, "vkey": log.vkey, "db": log.store.url})
        else:
            out.print(f"created log [bold]{log.origin}[/bold] in {log.store.url}\n  vkey {log.vkey}")


@app.command()
@friendly_errors
def policy(db: Db = DEFAULT_DB) -> None:
    """Print a C2SP tlog-policy that trusts this log (for ``check``; add witnesses and a quorum to it)."""
    with _open(db) as log:
        sys.stdout.write(log.policy_text())


# -- keys -------------------------------------------------------------------------------------------------


@key_app.command("add")
@friendly_errors
def key_add(
    org: Annotated[str, typer.Option("--org", help="Organisation: a lower-case domain or an LEI.")],
    key_out: Annotated[Path, typer.Option("--out", help="Where to write the new private key (mode 0600).")],
    contact: Annotated[str | None, typer.Option(help="Contact, committed (not public).")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Generate an organisation key, save it, and register it in the log (self-signed)."""
    with _open(db) as log:
        key = OrgKey.generate(org)
        key.save(key_out)  # first: a registered key whose private half was never saved would be useless
        _append(log, statements.org_key_register(key, contact=contact), key, as_json)
        if not as_json:
            out.print(f"  kid {key.kid}, private key in {key_out}")


@key_app.command("rotate")
@friendly_errors
def key_rotate(
    key: KeyFile,
    key_out: Annotated[Path, typer.Option("--out", help="Where to write the new private key (mode 0600).")],
    contact: Annotated[str | None, typer.Option(help="Contact, committed (not public).")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Replace a key: the old key signs, the new one proves possession; the old one stops signing."""
    old = OrgKey.load(key)
    with _open(db) as log:
        new = OrgKey.generate(old.org)
        new.save(key_out)
        _append(log, statements.org_key_rotate(old, new, contact=contact), old, as_json)
        if not as_json:
            out.print(f"  {old.kid} superseded by {new.kid}, private key in {key_out}")


@key_app.command("revoke")
@friendly_errors
def key_revoke(
    key: KeyFile,
    target: Annotated[str, typer.Option("--target", help="kid to revoke (<org>+<hex id>).")],
    reason: Annotated[str | None, typer.Option(help="Why, public.")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Revoke a key of your organisation (sign with any active key of it, including the one revoked)."""
    signer = OrgKey.load(key)
    with _open(db) as log:
        _append(log, statements.org_key_revoke(signer.org, target, reason=reason), signer, as_json)


@key_app.command("list")
@friendly_errors
def key_list(db: Db = DEFAULT_DB, as_json: AsJson = False) -> None:
    """The organisation keys the log knows, with their status."""
    with _open(db) as log:
        records = log.store.key_records()
    if as_json:
        _print_json([record.__dict__ for record in records])
        return
    table = Table("kid", "org", "status", "introduced", "ended")
    for record in records:
        table.add_row(
            record.kid,
            record.org,
            record.status,
            str(record.introduced),
            "" if record.ended is None else str(record.ended),
        )
    out.print(table)


# -- add --------------------------------------------------------------------------------------------------


@add_app.command("dataset")
@friendly_errors
def add_dataset(
    path: Annotated[Path, typer.Argument(help="Dataset folder, or a JSON / JSON Lines manifest of files.")],
    key: KeyFile,
    license: Annotated[str | None, typer.Option("--license", help="SPDX license expression.")] = None,
    urn: Annotated[str | None, typer.Option(help="Dataset URN (default urn:dataset:<name>).")] = None,
    version: Annotated[str | None, typer.Option(help="Dataset version (default 1).")] = None,
    meta: Annotated[Path | None, typer.Option(help="JSON file of provenance fields (D&TA).")] = None,
    origin_geo: Annotated[list[str] | None, typer.Option("--origin-geo", help="ISO 3166 codes.")] = None,
    processing_geo: Annotated[
        list[str] | None, typer.Option("--processing-geo", help="ISO 3166 codes.")
    ] = None,
    storage_geo: Annotated[list[str] | None, typer.Option("--storage-geo", help="ISO 3166 codes.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="Collection method.")] = None,
    consent_ref: Annotated[
        str | None, typer.Option("--consent-ref", help="Consent documentation reference.")
    ] = None,
    confidentiality: Annotated[
        str | None, typer.Option(help="public|internal|confidential|restricted.")
    ] = None,
    sensitive_pi: Annotated[str | None, typer.Option("--sensitive-pi", help="yes|no|noAssertion.")] = None,
    tlp: Annotated[str | None, typer.Option(help="CLEAR|GREEN|AMBER|AMBER+STRICT|RED.")] = None,
    dataset_type: Annotated[
        list[str] | None, typer.Option("--dataset-type", help="SPDX dataset types.")
    ] = None,
    mining: Annotated[
        list[str] | None, typer.Option(help="CAWG flag, e.g. cawg.ai_training=notAllowed.")
    ] = None,
    parent: Annotated[list[str] | None, typer.Option(help="Parent dataset reference.")] = None,
    confidential: Annotated[
        list[str] | None, typer.Option(help="Commit this field instead of publishing.")
    ] = None,
    public: Annotated[
        list[str] | None, typer.Option(help="Publish this field instead of committing.")
    ] = None,
    ignore: Annotated[list[str] | None, typer.Option(help="File or folder name to skip (recorded).")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Log a dataset: Merkle root over {path commitment, size, sha256}, licence and provenance."""
    signer = OrgKey.load(key)
    extra: dict[str, Any] = {}
    if path.is_dir():
        files = scan_folder(path, DEFAULT_IGNORED + tuple(ignore or ()))
    else:
        files, extra = read_manifest(path)
    fields: dict[str, Any] = {}
    if meta is not None:
        loaded = json.loads(_read_text(meta))
        if not isinstance(loaded, dict):
            raise FormatError(str(meta), "provenance metadata must be a JSON object")
        fields.update(loaded)
    fields.update({k: v for k, v in extra.items() if k in statements.PROVENANCE_FIELDS})
    options: dict[str, Any] = {
        "origin_geography": _split(origin_geo) or None,
        "processing_geography": _split(processing_geo) or None,
        "storage_geography": _split(storage_geo) or None,
        "collection_method": method,
        "consent_ref": consent_ref,
        "confidentiality": confidentiality,
        "sensitive_pi": sensitive_pi,
    }
    fields.update({name: value for name, value in options.items() if value is not None})
    unknown = sorted(set(fields) - set(statements.PROVENANCE_FIELDS))
    if unknown:
        raise FormatError(str(meta or path), f"unknown provenance field(s): {', '.join(unknown)}")
    hidden = (set(statements.DEFAULT_CONFIDENTIAL) | set(confidential or ())) - set(public or ())
    flags = {}
    for item in mining or []:
        name, _, value = item.partition("=")
        flags[name.strip()] = value.strip()
    licence = license or extra.get("license")
    if not isinstance(licence, str):
        raise FormatError(str(path), "no licence: pass --license with an SPDX expression")
    with _open(db) as log:
        draft = statements.dataset(
            files,
            urn=urn or str(extra.get("urn") or f"urn:dataset:{path.stem}"),
            version=version or str(extra.get("version") or "1"),
            license=licence,
            provenance=fields,
            confidential=hidden & set(fields),
            mining=flags or None,
            dataset_type=_split(dataset_type) or None,
            tlp=tlp,
            parents=[log.resolve(item) for item in parent or []],
        )
        _append(log, draft, signer, as_json)


@add_app.command("run-start")
@friendly_errors
def add_run_start(
    key: KeyFile,
    run_id: Annotated[str, typer.Option("--run-id", help="Your identifier for the run.")],
    code_commit: Annotated[str, typer.Option("--code-commit", help="Git commit of the training code.")],
    seed: Annotated[int, typer.Option(help="Random seed (committed, not public).")],
    dataset: Annotated[list[str], typer.Option(help="Dataset entry reference (repeat).")],
    config: Annotated[Path | None, typer.Option(help="Training config file (its SHA-256 is logged).")] = None,
    config_digest: Annotated[
        str | None, typer.Option("--config-digest", help="Config SHA-256 instead.")
    ] = None,
    data_order: Annotated[
        Path | None, typer.Option("--data-order", help="Data-order file (digest committed).")
    ] = None,
    data_order_digest: Annotated[str | None, typer.Option("--data-order-digest")] = None,
    base: Annotated[str | None, typer.Option(help="Base checkpoint or release reference.")] = None,
    hyperparameters: Annotated[Path | None, typer.Option(help="Hyperparameter file (committed).")] = None,
    image_digest: Annotated[
        str | None, typer.Option("--image-digest", help="sha256:<hex> of the image.")
    ] = None,
    compute: Annotated[str | None, typer.Option(help="Compute description, e.g. 64xH100.")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Log the start of a training run, before step 1: code, config, data, seed/data-order commitment."""
    signer = OrgKey.load(key)
    if (config is None) == (config_digest is None):
        raise FormatError("run-start", "give exactly one of --config and --config-digest")
    if (data_order is None) == (data_order_digest is None):
        raise FormatError("run-start", "give exactly one of --data-order and --data-order-digest")
    with _open(db) as log:
        draft = statements.run_start(
            run_id=run_id,
            code_commit=code_commit.lower(),
            config_digest=config_digest.lower() if config_digest else _sha256_file(config),  # type: ignore[arg-type]
            datasets=[log.resolve(item) for item in dataset],
            seed=seed,
            data_order=data_order_digest.lower() if data_order_digest else _sha256_file(data_order),  # type: ignore[arg-type]
            base=log.resolve(base) if base else None,
            hyperparameters=_read_text(hyperparameters) if hyperparameters else None,
            image_digest=image_digest,
            compute=compute,
        )
        _append(log, draft, signer, as_json)


@add_app.command("checkpoint")
@friendly_errors
def add_checkpoint(
    model: Annotated[Path, typer.Argument(help="Model folder or file.")],
    key: KeyFile,
    run: Annotated[str, typer.Option("--run", help="The run-start entry reference.")],
    step: Annotated[int, typer.Option("--step", help="Training step.")],
    prev: Annotated[str | None, typer.Option(help="Previous checkpoint reference.")] = None,
    data_segment_root: Annotated[str | None, typer.Option("--data-segment-root")] = None,
    optimizer_digest: Annotated[str | None, typer.Option("--optimizer-digest", help="Committed.")] = None,
    loss: Annotated[str | None, typer.Option(help="Committed.")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Hash a checkpoint (per-tensor Merkle root and OMS manifest root) and log it."""
    signer = OrgKey.load(key)
    with err.status(f"hashing {model}", spinner="dots"):
        digest = hash_model(model)
    with _open(db) as log:
        draft = statements.checkpoint(
            digest,
            run=log.resolve(run),
            step=step,
            prev=log.resolve(prev) if prev else None,
            data_segment_root=data_segment_root,
            optimizer_digest=optimizer_digest,
            loss=loss,
        )
        _append(log, draft, signer, as_json)
        if not as_json:
            out.print(f"  tensor root {digest.tensor_root}\n  OMS root    {digest.oms_root}")


@add_app.command("run-end")
@friendly_errors
def add_run_end(
    key: KeyFile,
    run: Annotated[str, typer.Option("--run", help="The run-start entry reference.")],
    final: Annotated[str, typer.Option("--final", help="The final checkpoint entry reference.")],
    steps: Annotated[int, typer.Option(help="Steps trained.")],
    tokens: Annotated[int | None, typer.Option(help="Tokens trained on.")] = None,
    gpu_hours: Annotated[str | None, typer.Option("--gpu-hours", help="e.g. 1234.5")] = None,
    energy_kwh: Annotated[str | None, typer.Option("--energy-kwh", help="e.g. 980.25")] = None,
    status: Annotated[str | None, typer.Option(help="completed|failed|aborted.")] = None,
    evals: Annotated[Path | None, typer.Option(help="Evaluation results file (digest committed).")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Log the end of a training run."""
    signer = OrgKey.load(key)
    with _open(db) as log:
        draft = statements.run_end(
            run=log.resolve(run),
            final=log.resolve(final),
            steps=steps,
            tokens=tokens,
            gpu_hours=gpu_hours,
            energy_kwh=energy_kwh,
            status=status,
            evals=_sha256_file(evals) if evals else None,
        )
        _append(log, draft, signer, as_json)


@add_app.command("release")
@friendly_errors
def add_release(
    key: KeyFile,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="The released checkpoint's entry.")],
    purl: Annotated[str, typer.Option(help="Package URL, e.g. pkg:huggingface/org/model@v1.")],
    license: Annotated[str, typer.Option("--license", help="SPDX license expression.")],
    name: Annotated[str | None, typer.Option(help="Release name.")] = None,
    package_id: Annotated[str | None, typer.Option("--package-id")] = None,
    oms_root: Annotated[
        str | None, typer.Option("--oms-root", help="For a checkpoint in another log.")
    ] = None,
    oms_bundle: Annotated[
        Path | None, typer.Option("--oms-bundle", help="model_signing bundle file.")
    ] = None,
    card: Annotated[Path | None, typer.Option(help="Model card file.")] = None,
    eval_file: Annotated[list[Path] | None, typer.Option("--eval", help="Evaluation file (repeat).")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Log a release: a package URL bound to a logged checkpoint."""
    signer = OrgKey.load(key)
    with _open(db) as log:
        ref = log.resolve(checkpoint)
        if oms_root is None:
            if ref.log != log.origin:
                raise FormatError("release", "the checkpoint is in another log: pass --oms-root")
            target = log.leaf(ref.index)
            if target.type != "checkpoint":
                raise FormatError("release", f"entry {ref.index} is a {target.type}, not a checkpoint")
            oms_root = str(target.pub["oms_root"])
        draft = statements.release(
            checkpoint=ref,
            oms_root=oms_root,
            purl=purl,
            license=license,
            name=name,
            package_id=package_id,
            oms_bundle_digest=_sha256_file(oms_bundle) if oms_bundle else None,
            card_digest=_sha256_file(card) if card else None,
            eval_digests=[_sha256_file(path) for path in eval_file or []],
        )
        _append(log, draft, signer, as_json)


@add_app.command("access-batch")
@friendly_errors
def add_access_batch(
    access_log: Annotated[Path, typer.Argument(help="JSON Lines access log.")],
    key: KeyFile,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Log a batch of access records; people become monthly keyed pseudonyms."""
    signer = OrgKey.load(key)
    records = read_access_log(access_log)
    with _open(db) as log:
        batch = build_batch(records, lambda period: log.pseudonym_key(signer.org, period), statements.now())
        _append(log, statements.access_batch(batch), signer, as_json)


@add_app.command("attestation")
@friendly_errors
def add_attestation(
    path: Annotated[Path, typer.Argument(help="in-toto Statement, DSSE envelope or Sigstore bundle (JSON).")],
    key: KeyFile,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Log any in-toto/DSSE attestation by digest (the file is kept as evidence)."""
    signer = OrgKey.load(key)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FormatError(str(path), f"cannot read: {error.strerror}") from None
    with _open(db) as log:
        _append(log, statements.attestation(data, where=str(path)), signer, as_json)


@add_app.command("correction")
@friendly_errors
def add_correction(
    key: KeyFile,
    target: Annotated[str, typer.Option(help="The entry being corrected.")],
    reason: Annotated[str, typer.Option(help="Why, public.")],
    replacement: Annotated[str | None, typer.Option(help="The corrected entry, if logged.")] = None,
    details: Annotated[str | None, typer.Option(help="Committed details.")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Log a correction of an earlier entry of your organisation (entries are never edited)."""
    signer = OrgKey.load(key)
    with _open(db) as log:
        draft = statements.correction(
            log.resolve(target),
            reason,
            replacement=log.resolve(replacement) if replacement else None,
            details=details,
        )
        _append(log, draft, signer, as_json)


@add_app.command("revocation")
@friendly_errors
def add_revocation(
    key: KeyFile,
    target: Annotated[str, typer.Option(help="The entry being revoked.")],
    reason: Annotated[str, typer.Option(help="Why, public.")],
    details: Annotated[str | None, typer.Option(help="Committed details.")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Log that an earlier entry of your organisation no longer stands."""
    signer = OrgKey.load(key)
    with _open(db) as log:
        _append(log, statements.revocation(log.resolve(target), reason, details=details), signer, as_json)


# -- verify, prove, check, disclose ------------------------------------------------------------------------


@app.command()
@friendly_errors
def verify(
    db: Db = DEFAULT_DB,
    evidence: Annotated[
        bool, typer.Option(help="Also check the evidence store against the commitments.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Re-derive every leaf hash, tile, root and signature from storage (fsck). Exit 1 on any problem."""
    with _open(db) as log:
        report = log.verify(evidence=evidence)
    if as_json:
        _print_json(report.to_json())
    elif report.ok:
        out.print(
            f"[green]ok[/green] {report.origin}: {report.entries} entries, {report.tiles} tiles, "
            f"{report.checkpoints} checkpoints, {report.keys} keys"
            + (f", {report.evidence} secrets" if evidence else "")
        )
    else:
        for problem in report.problems:
            err.print(f"[red]problem[/red] {problem}", highlight=False)
    if not report.ok:
        if not as_json:
            print(
                f"error: {report.origin}: {len(report.problems)} problem(s); first: {report.problems[0]}",
                file=sys.stderr,
            )
        raise typer.Exit(EXIT_FINDING)


@app.command()
@friendly_errors
def prove(
    index: Annotated[int, typer.Argument(help="Entry index.")],
    bundle_out: Annotated[Path, typer.Option("--out", help="Bundle file to write.")],
    disclose: Annotated[
        list[str] | None, typer.Option(help="Include a disclosure (field, file:P, record:N).")
    ] = None,
    tlog_proof: Annotated[
        Path | None, typer.Option("--tlog-proof", help="Also write the bare C2SP tlog-proof.")
    ] = None,
    policy_path: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="C2SP tlog-policy the bundle must pass: prove against the latest checkpoint that meets "
            "its witness quorum (error if none covers the entry), not simply the latest.",
        ),
    ] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Write an offline proof bundle: entry, inclusion proof, checkpoint (with cosignatures), key chain."""
    policy = None if policy_path is None else parse_policy(_read_bytes(policy_path))
    with _open(db) as log:
        bundle = log.prove(index, disclose=disclose or (), policy=policy)
    bundle_out.write_bytes(bundle.to_bytes())
    if tlog_proof is not None:
        tlog_proof.write_bytes(bundle.entry)
    if as_json:
        _print_json(
            {
                "index": index,
                "bundle": str(bundle_out),
                "keys": len(bundle.keys),
                "disclosures": [d.item for d in bundle.disclosures],
            }
        )
    else:
        out.print(f"wrote {bundle_out}: entry {index}, {len(bundle.keys)} key proof(s)")


@app.command()
def check(
    bundle_path: Annotated[Path, typer.Argument(help="Bundle written by 'ledger prove'.")],
    policy_path: Annotated[Path, typer.Option("--policy", help="C2SP tlog-policy file.")],
    now: Annotated[
        int | None, typer.Option(help="Unix time for cosignature freshness (default: now).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Verify a bundle offline (no network, no database). Exit 1 if it does not verify."""
    import time

    try:
        bundle = ProofBundle.from_bytes(_read_bytes(bundle_path), str(bundle_path))
        trusted = parse_policy(_read_bytes(policy_path))
        result = check_bundle(bundle, trusted, now=int(time.time()) if now is None else now)
    except LedgerError as error:
        if as_json:
            _print_json({"ok": False, "bundle": str(bundle_path), "error": str(error)})
        print(f"error: {bundle_path}: {error}", file=sys.stderr)
        raise typer.Exit(EXIT_FINDING) from None
    except ModeltraceError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    summary = result.summary()
    if as_json:
        _print_json(summary)
        return
    out.print(
        f"[green]ok[/green] entry {summary['index']} ({summary['type']}) of {summary['origin']}, signed by "
        f"{summary['kid']}, in checkpoint {summary['checkpoint_size']} witnessed by "
        f"{', '.join(summary['witnesses']) or 'no witness'}"
    )
    for item, value in summary["disclosed"].items():
        out.print(f"  disclosed {item} = {json.dumps(value)}")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise FormatError(str(path), f"cannot read: {error.strerror}") from None


@app.command()
@friendly_errors
def disclose(
    index: Annotated[int, typer.Argument(help="Entry index.")],
    item: Annotated[str, typer.Argument(help="Committed field name, file:<path> or record:<n>.")],
    disclosure_out: Annotated[
        Path | None, typer.Option("--out", help="Write the disclosure JSON here.")
    ] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Reveal one committed item of an entry with its Merkle proof."""
    with _open(db) as log:
        disclosure = log.disclose(index, item)
    document = disclosure.to_json()
    if disclosure_out is not None:
        disclosure_out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if as_json or disclosure_out is None:
        _print_json(document)


@app.command()
@friendly_errors
def shred(
    index: Annotated[int, typer.Argument(help="Entry index.")],
    item: Annotated[str, typer.Argument(help="Committed field, or files/records/tensors/oms/attestation.")],
    db: Db = DEFAULT_DB,
) -> None:
    """Crypto-shred evidence: destroy a salt (or evidence blob); the entry and its proofs stay valid."""
    with _open(db) as log:
        count = log.shred(index, item)
    out.print(f"destroyed {count} evidence row(s) for entry {index} {item}")


@app.command("shred-pseudonyms")
@friendly_errors
def shred_pseudonyms(
    org: Annotated[str, typer.Option(help="Organisation.")],
    period: Annotated[str, typer.Option(help="Month, YYYY-MM.")],
    db: Db = DEFAULT_DB,
) -> None:
    """Destroy an organisation's pseudonym key for a month: access records can no longer be re-identified."""
    with _open(db) as log:
        count = log.shred_pseudonym_key(org, period)
    out.print(f"destroyed {count} pseudonym key(s) of {org} for {period}")


# -- show, log, search, export -----------------------------------------------------------------------------


def _annotations(log: Log, index: int) -> list[str]:
    notes: list[str] = []
    for entry_type in ("correction", "revocation"):
        for row in log.store.search(entry_type=entry_type, start=index + 1, limit=1000):
            leaf = log.leaf(row.index)
            if leaf.pub["target"]["index"] == index and leaf.pub["target"]["log"] == log.origin:
                notes.append(f"{entry_type[:-3]}ed by entry {row.index}: {leaf.pub['reason']}")
    return notes


@app.command()
@friendly_errors
def show(
    index: Annotated[int, typer.Argument(help="Entry index.")],
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Show one entry: its leaf, hash, signer and later corrections or revocations."""
    with _open(db) as log:
        leaf = log.leaf(index)
        notes = _annotations(log, index)
        ref = Ref(log.origin, index, leaf.leaf_hash)
    if as_json:
        _print_json(
            {
                "index": index,
                "ref": str(ref),
                "leaf_hash": leaf.leaf_hash.hex(),
                "leaf": leaf.to_json(),
                "annotations": notes,
            }
        )
        return
    table = Table(show_header=False, title=f"entry {index} of {ref.log}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("type", leaf.type)
    table.add_row("signed by", leaf.kid)
    table.add_row("leaf hash", leaf.leaf_hash.hex())
    table.add_row("reference", str(ref))
    table.add_row("subjects", "\n".join(leaf.subj) or "-")
    table.add_row("committed", ", ".join(leaf.committed_fields) or "-")
    for note in notes:
        table.add_row("[red]note[/red]", note)
    out.print(table)
    out.print(Syntax(json.dumps(leaf.pub, indent=2, sort_keys=True), "json", theme="ansi_dark"))


def _entry_table(log: Log, rows: list[Any], title: str) -> Table:
    table = Table("index", "type", "signed by", "summary", title=title, title_justify="left")
    for row in rows:
        leaf = log.leaf(row.index)
        table.add_row(str(row.index), leaf.type, leaf.kid, _summary(leaf))
    return table


def _rows_json(log: Log, rows: list[Any]) -> list[dict[str, Any]]:
    listed = []
    for row in rows:
        leaf = log.leaf(row.index)
        listed.append(
            {
                "index": row.index,
                "type": leaf.type,
                "kid": leaf.kid,
                "summary": _summary(leaf),
                "leaf_hash": leaf.leaf_hash.hex(),
            }
        )
    return listed


@app.command("log")
@friendly_errors
def list_log(
    start: Annotated[int, typer.Option(help="First index.")] = 0,
    limit: Annotated[int, typer.Option(help="How many entries.")] = 50,
    entry_type: Annotated[str | None, typer.Option("--type", help="Only this entry type.")] = None,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """List entries in log order."""
    with _open(db) as log:
        rows = log.store.search(entry_type=entry_type, start=start, limit=limit)
        if as_json:
            _print_json(_rows_json(log, rows))
        else:
            state = log.state()
            out.print(_entry_table(log, rows, f"{log.origin}: {state.size} entries, root {state.root.hex()}"))


@app.command()
@friendly_errors
def search(
    entry_type: Annotated[str | None, typer.Option("--type", help="Entry type.")] = None,
    kid: Annotated[str | None, typer.Option(help="Signing key id.")] = None,
    org: Annotated[str | None, typer.Option(help="Organisation.")] = None,
    subject: Annotated[str | None, typer.Option(help="Subject digest, sha256:<hex>.")] = None,
    text: Annotated[str | None, typer.Option(help="Substring of the public leaf JSON.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many results.")] = 50,
    db: Db = DEFAULT_DB,
    as_json: AsJson = False,
) -> None:
    """Find entries by type, signer, organisation, subject digest or text."""
    with _open(db) as log:
        found: list[Any] = []
        start = 0
        while len(found) < limit:
            rows = log.store.search(
                entry_type=entry_type, kid=kid, org=org, subject=subject, start=start, limit=500
            )
            found.extend(row for row in rows if text is None or text in row.leaf.decode("utf-8", "replace"))
            if len(rows) < 500:
                break
            start = rows[-1].index + 1
        found = found[:limit]
        if as_json:
            _print_json(_rows_json(log, found))
        else:
            out.print(_entry_table(log, found, f"{len(found)} match(es)"))


@app.command("export")
@friendly_errors
def export_entry(
    index: Annotated[int, typer.Argument(help="Entry index.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")],
    export_out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    db: Db = DEFAULT_DB,
) -> None:
    """Export an entry as SLSA provenance, in-toto release, CycloneDX ML-BOM, SPDX 3 or OMS manifest."""
    with _open(db) as log:
        document = export(log, index, fmt)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if export_out is None:
        sys.stdout.write(text)
    else:
        export_out.write_text(text, encoding="utf-8")


# -- HTTP servers (modeltrace.ledger.serve_cli) -----------------------------------------------------------
from modeltrace.ledger.serve_cli import serve as _serve  # noqa: E402
from modeltrace.ledger.serve_cli import witness_app as witness_app  # noqa: E402

app.command("serve")(friendly_errors(_serve))
