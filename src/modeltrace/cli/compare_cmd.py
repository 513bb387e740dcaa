"""``modeltrace compare``: were SUSPECT's weights derived from PROTECTED's?"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from modeltrace.cli.errors import EXIT_FINDING, EXIT_INCONCLUSIVE, friendly_errors
from modeltrace.lineage import DERIVED, INCONCLUSIVE, LineageReport, compare
from modeltrace.lineage.report_html import write_report


def _p(log10_p: float) -> str:
    if not math.isfinite(log10_p):
        return "0 (exact copy)"
    return f"10^{log10_p:.1f}" if log10_p < -3 else f"{10**log10_p:.3g}"


def _render(report: LineageReport, console: Console) -> None:
    colour = {"derived": "red", "independent": "green"}.get(report.verdict, "yellow")
    console.print(f"[bold {colour}]{report.verdict.upper()}[/] — {report.sentence()}")
    console.print(f"null hypothesis: {report.null}; overall p = {_p(report.log10_p)}")
    if report.alignment:
        al = report.alignment
        console.print(
            f"alignment: {al.shared_tokens} shared tokens, held-out correlation "
            f"{al.heldout_correlation:.3f}, nearest-token retrieval {al.heldout_retrieval:.3f}, "
            f"width {al.width_a} → {al.width_b}"
        )
    tests = Table("test", "statistic", "p", "null", title="tests")
    for test in report.tests:
        tests.add_row(test.name, f"{test.statistic:.4f}", _p(test.log10_p), test.null)
    if report.tests:
        console.print(tests)
    if report.layers:
        layers = Table("layer B", "from A", "attention sim", "MLP agreement", "MLP p", title="layer map")
        for pair in report.layers:
            layers.add_row(
                str(pair.layer_b),
                str(pair.layer_a),
                "" if pair.attention_similarity is None else f"{pair.attention_similarity:.3f}",
                "" if pair.mlp_agreement is None else f"{pair.mlp_agreement:.3f}",
                "" if pair.mlp_log10_p is None else _p(pair.mlp_log10_p),
            )
        console.print(layers)
    if report.exact_copies:
        shown = ", ".join(report.exact_copies[:8]) + (" …" if len(report.exact_copies) > 8 else "")
        console.print(f"exact copies ({len(report.exact_copies)}): {shown}")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"[dim]{report.seconds:.1f} s[/]")


@friendly_errors
def compare_command(
    protected: Annotated[Path, typer.Argument(help="The model that may have been copied.")],
    suspect: Annotated[Path, typer.Argument(help="The model that may derive from it.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    tokenizer_a: Annotated[
        Path | None, typer.Option(help="Tokenizer for PROTECTED if it ships none.")
    ] = None,
    tokenizer_b: Annotated[Path | None, typer.Option(help="Tokenizer for SUSPECT if it ships none.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the token split and the probes.")] = 0,
    report_path: Annotated[Path | None, typer.Option("--report", help="Write an HTML report here.")] = None,
) -> None:
    """Decide whether SUSPECT's weights derive from PROTECTED's: verdict, p-value and evidence.

    Exit code 1 when derived (the finding), 0 when independent, 4 when inconclusive, 2 on bad input.
    """
    report = compare(protected, suspect, seed=seed, tokenizer_a=tokenizer_a, tokenizer_b=tokenizer_b)
    if report_path is not None:
        write_report(report, report_path)
    if as_json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        print()
    else:
        _render(report, Console(width=None if sys.stdout.isatty() else 140))
    if report.verdict == DERIVED:
        raise typer.Exit(EXIT_FINDING)
    if report.verdict == INCONCLUSIVE:
        raise typer.Exit(EXIT_INCONCLUSIVE)
