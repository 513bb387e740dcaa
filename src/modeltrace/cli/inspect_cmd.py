"""``modeltrace inspect``: what is in a checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from modeltrace.cli.errors import friendly_errors
from modeltrace.weights import open_model


def _fmt_params(count: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.2f}{unit}"
    return str(count)


def one_line(s: dict[str, Any]) -> str:
    dtypes = ",".join(f"{k}x{v}" for k, v in sorted(s["dtypes"].items(), key=lambda kv: -kv[1]))
    heads = f"{s['heads']}/{s['kv_heads']}h" if s["heads"] else "?h"
    return (
        f"{s['path']}: {s['format']} {s['architecture']} {_fmt_params(s['parameters'])} params, "
        f"{s['layers']}L x {s['hidden']}, {heads}, mlp {s['mlp_width']}, vocab {s['vocab_size']} "
        f"({s['tokenizer'] or 'no tokenizer'}), [{dtypes}] digest {s['content_digest'][:16]}"
    )


def _table(s: dict[str, Any]) -> Table:
    table = Table(title=s["path"], show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    prov = s["provenance"]

    def row(label: str, key: str, value: object | None = None) -> None:
        shown = s[key] if value is None else value
        source = f"  [dim]({prov[key]})[/dim]" if key in prov and prov[key] != "config.json" else ""
        table.add_row(label, f"{shown}{source}")

    row("format", "format")
    row("architecture", "architecture")
    row("parameters", "parameters", f"{s['parameters']:,} ({_fmt_params(s['parameters'])})")
    row("tensors", "tensors")
    row(
        "dtypes",
        "dtypes",
        ", ".join(f"{k} x{v}" for k, v in sorted(s["dtypes"].items(), key=lambda kv: -kv[1])),
    )
    row("layers", "layers")
    row("hidden size", "hidden")
    row("attention heads", "heads")
    row("KV heads", "kv_heads")
    row("head dim", "head_dim")
    row("MLP width", "mlp_width")
    if s["experts"]:
        row("experts", "experts")
    row("vocabulary", "vocab_size")
    tokenizer = f"{s['tokenizer']} ({s['tokenizer_tokens']} tokens)" if s["tokenizer"] else "none found"
    row("tokenizer", "tokenizer", tokenizer)
    row("norms", "norm")
    row("tied embeddings", "tied_embeddings")
    guessed = f", {len(s['roles_guessed'])} guessed from shapes" if s["roles_guessed"] else ""
    row("roles", "roles_assigned", f"{s['roles_assigned']} canonical tensors{guessed}")
    if s["unassigned"]:
        row("no role", "unassigned", ", ".join(sorted(s["unassigned"]))[:200])
    row("content digest", "content_digest")
    return table


@friendly_errors
def inspect(
    paths: Annotated[list[Path], typer.Argument(help="Checkpoint files or model folders.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (one object per path, in a list).")
    ] = False,
    short: Annotated[bool, typer.Option("--short", "-s", help="One line per checkpoint.")] = False,
) -> None:
    """Show a checkpoint's format, architecture, sizes, dtypes, tokenizer and content digest."""
    # A pipe gets a wide console so the 64-hex-digit digest is never cut.
    console = Console(width=None if sys.stdout.isatty() else 140)
    summaries = []
    for path in paths:
        with open_model(path) as model:
            summary = model.summary()
        summaries.append(summary)
        if not as_json:
            console.print(one_line(summary) if short else _table(summary), soft_wrap=short)
    if as_json:
        print(json.dumps(summaries if len(summaries) > 1 else summaries[0], indent=2, default=str))
