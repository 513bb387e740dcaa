"""``modeltrace monitor``: simulate labelled logs and ingest real ones (detectors come as ``run``/``eval``).

Exit codes: 0 success; 1 ``ingest --strict`` found records it could not use; 2 bad input (a path that
does not exist, an output folder that is not empty); 3 an internal error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from modeltrace.cli.errors import friendly_errors
from modeltrace.monitor.baselines import PerAccountThreshold, Prada
from modeltrace.monitor.detectors import Context, Detector, default_detectors
from modeltrace.monitor.evaluate import Labels, evaluate
from modeltrace.monitor.events import event_to_dict
from modeltrace.monitor.ingest import ingest as ingest_logs
from modeltrace.monitor.limits import IngestLimits
from modeltrace.monitor.report import IngestIssue, IngestReport
from modeltrace.monitor.run import build
from modeltrace.monitor.simulate import simulate as simulate_logs

app = typer.Typer(
    help="Find model extraction in API logs and weight theft in infrastructure logs.",
    no_args_is_help=True,
    add_completion=False,
)


# Enums so --help lists the choices; tests check they match the library's lists.
class Scale(StrEnum):
    CI = "ci"
    FULL = "full"


class LogFormat(StrEnum):
    CLOUDTRAIL = "cloudtrail"
    K8S_AUDIT = "k8s_audit"
    OTEL = "otel"
    GATEWAY = "gateway"


@app.command("simulate")
@friendly_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (must not exist, or be empty).")],
    scale: Annotated[
        Scale, typer.Option(help="ci: 7 days, ~36k events, seconds; full: 28 days, ~2.7M events, minutes.")
    ] = Scale.CI,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write a realistic labelled log set (gateway, OTel, CloudTrail, Kubernetes) with hard benign cases."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("simulating days"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task: TaskID | None = None

        def report(day: int, days: int) -> None:
            nonlocal task
            if task is None:
                task = progress.add_task("days", total=days)
            progress.update(task, completed=day)

        summary = simulate_logs(out, scale.value, seed, progress=report)
    data = summary.to_dict()
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table = Table(title=f"{out} ({scale.value}, seed {seed})", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    for name, count in data["events"].items():
        table.add_row(f"{name} events", f"{count:,}")
    table.add_row("events", f"{data['events_total']:,} ({data['attack_events']:,} attack)")
    table.add_row("API accounts", f"{data['accounts']:,}")
    table.add_row("campaigns / incidents", f"{data['campaigns']} / {data['incidents']}")
    table.add_row("seconds", str(data["seconds"]))
    table.add_row("labels", str(out / "labels.jsonl"))
    Console().print(table)


def _report_tables(report: IngestReport, show: int) -> list[Table]:
    formats = Table("format", "records", "events", "errors", title="ingested", title_justify="left")
    for name in sorted(set(report.records_by_format) | set(report.errors_by_format)):
        formats.add_row(
            name,
            f"{report.records_by_format[name]:,}",
            f"{report.events_by_format[name]:,}",
            f"{report.errors_by_format[name]:,}",
        )
    tables = [formats]
    if report.errors_by_kind or report.warnings_by_kind or report.skipped_by_reason:
        kinds = Table("kind", "count", title="problems and skips", title_justify="left")
        for kind, count in sorted(report.errors_by_kind.items()):
            kinds.add_row(f"error: {kind}", f"{count:,}")
        for kind, count in sorted(report.warnings_by_kind.items()):
            kinds.add_row(f"warning: {kind}", f"{count:,}")
        for reason, count in sorted(report.skipped_by_reason.items()):
            kinds.add_row(f"skipped: {reason}", f"{count:,}")
        tables.append(kinds)
    return tables


@app.command("ingest")
@friendly_errors
def ingest(
    logs: Annotated[
        list[Path],
        typer.Argument(help="Log files or folders (walked for .json/.jsonl/.log/.gz).", exists=True),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the ingest report as JSON.")] = False,
    log_format: Annotated[
        LogFormat | None, typer.Option("--format", help="Force one format (default: detect).")
    ] = None,
    issues: Annotated[
        Path | None, typer.Option(help="Write every problem, one JSON object per line.")
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="Write the normalised events, one JSON object per line.")
    ] = None,
    max_record_mb: Annotated[float, typer.Option(help="Largest JSON record read, in MiB of text.")] = 8.0,
    show: Annotated[int, typer.Option(help="Problems listed in the table.")] = 20,
    strict: Annotated[bool, typer.Option(help="Exit 1 if any record could not be used.")] = False,
) -> None:
    """Read logs through the adapters and report counts per format and every malformed record."""
    report = IngestReport()
    limits = IngestLimits(max_record_chars=max(1024, int(max_record_mb * 1024 * 1024)))
    issue_file: IO[str] | None = issues.open("w", encoding="utf-8") if issues else None
    event_file: IO[str] | None = events.open("w", encoding="utf-8") if events else None

    def on_issue(issue: IngestIssue) -> None:
        if issue_file is not None:
            issue_file.write(json.dumps(issue.to_dict()) + "\n")

    try:
        for event in ingest_logs(
            logs,
            report=report,
            limits=limits,
            on_issue=on_issue,
            format=log_format.value if log_format else None,
        ):
            if event_file is not None:
                event_file.write(json.dumps(event_to_dict(event), ensure_ascii=False) + "\n")
    finally:
        for handle in (issue_file, event_file):
            if handle is not None:
                handle.close()
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        console = Console(width=None if sys.stdout.isatty() else 160)
        for table in _report_tables(report, show):
            console.print(table)
        # one problem per line, path:line[#index] first, so they can be grepped and opened
        for issue in report.issues[:show]:
            print(f"{issue.where}  {issue.severity}: {issue.kind}  {issue.detail}")
        more = report.errors + report.warnings - min(show, len(report.issues))
        if more > 0:
            console.print(
                f"… {more:,} more problems" + (f" in {issues}" if issues else " (--issues FILE lists all)")
            )
    if strict and report.errors:
        raise typer.Exit(1)


def detector_set(name: str) -> Callable[[Context], list[Detector]]:
    """``default`` (every detector) or ``baselines`` (per-account threshold + PRADA)."""
    if name == "baselines":
        return lambda context: [PerAccountThreshold(context), Prada(context)]
    return default_detectors


@app.command("run")
@friendly_errors
def run(
    logs: Annotated[list[Path], typer.Argument(help="Log files or folders.", exists=True)],
    state: Annotated[Path | None, typer.Option(help="SQLite state file; a restart resumes from it.")] = None,
    alerts: Annotated[Path | None, typer.Option(help="Append alerts here, one JSON object per line.")] = None,
    context: Annotated[
        Path | None,
        typer.Option(help="Folder with inventory.json, directory.csv, ip_intel.csv (default: find)."),
    ] = None,
    follow: Annotated[bool, typer.Option(help="Keep reading the files as they grow.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between polls with --follow.")] = 1.0,
    idle_exit: Annotated[
        float | None, typer.Option(help="With --follow, stop after this many idle seconds.")
    ] = None,
    detectors: Annotated[str, typer.Option(help="'default' or 'baselines' (threshold + PRADA).")] = "default",
    quiet: Annotated[bool, typer.Option(help="Do not print alerts.")] = False,
) -> None:
    """Run the detectors over logs (history, then --follow), printing and appending alerts."""
    console = Console(stderr=True)

    def show(alert: dict[str, Any]) -> None:
        if not quiet:
            joined = len(alert.get("claimed") or ())  # accounts new to the campaign with this alert
            grew = f" (+{joined} member{'s' * (joined != 1)})" if joined else ""
            # a lead weaker than its score: some of whom it names are other campaigns' members
            lead = alert.get("priority")
            weaker = f" (priority {lead:.2f})" if lead is not None and lead < alert["score"] else ""
            text = f"[bold red]{alert['kind']}[/] {alert['campaign']}{grew}{weaker}  {alert['summary']}"
            console.print(text, highlight=False)

    monitor = build(logs, state, alerts, detector_set(detectors), context, on_alert=show)
    try:
        monitor.read(logs)
        if follow:
            monitor.follow(logs, poll=poll, idle_exit=idle_exit)
        else:
            monitor.finish()
    finally:
        monitor.store.close()
    console.print(f"{monitor.events:,} events read; {monitor.report.errors:,} malformed records")


@app.command("eval")
@friendly_errors
def eval_(
    logs: Annotated[list[Path], typer.Argument(help="Log files or folders.", exists=True)],
    labels: Annotated[Path, typer.Option(help="labels.jsonl from `monitor simulate`.", exists=True)],
    alerts: Annotated[
        Path | None, typer.Option(help="Score these alerts instead of running the detectors.")
    ] = None,
    detectors: Annotated[str, typer.Option(help="'default' or 'baselines'.")] = "default",
    budget: Annotated[int, typer.Option(help="Campaigns a team reviews per week.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Run the detectors (or read --alerts) and score them against simulator labels."""
    if alerts is None:
        monitor = build(logs, None, None, detector_set(detectors))
        monitor.read(logs)
        monitor.finish()
        found = monitor.store.alerts()
    else:
        found = [json.loads(line) for line in alerts.read_text(encoding="utf-8").splitlines() if line.strip()]
    result = evaluate(found, Labels.read(labels), logs, budget_per_week=budget)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table("scenario", "groups", "recall", "max hours to detect", title="per scenario")
    for kind, row in result["scenarios"].items():
        table.add_row(kind, str(row["groups"]), f"{row['recall']:.0%}", str(row["max_hours_to_detect"]))
    Console().print(table)
    point = result["account_precision_at_fpr"]
    print(
        f"campaign recall {result['campaign_recall']:.1%} (budget {result['budget_campaigns']} campaigns); "
        f"account precision {point['precision']} recall {point['recall']} at FPR <= 0.1%; "
        f"false alerts/10k benign/week {result['false_alerts_per_10k_benign_per_week']}"
    )
