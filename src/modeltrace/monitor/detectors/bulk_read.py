"""New location or credential, then enumeration, then a bulk read of a checkpoint (notes §2 N).

Why: the public cloud rules (Splunk "anomalous GetObject", Sumo Logic S00032) join a login from a new
IP or country with a GetObject spike within 60 minutes; a stolen token shows exactly that story. A
training job or an eval pipeline reads whole checkpoints too, but from its usual place; a travelling
engineer signs in from a new country but reads nothing in bulk. Only the join alerts.

Signals: ``new_location`` (country or ASN never seen for the principal, after ≥ 24 h of its history),
``listings`` (List calls in the window), ``shards_read`` and ``shard_share`` of one checkpoint within
``window`` seconds, ``logging_change``.
"""

from __future__ import annotations

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import (
    Context,
    Detector,
    Row,
    add_capped,
    checkpoint_shard,
    principal_name,
)
from modeltrace.monitor.events import InfraCategory, InfraEvent, Result


def _new_row(ts: float) -> Row:
    return {
        "first": ts,
        "places": [],
        "new_at": None,
        "new_place": None,
        "lists": [],
        "logging": None,
        "reads": {},
        "ev": [],
        "alerted": [],
    }


class BulkCheckpointRead(Detector):
    name = "bulk_checkpoint_read"
    infra = True

    def __init__(
        self,
        context: Context | None = None,
        *,
        window: float = 3600.0,
        share: float = 0.5,
        lookback: float = 6 * 3600.0,
    ) -> None:
        super().__init__(context)
        self.window = window
        self.share = share
        self.lookback = lookback

    def observe_infra(self, event: InfraEvent) -> list[Alert]:
        if event.result != Result.SUCCESS:
            return []
        who = principal_name(event.principal)
        row = self.row(who, lambda: _new_row(event.ts))
        now = event.ts
        place = f"{event.country}/{event.asn}" if event.country or event.asn else None
        usable = place is not None and not place.startswith("None/") and event.network_type != "private"
        if usable and place not in row["places"]:
            if now - row["first"] >= 86400 and row["places"]:
                row["new_at"], row["new_place"] = now, place
                add_capped(row["ev"], event.event_id, 25)
            add_capped(row["places"], place, 32)
        if event.category == InfraCategory.LIST:
            row["lists"] = [*[t for t in row["lists"] if now - t <= self.lookback][-50:], now]
        if event.category == InfraCategory.LOGGING:
            row["logging"] = now
            add_capped(row["ev"], event.event_id, 25)
        shard = checkpoint_shard(self.context, event.resource)
        if shard is None or event.category not in (InfraCategory.READ, InfraCategory.COPY):
            return []
        uri, name = shard
        reads = row["reads"].setdefault(uri, {})
        reads[name] = now
        for key in [k for k, t in reads.items() if now - t > self.window]:
            del reads[key]
        add_capped(row["ev"], event.event_id, 25)
        total = self.context.checkpoints[uri]
        recent_new = row["new_at"] is not None and now - row["new_at"] <= self.lookback
        if len(reads) / total < self.share or not recent_new or uri in row["alerted"]:
            return []
        row["alerted"].append(uri)
        signals: dict[str, float | int | str | bool] = {
            "new_location": str(row["new_place"]),
            "listings": len(row["lists"]),
            "shards_read": len(reads),
            "shard_share": round(len(reads) / total, 3),
            "logging_change": row["logging"] is not None and now - row["logging"] <= self.lookback,
            "minutes_since_new_location": round((now - row["new_at"]) / 60, 1),
        }
        return [
            Alert(
                id=alert_id(self.name, f"{who}|{uri}"),
                kind="bulk_checkpoint_read",
                detector=self.name,
                score=1.0,
                detected_at=now,
                window=(row["new_at"], now),
                signals=signals,
                evidence=list(row["ev"]),
                principals=[who],
                summary=(
                    f"{who}: first seen from {row['new_place']}, then read {len(reads)}/{total} shards of "
                    f"{uri} within {self.window / 60:.0f} min"
                ),
            )
        ]
