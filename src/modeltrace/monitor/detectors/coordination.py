"""Cross-account coordination ("hydra" clusters): link accounts, then score each linked group whole.

Why (notes §2 L, provider reports §1): campaigns of thousands of accounts keep every account under
per-account limits and mix into legitimate traffic, so per-account tests see nothing; what gives them
away is what the accounts *share* — one request-building script (user agent and exact sampling
parameters), one prompt template or wrapper, one proxy pool — and what the group does *as a whole*.

Linking keys, each a group of accounts:

* ``fp``  — request fingerprint: user agent + max_tokens, temperature, n, logprobs, top_logprobs;
* ``tpl`` — prompt skeleton: the last words of the prompt with nonces and numbers masked (a wrapper
  around natural questions, a sweep template);
* ``net`` — a residential, mobile or hosting /24 (a proxy pool's exits are shared by its accounts);
* ``tim`` — timing co-activity: one regular cadence (median gap between requests on a log grid, for an
  account whose gaps vary by less than ``REGULAR_LOG_SPREAD``): one scheduler feeding many accounts
  paces them alike, where people are bursty;
* ``rot`` — residential-proxy rotation with one client: the account's residential or mobile exits span
  ``ROTATION_COUNTRIES`` countries or more (a person at home or on a phone stays in one; a VPN is a
  hosting network), keyed by user agent — slow and adaptive campaigns that mimic people's pace and
  parameters still buy their exits from one proxy pool;
* ``rel`` — the same reaction to a model release: the account was active before and moved to the new
  model within 24 h of its release, with the same request fingerprint (the post-release pivot);
* ``exit`` — shared residential exits (:mod:`.shared_exits`): accounts that sent requests from the same
  residential address within a day are one community, merged transitively. Evidence that exists from a
  campaign's first hours, where rates and rhythms need days to accumulate.

Group signals (means over the members, each account weighted equally): ``accounts``;
``requests_per_account``; ``harvest_rate`` (logprobs or n > 1); ``nonce_rate`` (requests with a hex
nonce); ``elicitation_rate`` (reasoning-elicitation score >= 0.4, :mod:`.cot`); ``rotation`` (distinct
/24s per request for accounts with >= 5 requests: proxy rotation, where a NAT gives few addresses per
account); ``proxy_share`` (residential, mobile or hosting exits); ``pivot`` (members that moved to a
new release within 24 h, :mod:`.release_pivot`); ``flat_hours`` (members whose requests ignore the
time of day: how far the mean resultant length of their hour-of-day angles falls below a person's, for
accounts with ≥ 8 requests — a scheduler keeps no nights, people do); ``multi_country`` (members whose
residential or mobile exits span ≥ 3 countries, the ``rot`` condition).

``exit`` communities also score what only a community has (:data:`COMMUNITY_WEIGHTS`): ``exit_spread``
(how many countries its shared residential exits span — 0 for one, 1 from ``SPREAD_COUNTRIES`` on: a
household is in one country, a proxy pool is not); ``crowding`` (how many accounts met on them, up to
``CROWD_ACCOUNTS``); ``travel`` (members whose home-network country changed within ``TRAVEL_SECONDS``:
no person moves between countries in an hour, a rotating proxy does). They count for communities only:
in a template or fingerprint group they would merely echo the attack accounts mixed into a benign crowd.
A community is scored from ``min_community_accounts`` (3) accounts whose exits span two countries on,
because shared residential addresses across borders are already a rare coincidence for people; a key
group needs ``min_accounts`` (5), because a shared key alone is common and benign (classrooms,
corporate proxies, CGNAT, the default SDK) and the score must come from the group's behaviour.

Listed members: a key group's score is the mean of its members' own scores (the weighted sum of each
account's signals), so a template or /24 that a crowd shares with as many people passes on the crowd
alone. Its alert lists the members whose own score reaches ``MEMBER_FLOOR`` of the threshold, and
counts everyone in ``accounts`` (``listed`` says how many it names): the people who phrase a request
alike are not what the team must look at, and naming them put them into the campaign (in the full-scale
simulation, seed 2, a campaign of 1,915 accounts named 1,017 benign ones through ten template groups
half benign). Shared-exit communities are listed whole: what scores them is what they share.

Campaign links: an alert's ``links`` are its key and, when at least ``SCRIPT_SHARE`` of its listed members
sent requests with one specific fingerprint (a client script, :func:`~..featurize.names_one_script`),
that script too; signals ``script`` and ``script_share`` show the most used one either way. The campaign
manager (:mod:`..run`) files an alert that names a script with the script's campaign, so the hundreds of
shared-exit communities and proxy /24s of one 20,000-account crowd, and the template groups its
accounts share with other crowds, land in the campaign of the script that sent them instead of each
starting one (in the full-scale simulation, seed 1, about 150 such campaigns of one crowd took most of a
month's alert budget).

Groups are re-scored at each stream hour when a member changed, from running sums
(:mod:`.group_table`), so the cost follows the traffic rather than the size of the groups; an alert
repeats for a group only when it has doubled in size since the last one.
"""

