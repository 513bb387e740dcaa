"""Scoring alerts against the simulator's labels (notes §4; the issue's acceptance figures).

* **campaign recall at a fixed alert budget** — the top ``budget_per_week`` alerts per week by priority
  (:func:`~.alerts.priority`: the score scaled by the share of the accounts an alert names that other
  campaigns do not hold yet), counted as campaigns (alerts sharing a campaign id, after the merges
  alerts declare, are one), are what a team reads; a campaign (or infra incident) is found when one of
  them names one of its accounts (principals) and the budgeted campaign that alert belongs to is *about*
  it: of all the labelled groups, the campaign's members (:func:`~.alerts.members`: the accounts its
  alerts claimed, each a member of one campaign) hold the most of this one, and strictly more than of
  any other. One budgeted campaign finds at most one group, so a campaign that swept many groups
  together is not counted as finding each, and one naming as many of two groups (a /24 holding one
  account each of three campaigns) is about neither: a team reading it has no campaign to act on;
* **account-level precision at FPR ≤ 0.1 %** — accounts ranked by their best alert's rank; the longest
  prefix whose benign false-positive rate stays ≤ 0.1 %; precision and recall there;
* **false alerts per 10,000 benign accounts per week** — budgeted campaigns most of whose members are
  benign, per 10k benign accounts, per week of logs;
* **the issue's bar** — recall over the campaigns of at least ``BAR_ACCOUNTS`` accounts with at most
  ``BAR_REQUESTS`` requests each, standing alone or at least ``BAR_SHARE`` of their reseller's traffic
  (the simulator's own parameters say which), the ones missed, and how soon the others were found
  (the most hours, and how many within the issue's 24);
* **time to detect** — hours from the campaign's (incident's) first labelled event to its first
  budgeted alert, and the share of its events served before that alert. The clock starts at the first
  request or action, not at the start the simulator planned: an insider planned to begin on a Friday
  evening acts on Monday, and no detector can see a campaign before its first request. Each group also
  reports ``hours_from_planned_start``.

An alert is credited to a campaign only when it was raised after the campaign started and, where the
campaign's accounts also carry benign traffic (a reseller's, labelled ``mixed``), only when its evidence
cites one of the campaign's own requests: a reseller's account turns up in alerts about other things
(a template group it happens to share with a hydra), and such an alert has not found the campaign hidden
in the reseller's traffic.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeltrace.monitor.alerts import campaign_of, priority, subjects
from modeltrace.monitor.alerts import members as campaign_members
from modeltrace.monitor.ingest import ingest

WEEK = 7 * 86400.0
# the acceptance bar: campaigns of >= 100 accounts, <= 50 requests each, attacker share >= 5 %
BAR_ACCOUNTS, BAR_REQUESTS, BAR_SHARE = 100, 50, 0.05
DAY_HOURS = 24.0  # the time-to-detect target


def under_the_bar(record: dict[str, Any]) -> bool:
    """Whether a labelled campaign is one the issue's recall target covers (from its simulator params)."""
    params = record.get("params")
    if record.get("type") != "campaign" or not isinstance(params, dict):
        return False
    share = float(params.get("share") or 0.0)
    return (
        int(params.get("accounts", 0)) >= BAR_ACCOUNTS
        and int(params.get("requests", (0, BAR_REQUESTS + 1))[1]) <= BAR_REQUESTS
        and (share == 0.0 or share >= BAR_SHARE)
    )


