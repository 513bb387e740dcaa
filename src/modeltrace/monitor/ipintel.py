"""IP address → country, ASN and network type, from a CSV of networks (the shape GeoIP exports have).

CloudTrail and Kubernetes audit logs carry addresses, not places; detectors need "new country",
"new ASN", "residential proxy" and "cloud host". Users have a table from their GeoIP vendor; the
simulator writes one for its synthetic address space. Columns (header required, extra ones ignored)::

    network,country,asn,as_org,network_type
    198.51.100.0/24,DE,64512,Example Residential DE,residential

Networks must not overlap (GeoIP CSV exports are flattened that way); a lookup is a binary search.
"""

from __future__ import annotations

import bisect
import csv
import ipaddress
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from modeltrace.errors import ModeltraceError
from modeltrace.monitor.events import Event


@dataclass(frozen=True, slots=True)
class IpInfo:
    country: str | None
    asn: int | None
    as_org: str | None
    network_type: str | None


class IpIntelError(ModeltraceError):
    """The IP table is unreadable or inconsistent."""


class IpIntel:
    """Non-overlapping networks, searchable by address."""

    def __init__(self, networks: Iterable[tuple[str, IpInfo]]) -> None:
        ranges: dict[int, list[tuple[int, int, IpInfo]]] = {4: [], 6: []}
        for text, info in networks:
            net = ipaddress.ip_network(text, strict=False)
            ranges[net.version].append((int(net.network_address), int(net.broadcast_address), info))
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        self._infos: dict[int, list[IpInfo]] = {}
        for version, items in ranges.items():
            items.sort(key=lambda item: item[0])
            for (_, end, _), (start, _, _) in itertools.pairwise(items):
                if start <= end:
                    raise IpIntelError(f"overlapping IPv{version} networks in the IP table")
            self._starts[version] = [s for s, _, _ in items]
            self._ends[version] = [e for _, e, _ in items]
            self._infos[version] = [i for _, _, i in items]
        self.lookup = lru_cache(maxsize=1 << 16)(self._lookup)

    @classmethod
    def from_csv(cls, path: str | Path) -> IpIntel:
        try:
            with Path(path).open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise IpIntelError(f"{path}: cannot read the IP table: {exc}") from None
        networks = []
        for number, row in enumerate(rows, start=2):
            try:
                asn = int(row["asn"]) if row.get("asn") else None
                info = IpInfo(
                    row.get("country") or None,
                    asn,
                    row.get("as_org") or None,
                    row.get("network_type") or None,
                )
                networks.append((row["network"], info))
            except (KeyError, ValueError) as exc:
                raise IpIntelError(f"{path}:{number}: bad row: {exc}") from None
        try:
            return cls(networks)
        except ValueError as exc:
            raise IpIntelError(f"{path}: {exc}") from None

    def _lookup(self, address: str) -> IpInfo | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        value, version = int(ip), ip.version
        i = bisect.bisect_right(self._starts[version], value) - 1
        if i >= 0 and value <= self._ends[version][i]:
            return self._infos[version][i]
        return None


def enrich(events: Iterable[Event], intel: IpIntel) -> Iterator[Event]:
    """Fill ``country``, ``asn`` and ``network_type`` where the log did not carry them."""
    for event in events:
        if event.source_ip is not None and (
            event.country is None or event.asn is None or event.network_type is None
        ):
            info = intel.lookup(event.source_ip)
            if info is not None:
                event.country = event.country or info.country
                event.asn = event.asn if event.asn is not None else info.asn
                event.network_type = event.network_type or info.network_type
        yield event