from __future__ import annotations

import math

from modeltrace.monitor.alerts import Alert, alert_id
from modeltrace.monitor.detectors.base import Context, Detector, Row, add_capped
from modeltrace.monitor.detectors.group_table import ACCOUNT, GroupTable
from modeltrace.monitor.detectors.release_pivot import ReleaseWatch
from modeltrace.monitor.detectors.shared_exits import EXIT, SharedExits
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import PROXY_NETWORKS, RequestFeatures

__all__ = ["COMMUNITY_WEIGHTS", "MAX_MEMBERS", "PROXY_NETWORKS", "SIGNALS", "WEIGHTS", "Coordination"]

MAX_MEMBERS = 5000  # accounts listed in an alert (and kept listed per group); sizes count everyone
MAX_KEYS = 256
MAX_SCRIPTS = 4  # specific request fingerprints kept per account (a script names one; people use few)
# an alert names the client script the most of its listed members use as a link of its own when at
# least this share of them use it (tuned on seed 0, full scale): see "Campaign links" above
SCRIPT_SHARE = 0.2
# a key group's alert lists the members whose own signals reach this share of the threshold (see
# "Listed members" above); tuned on seed 0, full scale
MEMBER_FLOOR = 0.5
# the member means a group is scored on, in the order of each account's contribution vector
SIGNALS = (
    "requests_per_account",
    "harvest_rate",
    "nonce_rate",
    "elicitation_rate",
    "rotation",
    "proxy_share",
    "pivot",
    "flat_hours",
    "multi_country",
    "travel",
)
WEIGHTS = {
    "harvest_rate": 1.0,
    "nonce_rate": 1.0,
    "elicitation_rate": 2.0,
    "rotation": 2.0,
    "proxy_share": 0.5,
    "pivot": 0.5,
    "flat_hours": 0.5,
    "multi_country": 1.0,
}
# signals of shared-exit communities only: they describe the community (or, for travel, what makes its
# members' shared addresses a proxy pool's), and in a key group would only echo its attack members
COMMUNITY_WEIGHTS = {"travel": 1.5, "exit_spread": 1.5, "crowding": 1.0}
# (index in SIGNALS, weight) in the order score() adds them, and where travel sits
_WEIGHTED = tuple((SIGNALS.index(name), weight) for name, weight in WEIGHTS.items())
_TRAVEL = SIGNALS.index("travel")
# cadence links: gaps of one account spread by less than this (std of log gap), after this many gaps
REGULAR_LOG_SPREAD = 0.2
MIN_GAPS = 5
CADENCE_GRID = 0.25  # width of a cadence bucket, in log seconds (two offset grids, see _cadence_keys)
_TWO_PI_PER_DAY = 2 * math.pi / 86400.0
ROTATION_COUNTRIES = 3
SPREAD_COUNTRIES = 3
CROWD_ACCOUNTS = 8
# a home network (residential or mobile) in another country within this long of the last one: not a
# person travelling, who is hours on the way and on a hotel's or a roaming network, but a proxy
TRAVEL_SECONDS = 3600.0
_HOME_NETWORKS = frozenset({"residential", "mobile"})
# flatness: hour-of-day angles of a person's requests have a mean resultant length of about 0.6 (waking
# hours); uniform ones about sqrt(pi / 4n) (0.3 at n = 8). Only what is flatter than HUMAN_RESULTANT
# counts, so a group of people scores ~0 however many they are.
FLAT_MIN_REQUESTS = 8
HUMAN_RESULTANT = 0.5


