"""A synthetic Internet: countries, autonomous systems and addresses, plus the IP table describing them.

Addresses are synthetic. IPv4 space is handed out as /16 blocks per autonomous system (the blocks are
arbitrary and may belong to real networks; nothing here is a claim about them), IPv6 space as /48s
inside the documentation prefix ``2001:db8::/32``, ASNs from the private-use range. The only source
of geography and network type is the table :meth:`Network.write_ip_table` writes, read back with
:class:`modeltrace.monitor.ipintel.IpIntel` — as a real deployment reads its GeoIP vendor's table.

Network types matter to the hard cases: mobile carriers put many customers behind few addresses
(carrier-grade NAT), universities and companies put a whole class or office behind one, VPN exits
sit in hosting networks and move between countries, and residential proxies rent ordinary home
addresses in many countries — which is what makes rotating attackers look like many households.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

# country → UTC offset in hours (one zone per country keeps diurnal cycles simple and still global)
COUNTRIES: dict[str, float] = {
    "US": -6,
    "CA": -5,
    "MX": -6,
    "BR": -3,
    "AR": -3,
    "GB": 0,
    "IE": 0,
    "DE": 1,
    "FR": 1,
    "ES": 1,
    "IT": 1,
    "NL": 1,
    "PL": 1,
    "SE": 1,
    "CH": 1,
    "NG": 1,
    "KE": 3,
    "TR": 3,
    "RU": 3,
    "AE": 4,
    "IN": 5.5,
    "PK": 5,
    "VN": 7,
    "ID": 7,
    "TH": 7,
    "CN": 8,
    "SG": 8,
    "HK": 8,
    "PH": 8,
    "TW": 8,
    "JP": 9,
    "KR": 9,
    "AU": 10,
}
# rough share of benign API customers by country
CUSTOMER_COUNTRIES: dict[str, float] = {
    "US": 30,
    "IN": 9,
    "GB": 6,
    "DE": 5,
    "BR": 5,
    "FR": 4,
    "CA": 4,
    "JP": 4,
    "KR": 3,
    "ES": 2,
    "IT": 2,
    "NL": 2,
    "PL": 2,
    "SE": 1,
    "CH": 1,
    "MX": 2,
    "AR": 1,
    "NG": 2,
    "KE": 1,
    "TR": 2,
    "AE": 1,
    "PK": 1,
    "VN": 2,
    "ID": 2,
    "TH": 1,
    "SG": 2,
    "HK": 1,
    "PH": 2,
    "TW": 1,
    "AU": 2,
    "IE": 1,
}
CLOUD_REGIONS = ("US", "DE", "IE", "SG", "JP", "IN", "BR", "AU")
VPN_COUNTRIES = ("NL", "CH", "SE", "US", "GB", "DE", "SG", "JP", "CA")


@dataclass(frozen=True, slots=True)
class AutonomousSystem:
    number: int
    org: str
    kind: str  # residential, mobile, cloud, hosting, education, corporate
    country: str
    blocks: tuple[int, ...]  # first two octets of each /16, as one int (a * 256 + b)
    v6: int  # the 16-bit group after 2001:db8:


class Network:
    """The synthetic address plan. Deterministic: the same for every seed, so IP tables are stable."""

    def __init__(self) -> None:
        self.systems: list[AutonomousSystem] = []
        self._next_block = 0
        self.by_kind: dict[tuple[str, str], list[AutonomousSystem]] = {}
        for country in COUNTRIES:
            self._add(f"{country} Home Broadband A", "residential", country, 3)
            self._add(f"{country} Home Broadband B", "residential", country, 2)
            self._add(f"{country} Mobile", "mobile", country, 1)
        for provider in ("Nimbus Cloud", "Stratus Compute", "Cirrus Hosting Cloud"):
            for region in CLOUD_REGIONS:
                self._add(f"{provider} {region}", "cloud", region, 1)
        for country in VPN_COUNTRIES:
            self._add(f"Tunnelbox VPN {country}", "hosting", country, 1)
            self._add(f"Bulletproof Servers {country}", "hosting", country, 1)
        for name, country in (
            ("Northfield University", "US"),
            ("Univ. of Westmarch", "GB"),
            ("TU Ostheim", "DE"),
            ("Indus Institute of Technology", "IN"),
        ):
            self._add(name, "education", country, 1)
        for name, country in (
            ("Acme Corp", "US"),
            ("Globex GmbH", "DE"),
            ("Initech Ltd", "GB"),
            ("Modeltrace Labs (provider HQ)", "US"),
        ):
            self._add(name, "corporate", country, 1)

    def _add(self, org: str, kind: str, country: str, blocks: int) -> None:
        first = self._next_block
        self._next_block += blocks
        # Start at 23.0.0.0 and skip the private, shared and reserved /8s.
        allocated = []
        for i in range(first, first + blocks):
            a, b = 23 + i // 256, i % 256
            allocated.append(a * 256 + b)
        system = AutonomousSystem(
            64512 + len(self.systems), org, kind, country, tuple(allocated), len(self.systems) + 1
        )
        self.systems.append(system)
        self.by_kind.setdefault((kind, country), []).append(system)

    def system(self, kind: str, country: str, rng: random.Random) -> AutonomousSystem:
        options = self.by_kind.get((kind, country))
        if not options:
            options = [s for s in self.systems if s.kind == kind]
        return rng.choice(options)

    def named(self, org_prefix: str) -> AutonomousSystem:
        return next(s for s in self.systems if s.org.startswith(org_prefix))

    @staticmethod
    def address(system: AutonomousSystem, rng: random.Random, *, v6: bool = False, pool: int = 0) -> str:
        """An address in ``system``; ``pool`` > 0 restricts it to that many addresses (NAT, CGNAT)."""
        if v6:
            host = rng.randrange(pool) if pool else rng.getrandbits(32)
            return f"2001:db8:{system.v6:x}::{host >> 16:x}:{host & 0xFFFF:x}"
        block = system.blocks[0] if pool else rng.choice(system.blocks)
        host = rng.randrange(pool) + 1 if pool else rng.randrange(1, 65535)
        return f"{block >> 8}.{block & 255}.{host >> 8}.{host & 255}"

    def write_ip_table(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(("network", "country", "asn", "as_org", "network_type"))
            writer.writerow(("10.0.0.0/8", "", "", "private network", "private"))
            for s in self.systems:
                for block in s.blocks:
                    writer.writerow(
                        (f"{block >> 8}.{block & 255}.0.0/16", s.country, s.number, s.org, s.kind)
                    )
                writer.writerow((f"2001:db8:{s.v6:x}::/48", s.country, s.number, s.org, s.kind))
