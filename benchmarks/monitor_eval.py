"""Detection quality of ``monitor run`` against the simulator's labels, next to the two baselines.

For each evaluation seed it simulates a labelled log set (``--scale full`` by default: 28 days, ~44k
accounts, ~2.7M events; ``ci`` for a quick look), runs the default detectors and the baselines
(per-account thresholds + PRADA) over the same logs, and prints, per scenario and overall:

* campaign recall at a fixed alert budget (``--budget`` campaigns per week, ranked by priority: the
  score scaled by the share of the accounts an alert names that other campaigns do not hold yet), each
  budgeted campaign finding at most the one labelled group most of its members (the accounts its
  alerts claimed, each a member of one campaign) come from;
* recall over the campaigns the issue's target covers (>= 100 accounts, <= 50 requests each,
  standing alone or >= 5 % of a reseller's traffic), which of them were missed, and how many of
  those found were found within 24 hours;
* account-level precision (and recall) at a benign false-positive rate ≤ 0.1 %;
* false alerts (budgeted campaigns most of whose members are benign) per 10,000 benign accounts per
  week;
* time to detect: hours from a campaign's first labelled event to its first budgeted alert, and the
  share of its requests served before that alert;
* the window test on its own (notes §5, the LabRAI MMD figures): windows of mixed traffic — benign
  requests with 0, 5, 10, 25, 50 or 100 % attack requests — of each size in ``WINDOWS`` (1,500, the
  size the LabRAI bar was measured at, and 300, the size the notes aim for), each tested against twice
  as many other benign requests with the median-heuristic kernel, and windows of 300 also against the
  ``window_shift`` detector's reference of 1,800, with that kernel and with the detector's widened one
  (its ``bandwidth_factor``; :func:`modeltrace.monitor.mmd.mmd_test`), at the detector's bar
  (log10 p ≤ -6 and above every permutation) and at the LabRAI operating point (p ≤ 0.003): benign
  FPR, TPR per share, balanced accuracy. As in LabRAI, window and reference are drawn from the same
  period; the row "benign, later" draws benign windows from the second half of the logs against a
  reference from the first — the drift a deployed window test must live with.

The detectors' thresholds were tuned on seed ``TUNED_ON_SEED`` at ci scale (see the detector modules);
the default evaluation seeds differ from it, and the report says so.

    python benchmarks/monitor_eval.py [--scale full|ci] [--seeds 1 2] [--budget 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from modeltrace.monitor.cli import detector_set
from modeltrace.monitor.detectors.window_shift import WindowShift
from modeltrace.monitor.evaluate import Labels, evaluate
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import Featurizer
from modeltrace.monitor.ingest import ingest_in_time_order
from modeltrace.monitor.mmd import mmd_test
from modeltrace.monitor.request_vectors import dense, request_code
from modeltrace.monitor.run import build
from modeltrace.monitor.simulate import simulate

TUNED_ON_SEED = 0
# (window, reference, bandwidth factor): LabRAI's setup, a reference twice the window and the median
# heuristic; then the detector's reference, with the median heuristic and with the detector's kernel
_DETECTOR = WindowShift()
WINDOWS = (
    (1500, 3000, 1.0),
    (300, 600, 1.0),
    (300, _DETECTOR.reference, 1.0),
    (300, _DETECTOR.reference, _DETECTOR.bandwidth_factor),
)
SHARES = (0.0, 0.05, 0.10, 0.25, 0.50, 1.0)
# benign windows, and windows of the small shares, whose rates are far from 0 and 1 (from 15 windows,
# a rate near 50 % has a standard error of 13 points); 15 for each other attack share
WINDOWS_PER_SHARE = {0.0: 40, 0.05: 60, 0.10: 60}


def run(logs: Path, labels: Labels, which: str, budget: int, keep: Path | None) -> dict[str, Any]:
    began = time.perf_counter()
    monitor = build([logs], None, None, detector_set(which))
    monitor.read([logs])
    monitor.finish()
    alerts = monitor.store.alerts()
    if keep is not None:  # to score again later without running the detectors again
        with (keep / f"alerts-{which}.jsonl").open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(alert) + "\n" for alert in alerts)
    result = evaluate(alerts, labels, [logs], budget_per_week=budget)
    result["seconds"] = time.perf_counter() - began
    return result


def per_scenario(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in result["groups"].values():
        rows[group["kind"]].append(group)
    out = {}
    for kind, groups in sorted(rows.items()):
        found = [g for g in groups if g["detected"]]
        hours = [g["hours_to_detect"] for g in found]
        shares = [g["share_served_before"] for g in found if g.get("share_served_before") is not None]
        out[kind] = {
            "groups": len(groups),
            "recall": len(found) / len(groups),
            "max_hours": max(hours) if hours else None,
            "mean_share_before": statistics.fmean(shares) if shares else None,
        }
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def report(seed: int, results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    print(f"\nseed {seed} (evaluated; detectors tuned on seed {TUNED_ON_SEED})")
    header = f"{'scenario':<20} {'groups':>6}" + "".join(
        f" | {name + ' recall':>16} {'max h':>7} {'served':>7}" for name in names
    )
    print(header)
    print("-" * len(header))
    tables = {name: per_scenario(result) for name, result in results.items()}
    for kind in sorted(next(iter(tables.values()))):
        line = f"{kind:<20} {tables[names[0]][kind]['groups']:>6}"
        for name in names:
            row = tables[name][kind]
            line += (
                f" | {row['recall']:>16.0%} {_fmt(row['max_hours'], '.1f'):>7}"
                f" {_fmt(row['mean_share_before'], '.1%'):>7}"
            )
        print(line)
    for name, result in results.items():
        point = result["account_precision_at_fpr"]
        print(
            f"{name:<10} campaign recall {result['campaign_recall']:.1%} at"
            f" {result['budget_campaigns']} budgeted campaigns; account precision {point['precision']}"
            f" (recall {point['recall']}) at FPR <= 0.1%;"
            f" false alerts/10k benign accounts/week {result['false_alerts_per_10k_benign_per_week']};"
            f" {result['seconds']:.0f} s"
        )
        bar = result["bar"]
        if bar["groups"]:
            print(
                f"{name:<10} the issue's bar (>= 100 accounts, <= 50 requests each, share 0 or >= 5 %):"
                f" {round(bar['recall'] * bar['groups'])}/{bar['groups']} found ({bar['recall']:.1%});"
                f" missed {', '.join(bar['missed']) or 'none'};"
                f" {bar['within_day']} found within 24 h, the latest after"
                f" {_fmt(bar['max_hours_to_detect'], '.1f')} h"
            )


def window_test(logs: Path, labels: Labels, seed: int) -> None:
    """Benign FPR and per-share TPR of the MMD window test on this log set (see the module docstring)."""
    featurizer, middle = Featurizer(), (labels.start + labels.end) / 2
    early: list[list[int]] = []
    late: list[list[int]] = []
    attack: list[list[int]] = []
    for event in ingest_in_time_order([logs]):
        if not isinstance(event, ApiRequest) or event.account_id is None:
            continue
        code = request_code(event, featurizer.features(event))
        if event.event_id in labels.event_group:
            attack.append(code)
        elif labels.accounts.get(event.account_id) == "benign":
            (early if event.ts < middle else late).append(code)
    rng = np.random.default_rng(seed)
    benign = early + late

    def sample(pool: list[list[int]], k: int) -> list[list[int]]:
        return [pool[i] for i in rng.choice(len(pool), k, replace=False)] if k else []

    def alarms(
        size: int,
        reference: int,
        factor: float,
        windows: int,
        share: float,
        pool: list[list[int]],
        history: list[list[int]],
    ) -> tuple[float, float]:
        hits = [0, 0]
        for index in range(windows):
            bad = round(share * size)
            rows = dense(sample(attack, bad) + sample(pool, size - bad))
            result = mmd_test(
                rows,
                dense(sample(history, reference)),
                permutations=100,
                seed=index,
                bandwidth_factor=factor,
            )
            hits[0] += result.log10_pvalue <= -6 and result.statistic > result.permutation_max
            hits[1] += result.log10_pvalue <= np.log10(0.003)
        return hits[0] / windows, hits[1] / windows

    for size, reference, factor in WINDOWS:
        if size + reference > min(len(early), len(late)) or size > len(attack):
            print(f"window test at {size}: too few requests in this log set")
            continue
        kernel = "median-heuristic kernel" if factor == 1.0 else f"kernel {factor:g} x median"
        print(f"window test: {size} requests vs {reference} of benign history, {kernel}, 100 permutations")
        print(f"{'attack share':>14} {'windows':>8} {'alarm (bar)':>12} {'alarm (p<=.003)':>16}")
        rates: dict[float, tuple[float, float]] = {}
        for share in SHARES:
            windows = WINDOWS_PER_SHARE.get(share, 15)
            rates[share] = alarms(size, reference, factor, windows, share, benign, benign)
            print(f"{share:>14.0%} {windows:>8} {rates[share][0]:>12.1%} {rates[share][1]:>16.1%}")
        drift = alarms(size, reference, factor, WINDOWS_PER_SHARE[0.0], 0.0, late, early)
        print(f"{'benign, later':>14} {WINDOWS_PER_SHARE[0.0]:>8} {drift[0]:>12.1%} {drift[1]:>16.1%}")
        for i, rule in enumerate(("bar", "p<=.003")):
            tpr = float(np.mean([rates[s][i] for s in SHARES if 0.05 <= s <= 0.5]))
            balanced = (1 - rates[0.0][i] + float(np.mean([rates[s][i] for s in SHARES if s]))) / 2
            print(
                f"  {rule}: benign FPR {rates[0.0][i]:.1%}, mean TPR over 5-50 % {tpr:.1%}, "
                f"pure-attacker TPR {rates[1.0][i]:.0%}, balanced accuracy {balanced:.1%}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=("ci", "full"), default="full")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--budget", type=int, default=50, help="campaigns reviewed per week")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the simulated sets (and each detector set's alerts) in KEEP/<scale>-<seed>; reuse"
        " complete sets (with manifest.json)",
    )
    args = parser.parse_args()
    if TUNED_ON_SEED in args.seeds:
        print(f"note: seed {TUNED_ON_SEED} is the tuning seed; its figures are in-sample")
    with tempfile.TemporaryDirectory(dir=args.dir) as work:
        for seed in args.seeds:
            root = (args.keep or Path(work)) / f"{args.scale}-{seed}"
            began = time.perf_counter()
            if (root / "manifest.json").is_file():
                print(f"reusing the simulated set in {root}")
            else:
                summary = simulate(root, args.scale, seed)
                print(
                    f"simulated {args.scale} seed {seed}: {sum(summary.events.values()):,} events, "
                    f"{summary.accounts:,} accounts in {time.perf_counter() - began:.0f} s"
                )
            labels = Labels.read(root / "labels.jsonl")
            results = {}
            kept = root if args.keep else None
            for name in ("default", "baselines"):
                results[name] = result = run(root / "logs", labels, name, args.budget, kept)
                # each set's headline as soon as it is known: at full scale a set takes tens of minutes
                print(
                    f"  {name}: campaign recall {result['campaign_recall']:.1%}, false alerts/10k benign"
                    f" accounts/week {result['false_alerts_per_10k_benign_per_week']},"
                    f" {result['seconds']:.0f} s",
                    flush=True,
                )
            report(seed, results)
            window_test(root / "logs", labels, seed)


if __name__ == "__main__":
    main()
