"""Groups of linked accounts whose member means are kept as running sums, so scoring a group is O(1).

Why: the coordination detector scores every group whose members changed, at each hour of stream time.
Recomputing a group's member means from its member rows cost O(members) per group per hour — and the
group of one SDK's default fingerprint holds every customer of that SDK — and re-serialising its member
list at every commit cost as much again. Here:

* each account's *contribution* (its values of the group signals, :data:`SIGNALS`) is stored in its
  row (``"contrib"``), and each group row holds only its size and the sum of its members'
  contributions;
* at a tick, each account that changed since the last one adds the difference between its new and its
  stored contribution to every group it belongs to (and its whole contribution to groups it joined
  since), so the cost follows the traffic, not the size of the groups;
* sums are kept only from ``TRACK_FROM`` members on (then computed once from the members' stored
  contributions): most keys — one account's own prompt templates — never gather a second account, and
  updating their sums was most of the cost;
* member lists live in memory only (:attr:`GroupTable.members`); after a restart they are rebuilt from
  the account rows' ``"keys"``, which say for each group whether the account is counted in it yet
  (:data:`PENDING`, :data:`COUNTED`, :data:`SUMMED`). A list stops growing at ``max_listed`` members —
  the size and sums still count everyone — except for groups that may be merged (the caller's
  choice), whose lists must be whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from modeltrace.monitor.detectors.base import Detector, Row

ACCOUNT = "a:"
GROUP = "g:"
_CHANGED = "_changed"
TRACK_FROM = 3
# an account's state in each of its groups (the values of its row's "keys")
PENDING, COUNTED, SUMMED = 0, 1, 2


class GroupTable:
    """The groups of one detector, stored in its rows (``g:<key>``) next to its accounts (``a:<id>``)."""

    def __init__(
        self,
        detector: Detector,
        contribution: Callable[[Row], list[float]],
        width: int,
        *,
        max_listed: int = 5000,
    ) -> None:
        self.detector = detector
        self.contribution = contribution
        self.width = width
        self.max_listed = max_listed
        self.members: dict[str, list[str]] = {}
        self.changed: set[str] = set()

    # -- persistence -----------------------------------------------------------------------------------
    def before_commit(self) -> None:
        self.detector.row(_CHANGED)["accounts"] = sorted(self.changed)

    def after_load(self, whole: Callable[[str], bool] = lambda key: False) -> None:
        rows = self.detector.rows
        self.changed = set(rows.get(_CHANGED, {}).get("accounts", []))
        self.members = {}
        for name, row in rows.items():
            if name.startswith(ACCOUNT):
                for key in row["keys"]:
                    listed = self.members.setdefault(key, [])
                    if len(listed) < self.max_listed or whole(key):
                        listed.append(name[2:])

    # -- membership ------------------------------------------------------------------------------------
    def group(self, key: str) -> Row | None:
        return self.detector.rows.get(GROUP + key)

    def join(self, account: str, row: Row, key: str, *, whole: bool = False) -> None:
        """Make ``account`` a member of ``key``; it is counted (and summed) at the next :meth:`settle`."""
        row["keys"][key] = PENDING
        self.detector.dirty.add(ACCOUNT + account)
        listed = self.members.get(key)
        if listed is None:
            listed = self.members[key] = []
            self.detector.row(GROUP + key, lambda: {"size": 0, "sums": None, "alerted_size": 0})
        if len(listed) < self.max_listed or whole:
            listed.append(account)
        self.changed.add(account)

    def dissolve(self, key: str) -> list[str]:
        """Remove group ``key`` (merged into another by the caller): its members leave it; their list is
        returned, and they are marked changed so the next settle re-adds them wherever they now are."""
        members = self.members.pop(key, [])
        rows = self.detector.rows
        for account in members:
            row = rows[ACCOUNT + account]
            row["keys"].pop(key, None)
            self.detector.dirty.add(ACCOUNT + account)
            self.changed.add(account)
        self.detector.forget(GROUP + key)
        return members

    # -- scoring ---------------------------------------------------------------------------------------
    def settle(self) -> set[str]:
        """Bring every group up to date with the accounts that changed; return the summed groups touched."""
        detector, rows = self.detector, self.detector.rows
        touched: set[str] = set()
        starting: list[str] = []
        for account in sorted(self.changed):
            row = rows.get(ACCOUNT + account)
            if row is None:
                continue
            new = self.contribution(row)
            old = row.get("contrib") or new
            row["contrib"] = new
            delta = [value - before for value, before in zip(new, old, strict=True)]
            detector.dirty.add(ACCOUNT + account)
            keys = row["keys"]
            for key, state in keys.items():
                if state == COUNTED:
                    continue
                group = rows.get(GROUP + key)
                if group is None:
                    continue
                detector.dirty.add(GROUP + key)
                sums = group["sums"]
                # sums replaced by a new list: the same additions, without an indexed loop
                if state == SUMMED:
                    group["sums"] = [total + value for total, value in zip(sums, delta, strict=True)]
                    touched.add(key)
                    continue
                group["size"] += 1
                if sums is not None:
                    group["sums"] = [total + value for total, value in zip(sums, new, strict=True)]
                    keys[key] = SUMMED
                    touched.add(key)
                else:
                    keys[key] = COUNTED
                    if group["size"] == TRACK_FROM:
                        starting.append(key)
        for key in starting:
            self._start_sums(key)
            touched.add(key)
        self.changed = set()
        return touched

    def _start_sums(self, key: str) -> None:
        """Sums of a group reaching ``TRACK_FROM`` members, from their stored contributions."""
        rows, width = self.detector.rows, self.width
        sums = [0.0] * width
        for account in self.members.get(key, ()):
            row = rows[ACCOUNT + account]
            if row["keys"].get(key) != COUNTED:
                continue
            for i, value in enumerate(row["contrib"]):
                sums[i] += value
            row["keys"][key] = SUMMED
            self.detector.dirty.add(ACCOUNT + account)
        rows[GROUP + key]["sums"] = sums

    def means(self, key: str) -> tuple[int, list[float]]:
        group = self.detector.rows[GROUP + key]
        size, sums = group["size"], group["sums"] or [0.0] * self.width
        inverse = 1.0 / max(1, size)
        return size, [value * inverse for value in sums]

    def listed(self, key: str) -> Iterable[str]:
        return self.members.get(key, ())
