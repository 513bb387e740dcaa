"""``modeltrace ledger serve`` and ``modeltrace witness serve|keygen``: the HTTP servers from the shell.

``ledger serve --db ledger.db --host 127.0.0.1 --port 8080 [--operator VKEY] [--policy FILE]``: with a
policy naming witnesses (and their URLs) and a quorum, every checkpoint is cosigned by a quorum before
submissions are answered. ``witness keygen --name NAME --out FILE`` writes a ``cosignature/v1`` key
(mode 0600) and prints its vkey; ``witness serve --state DIR --key FILE --log VKEY […]`` runs a witness.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from modeltrace.ledger.keys import write_secret_file
from modeltrace.ledger.note import CosignatureSigner

witness_app = typer.Typer(
    help="An independent C2SP tlog-witness: cosigns only consistent checkpoints.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def serve(
    db: Annotated[
        str, typer.Option("--db", envvar="MODELTRACE_LEDGER_DB", help="SQLite path or postgresql://…")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    operator: Annotated[
        str | None,
        typer.Option(help="Operator Ed25519 vkey (or @file): the only key allowed to register keys."),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="tlog-policy naming witnesses (with URLs) and the quorum to gather.")
    ] = None,
    rate: Annotated[float, typer.Option(help="Submissions per second per key.")] = 1000.0,
    burst: Annotated[int, typer.Option(help="Burst of submissions per key.")] = 2000,
    batch_ms: Annotated[float, typer.Option("--batch-ms", help="How long to collect a batch.")] = 10.0,
) -> None:
    """Run the log over HTTP: signed appends, C2SP tlog-tiles reads, JSON proofs, OpenAPI at /docs."""
    import uvicorn

    from modeltrace.ledger.log import Log
    from modeltrace.ledger.policy import parse_policy
    from modeltrace.ledger.server import RateLimit, create_app
    from modeltrace.ledger.witness_client import WitnessClient

    operator_vkey = operator
    if operator_vkey is not None and operator_vkey.startswith("@"):
        operator_vkey = Path(operator_vkey[1:]).read_text(encoding="utf-8").strip()
    cosign = None
    policy_text = None
    if policy is not None:
        policy_text = policy.read_text(encoding="utf-8")
        proofs = Log.open(db)  # a read connection for consistency proofs to each witness's last size
        cosign = WitnessClient(parse_policy(policy_text), proofs.consistency_proof)
    app = create_app(
        db,
        operator_vkey=operator_vkey,
        cosign=cosign,
        policy_text=policy_text,
        rate_limit=RateLimit(rate, burst),
        batch_ms=batch_ms,
    )
    # No access log: at this log level it is never printed, yet uvicorn would still format each line.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@witness_app.command("keygen")
def witness_keygen(
    name: Annotated[str, typer.Option(help="The witness's key name, e.g. witness.example.eu.")],
    out: Annotated[Path, typer.Option(help="Where to write the private key (mode 0600).")],
) -> None:
    """Create a cosignature/v1 (Ed25519) witness key; prints the vkey to put in policies."""
    signer = CosignatureSigner.generate(name)
    write_secret_file(out, signer.skey() + "\n")
    sys.stdout.write(signer.vkey + "\n")


@witness_app.command("serve")
def witness_serve(
    state: Annotated[Path, typer.Option(help="State directory (witness.db is kept there).")],
    key: Annotated[Path, typer.Option(help="Witness private key file (from 'witness keygen').")],
    log: Annotated[list[str], typer.Option("--log", help="vkey of a log to witness (repeat).")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8081,
    prefix: Annotated[str, typer.Option(help="URL prefix of add-checkpoint.")] = "",
) -> None:
    """Run a C2SP tlog-witness over HTTP (POST <prefix>/add-checkpoint)."""
    import uvicorn

    from modeltrace.ledger.witness import Witness, create_witness_app, load_signer

    witness = Witness(state, load_signer(key), log)
    try:
        uvicorn.run(
            create_witness_app(witness, prefix=prefix.rstrip("/")), host=host, port=port, log_level="warning"
        )
    finally:
        witness.close()