def _new_account(ts: float) -> Row:
    return {
        "n": 0,
        "first": ts,
        "last": ts,
        "harvest": 0,
        "nonce": 0,
        "cot": 0,
        "proxy": 0,
        "nets": [],
        "n_nets": 0,
        "keys": {},
        "ev": [],
        "gn": 0,
        "gs": 0.0,
        "gq": 0.0,
        "hx": 0.0,
        "hy": 0.0,
        "piv": 0,
        "cc": [],
        "hop": 0,
    }


def _cadence_keys(row: Row) -> list[str]:
    """Cadence link keys once the account's gaps are regular: its log-median gap on two offset grids,
    so two accounts paced within half a bucket of each other always share one key."""
    count = row["gn"]
    if count < MIN_GAPS:
        return []
    mean = row["gs"] / count
    spread = math.sqrt(max(0.0, row["gq"] / count - mean * mean))
    if spread > REGULAR_LOG_SPREAD:
        return []
    return [f"tim:a{math.floor(mean / CADENCE_GRID)}", f"tim:b{math.floor(mean / CADENCE_GRID + 0.5)}"]


def _weighted(values: list[float]) -> float:
    """The :data:`WEIGHTS` sum over values in :data:`SIGNALS` order (a group's means or one account's
    contribution)."""
    return sum(weight * values[index] for index, weight in _WEIGHTED)


def _flatness(row: Row) -> float:
    resultant = math.hypot(row.get("hx", 0.0), row.get("hy", 0.0)) / row["n"]
    return float(max(0.0, HUMAN_RESULTANT - resultant) / HUMAN_RESULTANT)


def _main_script(rows: list[Row]) -> tuple[str | None, float]:
    """The specific request fingerprint (a campaign link) the most of these accounts used, and the share
    of them that used it."""
    counts: dict[str, int] = {}
    for row in rows:
        for script in row.get("cl", ()):
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return None, 0.0
    script = min(counts, key=lambda s: (-counts[s], s))
    return script, counts[script] / len(rows)


def exit_spread(countries: int) -> float:
    """0 for exits in one country, rising to 1 at ``SPREAD_COUNTRIES``."""
    return min(1.0, max(0, countries - 1) / (SPREAD_COUNTRIES - 1))


def crowding(accounts: int) -> float:
    """How far a shared-exit community is beyond a household: 0 for one account, 1 from
    ``CROWD_ACCOUNTS`` on."""
    return min(1.0, max(0, accounts - 1) / (CROWD_ACCOUNTS - 1))


