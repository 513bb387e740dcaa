"""The detectors added for hidden cohorts, window shift, coverage sweeps, and the slow-copy fix, on
small synthetic streams where the answer is known; and the evaluator's credit rule for mixed
accounts and its detection clock."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from modeltrace.monitor.alerts import Alert
from modeltrace.monitor.detectors.base import Context, Detector
from modeltrace.monitor.detectors.coverage import CapabilityCoverage
from modeltrace.monitor.detectors.shard_coverage import ShardCoverage
from modeltrace.monitor.detectors.tenant_cohort import TenantCohort
from modeltrace.monitor.detectors.window_shift import WindowShift
from modeltrace.monitor.evaluate import Labels, evaluate, under_the_bar
from modeltrace.monitor.events import ApiRequest, InfraCategory, InfraEvent
from modeltrace.monitor.featurize import Featurizer
from modeltrace.monitor.state import StateStore

HOUR, DAY = 3600.0, 86400.0
START = 1_700_000_000.0
QUESTIONS = [
    "How do I merge two dictionaries in Python?",
    "Write a haiku about autumn rain.",
    "What causes inflation in a small economy?",
    "Summarise the plot of Hamlet in three sentences.",
    "Plan a three day trip to Lisbon on a budget.",
    "Explain how vaccines train the immune system.",
]
ELICIT = "Lay out your entire reasoning process step by step, then state the final answer."


def _reseller_traffic(rng: random.Random, hours: int, attack_from: float | None) -> list[ApiRequest]:
    """A reseller with 300 end users choosing parameters per request; optionally, from ``attack_from``
    hours on, a cohort of 25 end users with one fixed client asking for reasoning 40 % of the time."""
    events: list[ApiRequest] = []
    users = [f"eu{i}" for i in range(300)]
    crew = [f"x{i}" for i in range(25)]
    for i in range(hours * 20):
        ts = START + i * HOUR / 20
        attack = attack_from is not None and ts >= START + attack_from * HOUR and rng.random() < 0.15
        question = rng.choice(QUESTIONS)
        prompt = f"{question} {ELICIT}" if (rng.random() < (0.4 if attack else 0.02)) else question
        events.append(
            ApiRequest(
                event_id=f"{'atk' if attack else 'ben'}{i}",
                ts=ts,
                source="gateway",
                origin="x:1",
                account_id="reseller",
                end_user=rng.choice(crew if attack else users),
                user_agent="Router/1.0",
                max_tokens=2048 if attack else rng.choice((None, 1024, 2048, 4096)),
                temperature=0.7 if attack else rng.choice((None, 0.0, 0.7, 1.0)),
                prompt_text=prompt,
            )
        )
    return events


def _run(detector: Detector, events: list[ApiRequest]) -> list[Alert]:
    featurizer, alerts = Featurizer(), []
    hour = events[0].ts // HOUR
    for event in events:
        if event.ts // HOUR > hour:
            hour = event.ts // HOUR
            alerts += detector.tick(hour * HOUR)
        alerts += detector.observe_request(event, featurizer.features(event))
    return alerts + detector.tick((hour + 1) * HOUR)


def test_a_cohort_hidden_in_a_reseller_is_found_by_its_client_and_habit() -> None:
    alerts = _run(TenantCohort(), _reseller_traffic(random.Random(1), 72, attack_from=24))
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.accounts == ["reseller"] and alert.signals["habit"] == "elicitation"
    assert "|2048|0.7|" in str(alert.signals["fingerprint"]) and float(alert.signals["log10_p"]) <= -6
    assert alert.detected_at < START + 48 * HOUR  # within a day of the cohort's start
    assert sum(e.startswith("atk") for e in alert.evidence) > len(alert.evidence) / 2


def test_a_reseller_without_a_cohort_raises_nothing() -> None:
    assert _run(TenantCohort(), _reseller_traffic(random.Random(2), 72, attack_from=None)) == []


def _shifting_tenant(rng: random.Random, shift: bool) -> list[ApiRequest]:
    """A tenant of 200 end users; with ``shift``, half its requests harvest once its reference (1,800
    requests) and one window are past."""
    events = []
    for i in range(2700):
        harvest = shift and i >= 2100 and rng.random() < 0.5
        events.append(
            ApiRequest(
                event_id=f"{'atk' if harvest else 'ben'}{i}",
                ts=START + i * 60.0,
                source="gateway",
                origin="x:1",
                account_id="app",
                end_user=f"u{rng.randrange(200)}",
                max_tokens=8192 if harvest else rng.choice((None, 512, 1024)),
                temperature=0.0 if harvest else rng.choice((None, 0.7)),
                logprobs=True if harvest else None,
                prompt_text=f"{rng.choice(QUESTIONS)} {ELICIT}" if harvest else rng.choice(QUESTIONS),
            )
        )
    return events


def test_a_window_unlike_the_tenant_history_is_flagged_with_its_unusual_requests() -> None:
    alerts = _run(WindowShift(), _shifting_tenant(random.Random(3), shift=True))
    assert len(alerts) == 1 and alerts[0].kind == "traffic_shift"
    assert float(alerts[0].signals["log10_p"]) <= -6
    assert all(e.startswith("atk") for e in alerts[0].evidence[:10])
    assert _run(WindowShift(), _shifting_tenant(random.Random(4), shift=False)) == []


# the content words of the questions above: tasks drawn from them spread over many topic buckets
_TASK_WORDS = sorted({word.strip("?.,").lower() for q in QUESTIONS for word in q.split() if len(word) > 3})


def _agent_product(rng: random.Random, tasks: int) -> list[ApiRequest]:
    """A support agent's traffic, nothing shifting: each task a conversation of 6–10 turns that repeat
    its prompt, one after another."""
    events, ts = [], START
    for task in range(tasks):
        prompt = "please help with my " + " ".join(rng.sample(_TASK_WORDS, 3))
        user = f"u{rng.randrange(300)}"
        for turn in range(rng.randint(6, 10)):
            events.append(
                ApiRequest(
                    event_id=f"ben{task}.{turn}",
                    ts=ts,
                    source="gateway",
                    origin="x:1",
                    account_id="agentco",
                    end_user=user,
                    session_id=f"conv{task}",
                    max_tokens=1024,
                    temperature=0.3,
                    prompt_text=prompt,
                )
            )
            ts += 5.0
        ts += 120.0
    return events


def test_a_conversation_counts_once_in_the_window_test() -> None:
    # turns of one conversation are not independent draws: counted as rows, a window of a few dozen
    # conversations looks nothing like the reference to a test that assumes exchangeable rows
    events = _agent_product(random.Random(6), 3000)
    detector = WindowShift()
    assert _run(detector, events) == []
    assert detector.rows["agentco"]["tests"] >= 3  # conversations enough for windows to be tested
    every_turn = _run(WindowShift(recent_sessions=0), events)
    # raised, and not at the margin of the bar (log10 p ≤ -6)
    assert len(every_turn) == 1 and float(every_turn[0].signals["log10_p"]) <= -7


def test_a_sweep_over_every_topic_stands_out_among_accounts_that_keep_to_theirs() -> None:
    rng = random.Random(5)
    names = "alpha bravo delta gamma kilo lima oscar sierra tango zulu hotel india juliet mike papa"
    names += (
        " quebec romeo victor whiskey yankee amber basil cedar dahlia ember fennel garnet hazel iris jade"
    )
    topics = [[f"{name}{j}" for j in range(6)] for name in names.split()]

    def prompt(topic: list[str]) -> str:
        return " ".join(rng.sample(topic, 3))

    events = []
    t = START
    for _ in range(400):  # warm-up: everyone's topics
        t += 1
        events.append(_plain("warm", t, prompt(rng.choice(topics))))
    for person in range(40):  # people keep to two topics each
        own = rng.sample(topics, 2)
        for _ in range(32):
            t += 1
            events.append(_plain(f"p{person}", t, prompt(rng.choice(own))))
    for i in range(32):  # the sweep visits the topics in turn
        t += 1
        events.append(_plain("sweeper", t, prompt(topics[i % len(topics)])))
    alerts = _run(CapabilityCoverage(warmup=400, topics=len(topics)), events)
    assert [a.accounts for a in alerts] == [["sweeper"]]
    assert int(alerts[0].signals["coverage"]) > float(alerts[0].signals["reference_median"]) + 5


def test_coverage_topics_are_the_same_after_a_restart_and_match_the_hashed_vectors() -> None:
    rng = random.Random(9)
    vocabulary = [f"word{i}" for i in range(300)]
    featurizer = Featurizer()
    detector = CapabilityCoverage(warmup=300, topics=12)
    prompts = [" ".join(rng.sample(vocabulary, 6)) for _ in range(600)]
    for i, text in enumerate(prompts[:300]):
        event = _plain("warm", START + i, text)
        detector.observe_request(event, featurizer.features(event))
    assert detector._centroids is not None  # the warm-up fitted the topic model
    store = StateStore(":memory:")
    store.commit([detector], {}, [], {})
    restarted = CapabilityCoverage(warmup=300, topics=12)
    store.load(restarted)
    assigned = set()
    for text in prompts[300:]:
        words = featurizer.prompt(text)[0].words
        topic = detector.topic(words)
        assert restarted.topic(words) == topic
        # the word-score lookup picks the centroid nearest to the prompt's normalised TF-IDF vector
        vector = detector._vector(words)
        if vector:
            keys = list(vector)
            values = np.fromiter(vector.values(), float)
            assert topic == int(np.argmax(detector._centroids[:, keys] @ values))
        assigned.add(topic)
    assert len(assigned) > 3


def _plain(account: str, ts: float, prompt: str) -> ApiRequest:
    return ApiRequest(
        event_id=f"{account}{ts}",
        ts=ts,
        source="gateway",
        origin="x:1",
        account_id=account,
        prompt_text=prompt,
    )


def _read(who: str, ts: float, shard: int) -> InfraEvent:
    return InfraEvent(
        event_id=f"{who}{ts}",
        ts=ts,
        source="cloudtrail",
        origin="x:1",
        provider="aws",
        action="s3:GetObject",
        category=InfraCategory.READ,
        principal=f"arn:aws:iam::1:user/{who}",
        resource=f"s3://ckpt/m/v1/model-{shard:05d}-of-00020.safetensors",
    )


def test_slow_copying_on_two_afternoons_less_than_a_day_apart_is_found() -> None:
    detector = ShardCoverage(Context(checkpoints={"s3://ckpt/m/v1/": 20}))
    day = 86400 * (int(START) // 86400)
    reads = [_read("thief", day + 15 * HOUR, 3), _read("thief", day + 16 * HOUR, 11)]
    reads += [_read("thief", day + DAY + 10 * HOUR, 7), _read("thief", day + DAY + 11 * HOUR, 1)]
    found = [a for event in reads for a in detector.observe_infra(event)]
    # 3 of 20 shards, 19 h after the first read: the old rule wanted 24 h and then never looked again
    assert len(found) == 1 and found[0].signals["coverage"] == 0.15
    assert float(found[0].signals["days_spanned"]) < 1
    burst = [_read("trainer", day + i * 60.0, i) for i in range(20)]
    assert not [a for event in burst for a in detector.observe_infra(event)]


def test_a_mixed_account_counts_as_found_only_through_the_campaign_own_requests() -> None:
    labels = Labels(START, START + 7 * DAY)
    labels.accounts = {"reseller": "mixed", "someone": "benign"}
    labels.groups = {"c1": {"type": "campaign", "kind": "reseller_mixed", "start": START + DAY}}
    labels.members = {"c1": {"reseller"}}
    labels.event_group = {"atk1": "c1"}

    def alert(name: str, at: float, evidence: list[str]) -> dict[str, object]:
        return {
            "id": name,
            "score": 0.9,
            "campaign": name,
            "detected_at": at,
            "detector": "d",
            "accounts": ["reseller"],
            "evidence": evidence,
        }

    def found(alerts: list[dict[str, object]]) -> bool:
        return bool(evaluate(alerts, labels, [])["groups"]["c1"]["detected"])

    assert not found([alert("other", START + 2 * DAY, ["ben1"])])  # names it, about something else
    assert not found([alert("early", START + 0.5 * DAY, ["atk1"])])  # before the campaign began
    assert found([alert("hit", START + 2 * DAY, ["ben1", "atk1"])])


def test_time_to_detect_runs_from_the_first_labelled_event_not_the_planned_start(tmp_path: Path) -> None:
    # an insider planned to begin on a Friday evening acts on Monday: nothing could be seen before that
    first_act = START + 3 * DAY
    record = {
        "timestamp": datetime.fromtimestamp(first_act, UTC).isoformat(),
        "request_id": "req_1",
        "account_id": "atk",
        "request": {"model": "m", "messages": [{"role": "user", "content": "hello"}]},
    }
    logs = tmp_path / "gateway.jsonl"
    logs.write_text(json.dumps(record) + "\n", encoding="utf-8")
    labels = Labels(START, START + 7 * DAY)
    labels.accounts = {"atk": "attack"}
    labels.groups = {"c1": {"type": "campaign", "kind": "slow", "start": START}}
    labels.members = {"c1": {"atk"}}
    labels.event_group = {"gw:req_1": "c1"}
    alert = {"id": "a", "score": 0.9, "campaign": "a", "detector": "d", "accounts": ["atk"]}
    row = evaluate([{**alert, "detected_at": first_act + 2 * HOUR}], labels, [logs])["groups"]["c1"]
    assert row["hours_to_detect"] == 2.0
    assert row["hours_from_planned_start"] == 74.0
    assert row["share_served_before"] == 1.0


def test_one_budgeted_campaign_finds_one_group_and_a_mostly_benign_one_is_false() -> None:
    labels = Labels(START, START + 7 * DAY)
    labels.accounts = {"a1": "attack", "a2": "attack", "b1": "attack", "n1": "benign", "n2": "benign"}
    labels.groups = {
        "c1": {"type": "campaign", "kind": "hydra", "start": START},
        "c2": {"type": "campaign", "kind": "slow", "start": START},
    }
    labels.members = {"c1": {"a1", "a2"}, "c2": {"b1"}}

    def alert(name: str, campaign: str, accounts: list[str]) -> dict[str, object]:
        at = START + HOUR
        return {
            "id": name,
            "score": 0.9,
            "campaign": campaign,
            "detected_at": at,
            "detector": "d",
            "accounts": accounts,
        }

    # one campaign sweeping both groups together is about c1 (it names more of c1) and finds only c1
    swept = evaluate([alert("s", "k1", ["a1", "a2", "b1"])], labels, [])
    assert swept["groups"]["c1"]["detected"] and not swept["groups"]["c2"]["detected"]
    # two campaigns find both; a campaign naming one attacker among two benign accounts is false
    apart = [alert("x", "k1", ["a1", "a2"]), alert("y", "k2", ["b1"]), alert("z", "k3", ["b1", "n1", "n2"])]
    result = evaluate(apart, labels, [])
    assert result["campaign_recall"] == 1.0 and result["false_alerts_in_budget"] == 1


def test_a_campaign_naming_as_many_of_two_groups_is_about_neither() -> None:
    # a /24 holding one account each of two campaigns and some people: no campaign a team can act on
    labels = Labels(START, START + 7 * DAY)
    labels.accounts = {"a1": "attack", "a2": "attack", "b1": "attack", "b2": "attack"}
    labels.groups = {
        "c1": {"type": "campaign", "kind": "hydra", "start": START},
        "c2": {"type": "campaign", "kind": "hydra", "start": START},
    }
    labels.members = {"c1": {"a1", "a2"}, "c2": {"b1", "b2"}}

    def alert(accounts: list[str]) -> dict[str, object]:
        return {
            "id": "x",
            "score": 0.9,
            "campaign": "k",
            "detected_at": START + HOUR,
            "detector": "d",
            "accounts": accounts,
        }

    tied = evaluate([alert(["a1", "b1"])], labels, [])["groups"]
    assert not tied["c1"]["detected"] and not tied["c2"]["detected"]
    leaning = evaluate([alert(["a1", "b1", "b2"])], labels, [])["groups"]
    assert leaning["c2"]["detected"] and not leaning["c1"]["detected"]


def test_a_campaign_is_about_the_group_its_members_come_from_not_everyone_it_names() -> None:
    # campaign "k" claimed c1's two accounts first; a later alert of "k" also names c2's three accounts,
    # which campaign "m" had claimed: "k" is about c1 (what a team acting on "k" holds), "m" about c2
    labels = Labels(START, START + 7 * DAY)
    labels.accounts = dict.fromkeys(("a1", "a2", "b1", "b2", "b3"), "attack")
    labels.accounts |= {"p1": "benign", "p2": "benign"}
    labels.groups = {g: {"type": "campaign", "kind": "hydra", "start": START} for g in ("c1", "c2")}
    labels.members = {"c1": {"a1", "a2"}, "c2": {"b1", "b2", "b3"}}
    base = {"score": 0.9, "detected_at": START + HOUR, "detector": "d"}
    first = {**base, "id": "1", "campaign": "k", "accounts": ["a1", "a2"], "claimed": ["a1", "a2"]}
    theirs = {
        **base,
        "id": "2",
        "campaign": "m",
        "accounts": ["b1", "b2", "b3"],
        "claimed": ["b1", "b2", "b3"],
    }
    wide = {**base, "id": "3", "campaign": "k", "accounts": ["a1", "b1", "b2", "b3"], "claimed": []}
    groups = evaluate([first, theirs, wide], labels, [], budget_per_week=14)["groups"]
    assert groups["c1"]["detected"] and groups["c2"]["detected"]
    # alerts that do not say what they claimed (older versions): everyone they name, as before
    old = [{k: v for k, v in a.items() if k != "claimed"} for a in (first, theirs, wide)]
    groups = evaluate(old, labels, [], budget_per_week=14)["groups"]
    assert not groups["c1"]["detected"] and groups["c2"]["detected"]
    # membership counts against a campaign too: one whose own members are people is a false alert
    people = {**base, "id": "4", "campaign": "q", "accounts": ["p1", "p2", "a1"], "claimed": ["p1", "p2"]}
    result = evaluate([first, people], labels, [], budget_per_week=14)
    assert result["false_alerts_in_budget"] == 1


def test_the_budget_is_read_in_order_of_priority_not_score() -> None:
    # one campaign's alert scores higher, but three of the four accounts it names are the other
    # campaign's members: with room for one campaign, a team reads the one the priority puts first
    labels = Labels(START, START + 7 * DAY)
    labels.accounts = dict.fromkeys(("a1", "a2", "a3"), "attack") | {"p1": "benign"}
    labels.groups = {"c1": {"type": "campaign", "kind": "hydra", "start": START}}
    labels.members = {"c1": {"a1", "a2", "a3"}}
    base = {"detected_at": START + HOUR, "detector": "d"}
    crew = {**base, "id": "1", "campaign": "k", "accounts": ["a1", "a2", "a3"], "score": 0.8}
    echo = {**base, "id": "2", "campaign": "q", "accounts": ["a1", "a2", "a3", "p1"], "score": 0.9}
    claims = [{**crew, "claimed": ["a1", "a2", "a3"], "priority": 0.8}, {**echo, "claimed": ["p1"]}]
    by_score = evaluate(claims, labels, [], budget_per_week=1)
    assert by_score["false_alerts_in_budget"] == 1 and not by_score["groups"]["c1"]["detected"]
    claims[1]["priority"] = 0.225
    by_priority = evaluate(claims, labels, [], budget_per_week=1)
    assert by_priority["false_alerts_in_budget"] == 0 and by_priority["groups"]["c1"]["detected"]


def test_the_issue_bar_counts_only_big_campaigns_of_few_requests_each() -> None:
    labels = Labels(START, START + 7 * DAY)
    labels.accounts = {f"h{i}": "attack" for i in range(100)} | {"s0": "attack", "r": "mixed"}

    def campaign(accounts: int, requests: list[int], share: float = 0.0) -> dict[str, object]:
        params = {"accounts": accounts, "requests": requests, "share": share}
        return {"type": "campaign", "kind": "hydra", "start": START, "params": params}

    labels.groups = {
        "hydra": campaign(100, [20, 50]),
        "chatty": campaign(100, [200, 400]),
        "faint": campaign(100, [20, 50], share=0.01),
        "small": campaign(1, [500, 900]),
    }
    labels.members = {g: {f"h{i}" for i in range(100)} for g in ("hydra", "chatty", "faint")}
    labels.members["small"] = {"s0"}
    assert [g for g, r in labels.groups.items() if under_the_bar(r)] == ["hydra"]
    alert = {"id": "x", "score": 0.9, "campaign": "k", "detected_at": START + HOUR, "detector": "d"}
    missed = evaluate([{**alert, "accounts": ["s0"]}], labels, [])["bar"]
    assert missed == {
        "groups": 1,
        "recall": 0.0,
        "missed": ["hydra"],
        "max_hours_to_detect": None,
        "within_day": 0,
    }
    # found a day and a quarter in, by an alert about hydra's own account (the three big groups share
    # the rest): counted as found, and as late against the 24-hour target
    labels.accounts["h100"] = "attack"
    labels.members["hydra"].add("h100")
    late = evaluate([{**alert, "accounts": ["h100"], "detected_at": START + 30 * HOUR}], labels, [])["bar"]
    assert late == {"groups": 1, "recall": 1.0, "missed": [], "max_hours_to_detect": 30.0, "within_day": 0}
    early = evaluate([{**alert, "accounts": ["h100", "h1"]}], labels, [])["bar"]
    assert (early["max_hours_to_detect"], early["within_day"]) == (1.0, 1)
