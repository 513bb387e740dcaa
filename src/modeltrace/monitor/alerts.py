"""Alerts: what a detector hands a security team — who, which campaign, which signals, when, and proof.

An :class:`Alert` is one JSON object (see :meth:`Alert.to_dict`)::

    {"id", "kind", "detector", "score", "accounts" | "principals", "campaign", "signals": {name: value},
     "window": {"start", "end"}, "detected_at", "evidence": [event ids], "summary", "links"?, "merged"?,
     "claimed"?, "priority"?}

An alert names everyone its finding involves; ``claimed`` lists those of them it brought into its
campaign (they were in none yet). Each account or principal is claimed once, so a campaign's *members*
— whom a team acts on when it takes the campaign up — are the union of its alerts' ``claimed``
(:func:`members`), and no account is a member of two campaigns. ``priority`` is the score discounted by
the share of the accounts it names that other campaigns already hold; teams (and :mod:`.evaluate`) read
alerts and campaigns in order of :func:`priority`.

``id`` is deterministic (SHA-256 of the detector, the kind and the subject), so the same finding is the
same alert on every run and after every restart; the state store writes each id once.
``detected_at`` is the stream time (event ``ts``) at which the alert's condition first held.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

# evidence kept per alert: enough to open the raw records, bounded so alerts stay small
MAX_EVIDENCE = 25


def alert_id(detector: str, subject: str) -> str:
    digest = hashlib.sha256(f"{detector}\x00{subject}".encode()).hexdigest()[:24]
    return f"{detector}:{digest}"


@dataclass
class Alert:
    id: str
    kind: str
    detector: str
    score: float
    detected_at: float
    window: tuple[float, float]
    signals: dict[str, float | int | str | bool]
    evidence: list[str]
    summary: str
    accounts: list[str] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)
    campaign: str | None = None
    # what links this finding to others beyond its accounts (a request fingerprint, a group key): the
    # campaign manager puts an alert in the campaign that holds most of its accounts and links (or, for
    # an alert naming a client script, the campaign holding that script)
    links: list[str] = field(default_factory=list)
    # earlier campaigns this alert joined into its own. Only versions that merged campaigns wrote it
    # (none does now, see :mod:`.run`); alerts are never rewritten, so a reader folds these ids
    merged: list[str] = field(default_factory=list)
    # the accounts (principals) this alert brought into its campaign; None before the campaign manager
    # has placed it
    claimed: list[str] | None = None
    # the score as a lead for a team: scaled by the share of the accounts it names that no other
    # campaign holds (see :mod:`.run`); None before the campaign manager has placed it
    priority: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "detector": self.detector,
            "score": round(self.score, 4),
            "campaign": self.campaign,
            "signals": self.signals,
            "window": {"start": self.window[0], "end": self.window[1]},
            "detected_at": self.detected_at,
            "evidence": self.evidence[:MAX_EVIDENCE],
            "summary": self.summary,
        }
        if self.accounts:
            out["accounts"] = self.accounts
        if self.principals:
            out["principals"] = self.principals
        if self.links:
            out["links"] = self.links
        if self.merged:
            out["merged"] = self.merged
        if self.claimed is not None:
            out["claimed"] = self.claimed
        if self.priority is not None:
            out["priority"] = round(self.priority, 4)
        return out


def subjects(alert: dict[str, Any]) -> set[str]:
    """Everyone an alert (a dict) names: its accounts and ``principal:<name>`` for its principals."""
    return set(alert.get("accounts", [])) | {f"principal:{p}" for p in alert.get("principals", [])}


def priority(alert: dict[str, Any]) -> float:
    """The order a team reads an alert (a dict) in: its ``priority``, or its score where it has none
    (alerts written before the campaign manager set one)."""
    value = alert.get("priority")
    return float(alert["score"] if value is None else value)


def members(alerts: list[dict[str, Any]]) -> set[str]:
    """A campaign's members from its alerts: what they claimed. Where none of them says (alerts written
    before ``claimed`` was) or they claimed no one (every account they name was another campaign's
    first), everyone they name: then that is all a team reading the campaign has."""
    claimed = {subject for alert in alerts for subject in alert.get("claimed") or ()}
    return claimed or {subject for alert in alerts for subject in subjects(alert)}


def campaign_of(alerts: list[dict[str, Any]]) -> dict[str, str]:
    """Every campaign id in ``alerts`` (dicts, in the order written) → the campaign it ended up in,
    following the ``merged`` lists transitively."""
    parent: dict[str, str] = {}

    def find(campaign: str) -> str:
        root = campaign
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(campaign, campaign) != root:  # shorten the path for the next lookup
            parent[campaign], campaign = root, parent[campaign]
        return root

    for alert in alerts:
        own = alert.get("campaign")
        if own is None:
            continue
        parent.setdefault(own, own)
        for other in alert.get("merged", ()):
            parent.setdefault(other, other)
            a, b = find(own), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {campaign: find(campaign) for campaign in parent}