class Coordination(Detector):
    name = "coordination"
    requests = True

    def __init__(
        self,
        context: Context | None = None,
        *,
        min_accounts: int = 5,
        min_community_accounts: int = 3,
        threshold: float = 2.5,
        max_requests_per_account: float = 400.0,
        min_rotation_requests: int = 5,
    ) -> None:
        super().__init__(context)
        self.min_accounts = min_accounts
        self.min_community_accounts = min_community_accounts
        self.threshold = threshold
        self.max_requests_per_account = max_requests_per_account
        self.min_rotation_requests = min_rotation_requests
        self.releases = ReleaseWatch(self.context.releases)
        self.groups = GroupTable(self, self.contribution, len(SIGNALS), max_listed=MAX_MEMBERS)
        self.exits = SharedExits(self, self.groups)

    def before_commit(self) -> None:
        self.groups.before_commit()

    def after_load(self) -> None:
        self.groups.after_load(whole=lambda key: key.startswith(EXIT))
        self.exits.after_load()

    def contribution(self, row: Row) -> list[float]:
        """An account's values of :data:`SIGNALS` (what it adds to each of its groups' sums)."""
        n = row["n"]
        return [
            float(n),
            row["harvest"] / n,
            row["nonce"] / n,
            row["cot"] / n,
            # addresses per request mean nothing for an account with a request or two
            min(1.0, row["n_nets"] / n) if n >= self.min_rotation_requests else 0.0,
            row["proxy"] / n,
            float(row.get("piv", 0)),
            _flatness(row) if n >= FLAT_MIN_REQUESTS else 0.0,
            1.0 if len(row.get("cc", ())) >= ROTATION_COUNTRIES else 0.0,
            float(row.get("hop", 0)),
        ]

    def observe_request(self, event: ApiRequest, features: RequestFeatures) -> list[Alert]:
        account = event.account_id
        if account is None:
            return []
        ts = event.ts
        name = ACCOUNT + account
        row = self.rows.get(name)
        if row is None:
            row = self.row(name, lambda: _new_account(ts))
        else:
            self.dirty.add(name)
        self.groups.changed.add(account)
        gap = ts - row["last"]
        if row["n"] and gap > 0:
            log_gap = math.log(gap)
            row["gn"] += 1
            row["gs"] += log_gap
            row["gq"] += log_gap * log_gap
        row["n"] += 1
        row["last"] = ts
        angle = (ts % 86400.0) * _TWO_PI_PER_DAY
        row["hx"] += math.cos(angle)
        row["hy"] += math.sin(angle)
        row["harvest"] += features.harvest
        row["nonce"] += features.nonce is not None
        row["cot"] += features.elicits
        row["proxy"] += features.proxy
        script = features.campaign_link
        if script is not None:
            scripts = row.get("cl")
            if scripts is None:
                row["cl"] = [script]
            elif script not in scripts and len(scripts) < MAX_SCRIPTS:
                scripts.append(script)
        net = features.subnet
        if net is not None and add_capped(row["nets"], net, 64):
            row["n_nets"] += 1
        if len(row["ev"]) < 5:
            add_capped(row["ev"], event.event_id, 5)
        keys = ["fp:" + features.fingerprint]
        tpl = features.prompt.skeleton
        if tpl is not None:
            keys.append("tpl:" + tpl)
        if net is not None and features.proxy:
            keys.append("net:" + net)
        if row["gn"] >= MIN_GAPS:
            keys += _cadence_keys(row)
        if event.network_type in _HOME_NETWORKS and event.country:
            countries = row.setdefault("cc", [])
            add_capped(countries, event.country, 8)
            if len(countries) >= ROTATION_COUNTRIES:
                keys.append(f"rot:{event.user_agent}")
            if row.get("lc") not in (None, event.country) and ts - row["lt"] <= TRAVEL_SECONDS:
                row["hop"] = 1
            row["lc"], row["lt"] = event.country, ts
        pivot = self.releases.pivot(event.model, ts, row["first"])
        if pivot is not None:
            row["piv"] = 1
            keys.append(f"rel:{pivot}|{features.fingerprint}")
        own = row["keys"]
        for key in keys:
            if key not in own and len(own) < MAX_KEYS:
                self.groups.join(account, row, key)
        if event.network_type == "residential" and event.source_ip:
            self.exits.observe(account, row, event.source_ip, event.country, ts)
        return []

    def group_signals(self, key: str) -> dict[str, float]:
        """Member means, each account weighted equally: one heavy account cannot carry a crowd."""
        size, means = self.groups.means(key)
        signals = dict(zip(SIGNALS, means, strict=True))
        signals["accounts"] = float(size)
        if key.startswith(EXIT):
            group = self.groups.group(key)
            signals["exit_spread"] = exit_spread(len(group.get("cc", ()))) if group is not None else 0.0
            signals["crowding"] = crowding(size)
        else:
            del signals["travel"]
        return signals

    def score(self, signals: dict[str, float]) -> float:
        weights = WEIGHTS | COMMUNITY_WEIGHTS if "crowding" in signals else WEIGHTS
        return sum(weight * signals[name] for name, weight in weights.items())

    def _screen(self, key: str) -> tuple[float, float]:
        """(requests per account, score) of a group straight from its sums: the same arithmetic as
        :meth:`group_signals` then :meth:`score`, without building the signal dict — most groups
        re-scored at a tick stay under the threshold, and that dict was most of the tick's cost."""
        size, means = self.groups.means(key)
        total = _weighted(means)
        if key.startswith(EXIT):
            group = self.groups.group(key)
            spread = exit_spread(len(group.get("cc", ()))) if group is not None else 0.0
            community = {"travel": means[_TRAVEL], "exit_spread": spread, "crowding": crowding(size)}
            for name, weight in COMMUNITY_WEIGHTS.items():
                total += weight * community[name]
        return means[0], total

    def tick(self, now: float) -> list[Alert]:
        self.exits.expire(now)
        alerts: list[Alert] = []
        for key in sorted(self.groups.settle()):
            group = self.groups.group(key)
            if group is None:
                continue
            size = group["size"]
            if key.startswith(EXIT):
                # households share an address too, but in one country
                if size < self.min_community_accounts or len(group.get("cc", ())) < 2:
                    continue
            elif size < self.min_accounts:
                continue
            if group["alerted_size"] and size < 2 * group["alerted_size"]:
                continue
            per_account, score = self._screen(key)
            if per_account > self.max_requests_per_account:
                continue  # one heavy service is not a many-account campaign; per-account detectors cover it
            if score < self.threshold:
                continue
            signals = self.group_signals(key)
            group["alerted_size"] = size
            self.dirty.add("g:" + key)
            alerts.append(self._alert(key, size, signals, score, now))
        return alerts

    def member_score(self, row: Row) -> float:
        """One account's share of a key group's score: the weighted sum of its own contribution, so a
        key group's score is the mean of its members' (community signals aside)."""
        return _weighted(self.contribution(row))

    def _alert(self, key: str, size: int, signals: dict[str, float], score: float, now: float) -> Alert:
        members = sorted(self.groups.listed(key))
        rows = [self.rows[ACCOUNT + m] for m in members]
        if not key.startswith(EXIT):
            floor = MEMBER_FLOOR * self.threshold
            core = [i for i, row in enumerate(rows) if self.member_score(row) >= floor]
            if core:  # empty only when the listed members are a capped sample of a larger group
                members, rows = [members[i] for i in core], [rows[i] for i in core]
        evidence = [e for r in rows[:25] for e in r["ev"][:2]]
        shown: dict[str, float | int | str | bool] = {k: round(v, 3) for k, v in signals.items()}
        link = key.split(":", 1)[0]
        shown["link"] = link
        shown["score"] = round(score, 3)
        shown["listed"] = len(members)
        links = [key]
        script, share = _main_script(rows)
        if script is not None:
            shown["script"], shown["script_share"] = script[3:], round(share, 3)
            if share >= SCRIPT_SHARE and script != key:
                links.append(script)
        described = key.split(":", 1)[1][:60] if link != "exit" else "shared residential exits"
        return Alert(
            id=alert_id(self.name, f"{key}#{int(math.log2(size))}"),
            kind="coordinated_accounts",
            detector=self.name,
            score=min(0.95, score / 4.0),
            detected_at=now,
            window=(min(r["first"] for r in rows), now),
            signals=shown,
            evidence=evidence,
            accounts=members,
            links=links,
            summary=(
                f"{size} accounts linked by {link} {described!r}"
                + (f", {len(members)} of them showing it: " if len(members) < size else ": ")
                + ", ".join(
                    f"{k} {v:.2f}"
                    for k, v in signals.items()
                    if (k in WEIGHTS or k in COMMUNITY_WEIGHTS) and v >= 0.2
                )
            ),
        )
