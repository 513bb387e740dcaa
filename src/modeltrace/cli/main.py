"""The ``modeltrace`` command: one small module per command group, thin over the library."""

from __future__ import annotations

import typer

from modeltrace import __version__
from modeltrace.blackbox import cli as blackbox_cli
from modeltrace.cli import compare_cmd, inspect_cmd, zoo_cmd
from modeltrace.cli.errors import friendly_errors
from modeltrace.ledger import cli as ledger_cli
from modeltrace.monitor import cli as monitor_cli

app = typer.Typer(
    name="modeltrace",
    help="AI model IP forensics and training provenance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("inspect")(inspect_cmd.inspect)
app.command("compare")(compare_cmd.compare_command)
app.command("probe")(friendly_errors(blackbox_cli.probe))
app.command("serve-model")(friendly_errors(blackbox_cli.serve_model))
app.add_typer(zoo_cmd.app, name="zoo")
app.add_typer(ledger_cli.app, name="ledger", help="Witnessed transparency log of training provenance.")
app.add_typer(ledger_cli.witness_app, name="witness", help="A C2SP tlog-witness that cosigns checkpoints.")
app.add_typer(monitor_cli.app, name="monitor", help="Find model extraction and exfiltration in logs.")


def _version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """AI model IP forensics and training provenance."""


if __name__ == "__main__":
    app()
