"""Low-and-slow shard copying: cumulative distinct-shard coverage per principal and checkpoint (notes §2 N).

Why: per-window rules (GetObject spikes) miss a thief who reads a few shards a day from the usual place
at office hours. What grows regardless of pace is the share of one checkpoint's shards the principal
has ever read (the checkpoint's shard count comes from ``context/inventory.json``). Training jobs and
eval pipelines read whole checkpoints too — in one burst: the detector alerts when ``alert_share``
(default 15 %, under the 25 % target) is passed by reads spread over at least two calendar days and
longer than ``burst`` seconds; coverage reached within ``burst`` of the first read is a bulk reader's,
left to :mod:`.bulk_read`. (An earlier rule asked for 24 h between the first read and the crossing, so a
thief reading on two consecutive afternoons 20 h apart was filed as a bulk reader and never alerted.)

Signals: ``shards_read``, ``shards_total``, ``coverage``, ``days_spanned``, ``distinct_days``.
"""

from __future__ import annotations

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, add_capped, checkpoint_shard, principal_name
from modeltrace.monitor.events import InfraCategory, InfraEvent, Result


class ShardCoverage(Detector):
    name = "shard_coverage"
    infra = True

    def __init__(
        self,
        context: Context | None = None,
        *,
        alert_share: float = 0.15,
        burst: float = 3 * 3600.0,
    ) -> None:
        super().__init__(context)
        self.alert_share = alert_share
        self.burst = burst

    def observe_infra(self, event: InfraEvent) -> list[Alert]:
        if event.result != Result.SUCCESS:
            return []
        if event.category not in (InfraCategory.READ, InfraCategory.COPY):
            return []
        shard = checkpoint_shard(self.context, event.resource)
        if shard is None:
            return []
        uri, name = shard
        who = principal_name(event.principal)
        row = self.row(
            f"{who}|{uri}", lambda: {"shards": [], "first": event.ts, "days": [], "ev": [], "alerted": False}
        )
        if name not in row["shards"]:
            row["shards"].append(name)
            add_capped(row["ev"], event.event_id, 25)
        add_capped(row["days"], int(event.ts // 86400), 400)
        total = self.context.checkpoints[uri]
        coverage = len(row["shards"]) / total
        span = event.ts - row["first"]
        if row["alerted"] or coverage < self.alert_share:
            return []
        if span <= self.burst:
            row["alerted"] = True  # reached the share in one burst: a bulk reader, not a slow one
            return []
        if len(row["days"]) < 2:
            return []  # one long day of reads: wait for the next day's before calling it slow
        row["alerted"] = True
        signals: dict[str, float | int | str | bool] = {
            "shards_read": len(row["shards"]),
            "shards_total": total,
            "coverage": round(coverage, 3),
            "days_spanned": round(span / 86400, 2),
            "distinct_days": len(row["days"]),
        }
        return [
            Alert(
                id=alert_id(self.name, f"{who}|{uri}"),
                kind="low_and_slow_copy",
                detector=self.name,
                score=1.0,
                detected_at=event.ts,
                window=(row["first"], event.ts),
                signals=signals,
                evidence=list(row["ev"]),
                principals=[who],
                summary=(
                    f"{who}: {len(row['shards'])}/{total} shards of {uri} read over "
                    f"{span / 86400:.1f} days ({len(row['days'])} distinct days)"
                ),
            )
        ]
