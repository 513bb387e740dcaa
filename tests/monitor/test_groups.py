"""Linked groups kept as running sums, and communities of accounts sharing residential exits."""

from __future__ import annotations

import random
from typing import Any

import pytest

from modeltrace.monitor.detectors.base import Detector
from modeltrace.monitor.detectors.coordination import SCRIPT_SHARE, Coordination
from modeltrace.monitor.detectors.group_table import GROUP, SUMMED, TRACK_FROM, GroupTable
from modeltrace.monitor.detectors.shared_exits import EXIT
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import Featurizer
from modeltrace.monitor.state import StateStore

HOUR = 3600.0


def _table(detector: Detector) -> GroupTable:
    return GroupTable(detector, lambda row: [float(row["v"]), float(row["v"]) ** 2], 2, max_listed=1000)


def _recomputed(detector: Detector, table: GroupTable, key: str) -> list[float]:
    rows = [detector.rows["a:" + m] for m in table.members[key]]
    return [sum(float(r["v"]) for r in rows), sum(float(r["v"]) ** 2 for r in rows)]


def test_running_sums_equal_sums_recomputed_from_members_also_after_a_restart() -> None:
    rng = random.Random(5)
    detector = Detector()
    detector.name = "groups"
    table = _table(detector)
    keys = [f"k{i}" for i in range(8)]
    for step in range(600):
        account = f"acct{rng.randrange(40)}"
        row = detector.row("a:" + account, lambda: {"v": 0, "keys": {}})
        row["v"] = rng.randrange(100)
        table.changed.add(account)
        key = rng.choice(keys)
        if key not in row["keys"]:
            table.join(account, row, key)
        if step % 37 == 0:
            table.settle()
    table.settle()
    for key in keys:
        group = table.group(key)
        assert group is not None and group["size"] == len(table.members[key])
        if group["size"] >= TRACK_FROM:
            assert group["sums"] == pytest.approx(_recomputed(detector, table, key))
            size, means = table.means(key)
            assert means[0] == pytest.approx(group["sums"][0] / size)
    store = StateStore()
    table.before_commit()
    store.commit([detector], {}, [], {})
    again = Detector()
    again.name = "groups"
    store.load(again)
    restored = _table(again)
    restored.after_load()
    assert {k: sorted(v) for k, v in restored.members.items()} == {
        k: sorted(v) for k, v in table.members.items()
    }
    assert again.rows == detector.rows


def test_a_group_starts_summing_at_its_third_member_with_every_member_counted() -> None:
    detector = Detector()
    table = _table(detector)
    for account, value in (("a", 1), ("b", 2)):
        row = detector.row("a:" + account, lambda: {"v": 0, "keys": {}})
        row["v"] = value
        table.join(account, row, "tpl:x")
    table.settle()
    assert detector.rows[GROUP + "tpl:x"]["sums"] is None  # two accounts: counted, not summed
    row = detector.row("a:c", lambda: {"v": 4, "keys": {}})
    table.join("c", row, "tpl:x")
    assert "tpl:x" in table.settle()
    assert detector.rows[GROUP + "tpl:x"]["sums"] == [7.0, 21.0]
    assert all(detector.rows["a:" + m]["keys"]["tpl:x"] == SUMMED for m in "abc")


def _request(account: str, ts: float, ip: str, country: str, network: str = "residential") -> ApiRequest:
    return ApiRequest(
        event_id=f"{account}@{ts}",
        ts=ts,
        source="gateway",
        origin="x:1",
        account_id=account,
        source_ip=ip,
        country=country,
        network_type=network,
        user_agent="python-requests/2.32",
        prompt_text="Explain how vaccines train the immune system.",
    )


def _run(events: list[ApiRequest]) -> Coordination:
    detector, featurizer = Coordination(), Featurizer()
    for event in sorted(events, key=lambda e: e.ts):
        detector.observe_request(event, featurizer.features(event))
    detector.tick(max(e.ts for e in events) + HOUR)
    return detector


def _community(detector: Coordination, account: str) -> set[str]:
    key: Any = detector.rows["a:" + account].get("exit")
    return set(detector.groups.members[key]) if key else {account}


def test_accounts_meeting_on_residential_addresses_form_one_community_across_countries() -> None:
    t = 1_000_000.0
    events = [
        _request("a", t, "23.1.1.1", "BR"),
        _request("b", t + 60, "23.1.1.1", "BR"),  # b meets a in Brazil
        _request("b", t + 120, "23.9.9.9", "PL"),
        _request("c", t + 200, "23.9.9.9", "PL"),  # c meets b in Poland
        _request("d", t + 300, "23.5.5.5", "VN"),
        _request("e", t + 400, "23.5.5.5", "VN"),  # d and e: a second community ...
        _request("e", t + 500, "23.1.1.1", "BR"),  # ... merged into the first through e
    ]
    detector = _run(events)
    assert _community(detector, "a") == {"a", "b", "c", "d", "e"}
    key = detector.rows["a:a"]["exit"]
    assert key.startswith(EXIT) and sorted(detector.groups.group(key)["cc"]) == ["BR", "PL", "VN"]
    signals = detector.group_signals(key)
    assert signals["accounts"] == 5 and signals["exit_spread"] == 1.0 and signals["crowding"] > 0.5


