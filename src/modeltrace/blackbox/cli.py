"""Typer commands ``probe`` and ``serve-model`` (wired into the main CLI elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from modeltrace.blackbox.probe import ProbeConfig, open_targets, parse_target, run_probe
from modeltrace.blackbox.transcript import Transcript
from modeltrace.errors import ModeltraceError

app = typer.Typer(help="Black-box forensics: probe OpenAI-compatible endpoints, serve local checkpoints.")


@app.command("probe")
def probe(
    suspect: Annotated[str, typer.Argument(help="https://host/v1#model, or a local checkpoint")],
    reference: Annotated[
        str, typer.Option("--reference", help="the protected model (URL#model or checkpoint)")
    ],
    baseline: Annotated[
        list[str] | None, typer.Option("--baseline", help="an unrelated model (repeatable)")
    ] = None,
    budget: Annotated[int, typer.Option(help="most answered requests over all models")] = 1000,
    alpha: Annotated[float, typer.Option(help="significance level")] = 0.05,
    seed: Annotated[int, typer.Option(help="seed of prompts and sampling")] = 0,
    api_key_env: Annotated[str | None, typer.Option(help="environment variable holding the API key")] = None,
    transcript: Annotated[Path, typer.Option(help="JSONL transcript (a re-run resumes from it)")] = Path(
        "probe-transcript.jsonl"
    ),
    timeout: Annotated[float, typer.Option(help="seconds to wait for one answer")] = 120.0,
    concurrency: Annotated[int, typer.Option(help="requests in flight per endpoint")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="write a readable HTML page of the report here")
    ] = None,
) -> None:
    """Is SUSPECT the reference model (identity), or derived from it (lineage)?"""
    from rich.console import Console

    console = Console(stderr=True)
    try:
        targets = [parse_target(s, api_key_env) for s in [suspect, reference, *(baseline or [])]]
        with open_targets(targets) as eps:
            report = run_probe(
                eps[0],
                eps[1],
                eps[2:],
                config=ProbeConfig(budget=budget, alpha=alpha, seed=seed),
                transcript=Transcript(transcript),
                progress=lambda msg: console.print(f"[dim]{msg}[/dim]"),
                client_options={"timeout": timeout, "concurrency": concurrency},
            )
    except ModeltraceError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if report_path is not None:
        from modeltrace.blackbox.report_html import write_report

        write_report(report, report_path)
        console.print(f"[dim]report: {report_path}[/dim]")
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return

    def num(value: object) -> str:  # infinities arrive as strings (JSON has none)
        return f"{value:.4g}" if isinstance(value, int | float) else str(value)

    for name, test in report["tests"].items():
        typer.echo(
            f"{name:18s} p={num(test['pvalue'])} statistic={num(test['statistic'])} "
            f"effect={num(test['effect_size'])} queries={test['queries']}  H0: {test['null']}"
        )
    for question, verdict in report["verdicts"].items():
        typer.echo(f"{question}: {verdict}")
    for note in report["notes"]:
        typer.echo(f"note: {note}")
    typer.echo(f"queries: {report['queries_total']} (stopped: {report['stopped']}); transcript: {transcript}")


@app.command("serve-model")
def serve_model(
    checkpoint: Annotated[Path, typer.Argument(help="GGUF file or HF folder (safetensors + tokenizer.json)")],
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    name: Annotated[str | None, typer.Option(help="model name reported by the API")] = None,
) -> None:
    """Serve CHECKPOINT as an OpenAI-compatible /v1/completions and /v1/chat/completions endpoint."""
    from modeltrace.blackbox.serve import serve

    try:
        serve(checkpoint, host=host, port=port, name=name)
    except ModeltraceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


__all__ = ["app"]
