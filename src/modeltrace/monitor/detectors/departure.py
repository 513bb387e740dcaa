"""Copying out before departure (notes §2 N; the CERT insider "IP theft before resignation" scenario).

Why: a departing employee's copies to a personal bucket or presigned downloads of weights look like
ordinary work in the logs; only the HR directory (``context/directory.csv`` ``departure_date``) says
the person is leaving. Within ``days_before`` days of a departure date, any copy to a bucket outside
the estate, any share/presigned access, or any read of a checkpoint shard by that principal alerts.

Signals: ``days_to_departure``, ``copies_out``, ``presigned``, ``shard_reads``, ``destination``.
"""

from __future__ import annotations

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, add_capped, checkpoint_shard, principal_name
from modeltrace.monitor.events import InfraCategory, InfraEvent, Result


class DepartureCopy(Detector):
    name = "departure_copy"
    infra = True

    def __init__(
        self, context: Context | None = None, *, days_before: float = 30.0, min_actions: int = 2
    ) -> None:
        super().__init__(context)
        self.days_before = days_before
        self.min_actions = min_actions

    def _estate(self) -> set[str]:
        return {uri.split("/")[2] for uri in self.context.checkpoints}

    def observe_infra(self, event: InfraEvent) -> list[Alert]:
        if event.result != Result.SUCCESS:
            return []
        who = principal_name(event.principal)
        leaves = self.context.departures.get(who)
        if leaves is None or not 0 <= leaves - event.ts <= self.days_before * 86400:
            return []
        target_bucket = (
            event.target.split("/")[2] if event.target and event.target.startswith("s3://") else None
        )
        copy_out = event.category == InfraCategory.COPY and (
            target_bucket is None or target_bucket not in self._estate()
        )
        presigned = event.auth_method == "QueryString" or event.category == InfraCategory.SHARE
        shard = checkpoint_shard(self.context, event.resource) is not None and event.category in (
            InfraCategory.READ,
            InfraCategory.COPY,
        )
        if not (copy_out or presigned or shard):
            return []
        row = self.row(
            who,
            lambda: {
                "copies": 0,
                "presigned": 0,
                "shards": 0,
                "dest": None,
                "first": event.ts,
                "ev": [],
                "alerted": False,
            },
        )
        row["copies"] += int(copy_out)
        row["presigned"] += int(presigned)
        row["shards"] += int(shard)
        if copy_out and event.target:
            row["dest"] = event.target
        add_capped(row["ev"], event.event_id, 25)
        actions = row["copies"] + row["presigned"]
        if row["alerted"] or actions < self.min_actions:
            return []
        row["alerted"] = True
        days = (leaves - event.ts) / 86400
        signals: dict[str, float | int | str | bool] = {
            "days_to_departure": round(days, 2),
            "copies_out": row["copies"],
            "presigned": row["presigned"],
            "shard_reads": row["shards"],
            "destination": str(row["dest"]),
        }
        return [
            Alert(
                id=alert_id(self.name, who),
                kind="copy_before_departure",
                detector=self.name,
                score=1.0,
                detected_at=event.ts,
                window=(row["first"], event.ts),
                signals=signals,
                evidence=list(row["ev"]),
                principals=[who],
                summary=f"{who} leaves in {days:.1f} days and copied data out ({actions} copy/share actions)",
            )
        ]