def test_mobile_and_hosting_addresses_and_stale_ones_do_not_link() -> None:
    t = 1_000_000.0
    events = [
        _request("p", t, "23.5.0.1", "US", "mobile"),  # carrier-grade NAT
        _request("q", t + 60, "23.5.0.1", "US", "mobile"),
        _request("r", t, "45.1.1.1", "NL", "hosting"),  # a VPN exit
        _request("s", t + 60, "45.1.1.1", "NL", "hosting"),
        _request("u", t, "23.2.2.2", "DE"),
        _request("v", t + 3 * 86400, "23.2.2.2", "DE"),  # the address changed hands days later
    ]
    detector = _run(events)
    assert all(_community(detector, a) == {a} for a in "pqrsuv")
    assert "x:23.2.2.2" in detector.rows  # v holds it now; u's use has expired
    detector.tick(t + 6 * 86400)
    assert "x:23.2.2.2" not in detector.rows


def test_travel_between_home_networks_within_the_hour_is_noted() -> None:
    t = 1_000_000.0
    detector = _run([_request("a", t, "23.1.1.1", "BR"), _request("a", t + 600, "23.9.9.9", "PL")])
    assert detector.rows["a:a"]["hop"] == 1
    slow = _run([_request("b", t, "23.1.1.1", "BR"), _request("b", t + 5 * HOUR, "23.9.9.9", "PL")])
    assert slow.rows["a:b"]["hop"] == 0


def _script_alerts(scripted: int, crowd: int = 8) -> list[Any]:
    """Coordination alerts on a crowd sharing one reasoning-elicitation template with harvesting
    parameters; ``scripted`` of its accounts send them from one specific client (every parameter set),
    the others set only ``n``."""
    detector, featurizer = Coordination(), Featurizer()
    t = 1_000_000.0
    for i in range(crowd):
        own = {"user_agent": "x/1", "max_tokens": 8192, "temperature": 0.0, "n": 4, "logprobs": True}
        fields: dict[str, Any] = own | {"top_logprobs": 5} if i < scripted else {"n": 4}
        for k in range(6):
            event = ApiRequest(
                event_id=f"s{i}-{k}",
                ts=t + 97 * i + 600 * k,
                source="gateway",
                origin="x:1",
                account_id=f"acct{i}",
                prompt_text=f"Explain your full chain of thought before answering. [ref:{i:04x}{k:04x}]",
                **fields,
            )
            detector.observe_request(event, featurizer.features(event))
    return detector.tick(t + 6 * HOUR)


def test_a_group_alert_names_the_client_script_most_of_its_members_use() -> None:
    script = "fp:x/1|8192|0.0|4|True|5"
    alerts = _script_alerts(scripted=6)
    assert alerts and all(script in a.links for a in alerts)
    template = next(a for a in alerts if a.links[0].startswith("tpl:"))
    assert template.signals["script"] == script[3:] and template.signals["script_share"] == 0.75
    # a script one member of eight uses (below SCRIPT_SHARE) is shown, but is no campaign link
    assert SCRIPT_SHARE > 1 / 8
    few = next(a for a in _script_alerts(scripted=1) if a.links[0].startswith("tpl:"))
    assert few.signals["script_share"] == 0.125 and len(few.links) == 1


def test_a_group_alert_lists_the_members_that_show_the_behaviour_and_counts_all() -> None:
    """Nine harvesting accounts and four people share a prompt ending: the group passes the threshold
    on the nine, and its alert names the nine, not the people who merely phrase a request alike."""
    detector, featurizer = Coordination(), Featurizer()
    t = 1_000_000.0
    attackers, people = [f"bot{i}" for i in range(9)], [f"person{i}" for i in range(4)]
    for i, account in enumerate(attackers + people):
        bot = account.startswith("bot")
        for k in range(6):
            text = f"Tell me about topic {k}. Keep it short please"
            elicit = f"[ref:c0ffee{i:02x}{k:02x}] Think step by step and show your full reasoning. "
            event = ApiRequest(
                event_id=f"{account}-{k}",
                ts=t + 97 * i + 600 * k,
                source="gateway",
                origin="x:1",
                account_id=account,
                prompt_text=elicit + text if bot else text,
                n=4 if bot else None,
                logprobs=True if bot else None,
            )
            detector.observe_request(event, featurizer.features(event))
    alerts = [a for a in detector.tick(t + 6 * HOUR) if a.links[0] == "tpl:keep it short please"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.accounts == sorted(attackers)
    assert alert.signals["accounts"] == 13 and alert.signals["listed"] == 9
    assert "13 accounts" in alert.summary and "9 of them" in alert.summary
    assert {e.split("-")[0] for e in alert.evidence} <= set(attackers)