@dataclass
class Labels:
    start: float
    end: float
    accounts: dict[str, str] = field(default_factory=dict)  # account → benign/attack/mixed
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # campaign/incident id → record
    members: dict[str, set[str]] = field(default_factory=dict)  # group → accounts or "principal:<name>"
    event_group: dict[str, str] = field(default_factory=dict)  # attack event id → group

    @classmethod
    def read(cls, path: Path) -> Labels:
        labels = cls(0.0, 0.0)
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                item = json.loads(line)
                kind = item["type"]
                if kind == "meta":
                    labels.start, labels.end = float(item["start"]), float(item["end"])
                elif kind == "account":
                    labels.accounts[item["account_id"]] = item["label"]
                elif kind == "campaign":
                    labels.groups[item["campaign_id"]] = item
                    labels.members[item["campaign_id"]] = set(item["accounts"])
                elif kind == "incident":
                    labels.groups[item["incident_id"]] = item
                    labels.members[item["incident_id"]] = {f"principal:{p}" for p in item["principals"]}
                elif kind == "event" and item["label"] == "attack" and "group" in item:
                    labels.event_group[item["event_id"]] = item["group"]
        return labels


def evaluate(
    alerts: list[dict[str, Any]],
    labels: Labels,
    logs: Iterable[Path],
    *,
    budget_per_week: int = 50,
    max_fpr: float = 0.001,
) -> dict[str, Any]:
    weeks = max((labels.end - labels.start) / WEEK, 1 / 7)
    # campaigns as the monitor finally grouped them: an alert that bridged two campaigns merged them
    merged_into = campaign_of(alerts)
    alerts = [
        {**a, "campaign": merged_into.get(a["campaign"], a["campaign"])} if a.get("campaign") else a
        for a in alerts
    ]
    ranked = sorted(alerts, key=lambda a: (-priority(a), float(a["detected_at"]), a["id"]))
    # the budget counts campaigns (what a team investigates), not the alerts each campaign raised
    top: list[str | None] = []
    for alert in ranked:
        if alert.get("campaign") not in top:
            top.append(alert.get("campaign"))
    chosen = set(top[: max(1, round(budget_per_week * weeks))])
    budget = [a for a in ranked if a.get("campaign") in chosen]
    group_times: dict[str, list[float]] = defaultdict(list)
    for event in ingest(logs):
        group = labels.event_group.get(event.event_id)
        if group is not None:
            group_times[group].append(event.ts)
    attack_subjects = {a for a, lab in labels.accounts.items() if lab != "benign"}
    for group, members in labels.members.items():
        if labels.groups[group]["type"] == "incident":
            attack_subjects |= members
    benign = [a for a, lab in labels.accounts.items() if lab == "benign"]

    group_events: dict[str, set[str]] = defaultdict(set)
    for event_id, group in labels.event_group.items():
        group_events[group].add(event_id)

    def credited(alert: dict[str, Any], group: str, members: set[str], start: float) -> bool:
        if not subjects(alert) & members or float(alert["detected_at"]) < start:
            return False
        if any(labels.accounts.get(m) == "mixed" for m in members):
            return not group_events[group].isdisjoint(alert.get("evidence", ()))
        return True

    # what each budgeted campaign is about: its members (what its alerts claimed: an account another
    # campaign claimed first is that one's, however many alerts name it) and the one group that holds
    # most of them (a tie is about no group: crediting the smaller id let 5-account mixtures "find"
    # groups by their label order). A campaign is credited to that group only — a campaign that swept
    # several groups and benign crowds together has found one campaign for the team that reads it, not
    # all of them — and is a false alert when most of its members are benign.
    by_campaign: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for alert in budget:
        by_campaign[alert.get("campaign")].append(alert)
    membership = {campaign: campaign_members(its) for campaign, its in by_campaign.items()}
    group_of: dict[str, list[str]] = defaultdict(list)
    for group, members in labels.members.items():
        for member in members:
            group_of[member].append(group)
    about: dict[str | None, str | None] = {}
    false_campaigns: set[str | None] = set()
    for campaign, held_by in membership.items():
        held: dict[str, int] = defaultdict(int)
        for subject in held_by:
            for group in group_of.get(subject, ()):
                held[group] += 1
        leaders = sorted(held.items(), key=lambda item: -item[1])[:2]
        about[campaign] = (
            leaders[0][0] if leaders and (len(leaders) == 1 or leaders[0][1] > leaders[1][1]) else None
        )
        if 2 * len(held_by - attack_subjects) > len(held_by):
            false_campaigns.add(campaign)
    budget_about: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for alert in budget:
        budget_about[about[alert.get("campaign")]].append(alert)

    per_group: dict[str, dict[str, Any]] = {}
    for group, members in labels.members.items():
        record = labels.groups[group]
        times = sorted(group_times.get(group, []))
        start = float(record.get("start") or (times[0] if times else labels.start))
        first = min(
            (a for a in budget_about.get(group, ()) if credited(a, group, members, start)),
            key=lambda a: a["detected_at"],
            default=None,
        )
        row: dict[str, Any] = {
            "kind": record["kind"],
            "accounts": len(members),
            "detected": first is not None,
        }
        if first is not None:
            at = float(first["detected_at"])
            row["hours_to_detect"] = round(max(0.0, at - (times[0] if times else start)) / 3600, 2)
            row["hours_from_planned_start"] = round(max(0.0, at - start) / 3600, 2)
            row["share_served_before"] = round(sum(t < at for t in times) / len(times), 3) if times else None
            row["by"] = first["detector"]
            if first["detector"] == "shard_coverage":
                row["coverage_at_alert"] = first["signals"].get("coverage")
        per_group[group] = row

    best_rank: dict[str, int] = {}
    for rank, alert in enumerate(ranked):
        for account in alert.get("accounts", []):
            best_rank.setdefault(account, rank)
    order = sorted(best_rank, key=lambda a: best_rank[a])
    tp = fp = 0
    precision_point = {"precision": None, "recall": 0.0, "flagged": 0}
    n_attack = sum(1 for lab in labels.accounts.values() if lab != "benign")
    for account in order:
        if labels.accounts.get(account, "benign") == "benign":
            if (fp + 1) / max(1, len(benign)) > max_fpr:
                break
            fp += 1
        else:
            tp += 1
        precision_point = {
            "precision": round(tp / (tp + fp), 4),
            "recall": round(tp / max(1, n_attack), 4),
            "flagged": tp + fp,
        }
    false_alerts = len(false_campaigns)
    by_kind: dict[str, dict[str, Any]] = {}
    for row in per_group.values():
        k = by_kind.setdefault(row["kind"], {"groups": 0, "detected": 0, "hours": []})
        k["groups"] += 1
        k["detected"] += int(row["detected"])
        if "hours_to_detect" in row:
            k["hours"].append(row["hours_to_detect"])
    scenarios = {
        kind: {
            "recall": round(v["detected"] / v["groups"], 3),
            "groups": v["groups"],
            "max_hours_to_detect": max(v["hours"]) if v["hours"] else None,
        }
        for kind, v in sorted(by_kind.items())
    }
    bar = sorted(g for g in per_group if under_the_bar(labels.groups[g]))
    bar_hours = [per_group[g]["hours_to_detect"] for g in bar if per_group[g]["detected"]]
    return {
        "alerts": len(alerts),
        "budget_campaigns": len(chosen),
        "weeks": round(weeks, 3),
        "campaign_recall": round(sum(r["detected"] for r in per_group.values()) / max(1, len(per_group)), 3),
        "account_precision_at_fpr": precision_point,
        "false_alerts_per_10k_benign_per_week": round(false_alerts / max(1, len(benign)) * 1e4 / weeks, 2),
        "false_alerts_in_budget": false_alerts,
        "scenarios": scenarios,
        "bar": {
            "groups": len(bar),
            "recall": round(sum(per_group[g]["detected"] for g in bar) / len(bar), 3) if bar else None,
            "missed": [g for g in bar if not per_group[g]["detected"]],
            # the "detection within 24 hours", read over the campaigns its recall bar covers
            "max_hours_to_detect": max(bar_hours) if bar_hours else None,
            "within_day": sum(h <= DAY_HOURS for h in bar_hours),
        },
        "groups": per_group,
    }
