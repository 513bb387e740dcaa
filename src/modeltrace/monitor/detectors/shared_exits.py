"""Communities of accounts that share residential exit addresses (notes §2 L.1 "shared infrastructure").

Why: a campaign that buys residential proxies gets its exits from one pool, and a pool hands the same
address to several of its sessions within minutes — so the campaign's accounts meet on addresses from
their first requests, long before their rates, rhythms or rotation say anything. People do not: a home
address is one household's, and the crowds that do share addresses (carrier-grade NAT, universities,
offices, VPN exits) are mobile, education, corporate or hosting networks, which are not linked here.

Two accounts are linked when one sends a request from a residential address that the other used
within ``window`` seconds (the whole address, IPv6 too: a /64 is one subscriber's in principle, but
logs and simulators that number IPv6 hosts inside one provider prefix would merge a whole provider).
Linked accounts form one community (union by size: the smaller community's members move to the
larger), a group ``exit:<first account>`` of the coordination detector's
:class:`~.group_table.GroupTable`. The community keeps the countries of the
addresses that linked it (``cc``): a proxy pool spans many, a household one.

State: one row per address seen within ``window`` (``x:<address>`` → last account and the hour it was
last used), dropped once it expires, so memory follows the addresses active in a day.
"""

from __future__ import annotations

from collections import OrderedDict

from modeltrace.monitor.detectors.base import Detector, Row, add_capped
from modeltrace.monitor.detectors.group_table import ACCOUNT, GroupTable

EXIT = "exit:"
ADDRESS = "x:"
HOUR = 3600.0
MAX_COUNTRIES = 16


class SharedExits:
    def __init__(self, detector: Detector, groups: GroupTable, window: float = 86400.0) -> None:
        self.detector = detector
        self.groups = groups
        self.window = window
        # addresses in the order they were last used, for expiry (rebuilt from the rows after a restart)
        self._recent: OrderedDict[str, None] = OrderedDict()

    def after_load(self) -> None:
        rows = self.detector.rows
        held = sorted((row["t"], name) for name, row in rows.items() if name.startswith(ADDRESS))
        self._recent = OrderedDict((name, None) for _, name in held)

    def observe(self, account: str, row: Row, ip: str, country: str | None, ts: float) -> None:
        detector = self.detector
        name = ADDRESS + ip
        hour = (ts // HOUR) * HOUR
        held = detector.rows.get(name)
        if held is not None and held["a"] == account:
            if held["t"] != hour:  # refresh at most hourly: one row write per address and hour
                held["t"] = hour
                detector.dirty.add(name)
                self._recent.move_to_end(name)
            return
        if held is not None and ts - held["t"] <= self.window + HOUR:
            self.link(held["a"], account, country)
        detector.row(name, dict).update(a=account, t=hour)
        self._recent[name] = None
        self._recent.move_to_end(name)

    def expire(self, now: float) -> None:
        recent, rows = self._recent, self.detector.rows
        while recent:
            name = next(iter(recent))
            held = rows.get(name)
            if held is not None and now - held["t"] <= self.window + HOUR:
                break
            recent.popitem(last=False)
            self.detector.forget(name)

    def link(self, earlier: str, later: str, country: str | None) -> None:
        rows, groups = self.detector.rows, self.groups
        first, second = rows.get(ACCOUNT + earlier), rows.get(ACCOUNT + later)
        if first is None or second is None:
            return
        a: str | None = first.get("exit")
        b: str | None = second.get("exit")
        key: str
        if a is None and b is None:
            key = EXIT + earlier
            self._join(earlier, first, key)
            self._join(later, second, key)
        elif a is None:
            key = str(b)
            self._join(earlier, first, key)
        elif b is None:
            key = a
            self._join(later, second, key)
        elif a != b:
            key = self._merge(a, b)
        else:
            key = a
        group = groups.group(key)
        if group is not None and country:
            add_capped(group.setdefault("cc", []), country, MAX_COUNTRIES)
            self.detector.dirty.add("g:" + key)

    def _join(self, account: str, row: Row, key: str) -> None:
        self.groups.join(account, row, key, whole=True)
        row["exit"] = key
        self.detector.dirty.add(ACCOUNT + account)

    def _merge(self, a: str, b: str) -> str:
        """Move the smaller community into the larger; return the survivor's key."""
        groups, rows = self.groups, self.detector.rows
        size_a, size_b = len(groups.members.get(a, ())), len(groups.members.get(b, ()))
        keep, gone = (a, b) if (size_a, b) >= (size_b, a) else (b, a)
        countries = list((groups.group(gone) or {}).get("cc", []))
        for member in groups.dissolve(gone):
            self._join(member, rows[ACCOUNT + member], keep)
        survivor = groups.group(keep)
        if survivor is not None:
            for country in countries:
                add_capped(survivor.setdefault("cc", []), country, MAX_COUNTRIES)
        return keep
