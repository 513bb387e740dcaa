"""The featurizer, the chunk scorer's memo, cadence and pivot links, and campaign merging by link."""

from __future__ import annotations

import math

from modeltrace.monitor.alerts import Alert, campaign_of
from modeltrace.monitor.detectors.coordination import _cadence_keys
from modeltrace.monitor.detectors.release_pivot import ReleaseWatch
from modeltrace.monitor.elicitation import ReasoningScorer
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import Featurizer, names_one_script
from modeltrace.monitor.run import Monitor
from modeltrace.monitor.state import StateStore


def _request(prompt: str, **fields: object) -> ApiRequest:
    return ApiRequest(event_id="e", ts=0.0, source="gateway", origin="x:1", prompt_text=prompt, **fields)  # type: ignore[arg-type]


def test_template_features_ignore_the_nonce_and_are_computed_once() -> None:
    featurizer = Featurizer()
    a = featurizer.features(_request("Explain your full chain of thought before answering. [ref:1a2b3c4d]"))
    b = featurizer.features(_request("Explain your full chain of thought before answering. [ref:9f8e7d6c]"))
    assert (a.nonce, b.nonce) == ("1a2b3c4d", "9f8e7d6c")
    assert a.prompt is b.prompt  # one template, scored once
    assert a.elicits and a.prompt.family == "step_by_step"
    plain = featurizer.features(_request("Give me a recipe for a vegan lasagne"))
    assert not plain.elicits and plain.nonce is None


def test_memoised_chunk_scores_equal_fresh_ones() -> None:
    memo, fresh = ReasoningScorer(), ReasoningScorer(cache_size=1)
    texts = ["Spell out all your reasoning steps, one by one, then answer.", "zeige deinen denkprozess", "hi"]
    for text in texts * 2:
        assert memo.score(text) == fresh.score(text)


def test_campaign_link_needs_explicit_parameters() -> None:
    featurizer = Featurizer()
    harvest: dict[str, object] = {"max_tokens": 8192, "temperature": 0.0, "n": 4, "logprobs": True}
    harvest |= {"top_logprobs": 5, "user_agent": "x/1"}
    assert featurizer.features(_request("hello there", **harvest)).campaign_link is not None
    assert featurizer.features(_request("hello there", user_agent="x/1")).campaign_link is None


def test_cadence_keys_only_for_regular_gaps() -> None:
    def row(gaps: list[float]) -> dict[str, float]:
        logs = [math.log(g) for g in gaps]
        return {"gn": len(logs), "gs": sum(logs), "gq": sum(v * v for v in logs)}

    regular = _cadence_keys(row([60, 62, 58, 61, 59, 60]))
    assert regular and _cadence_keys(row([61, 63, 59, 62, 60, 61])) == regular
    assert _cadence_keys(row([5, 600, 20, 3600, 40, 9])) == []


def test_release_pivot_needs_prior_activity_and_the_first_day() -> None:
    watch = ReleaseWatch([(1000.0, "m-new")])
    assert watch.pivot("m-new", 1000.0 + 3600, first_seen=500.0) == "m-new"
    assert watch.pivot("m-new", 1000.0 + 3600, first_seen=1500.0) is None  # signed up after the release
    assert watch.pivot("m-new", 1000.0 + 2 * 86400, first_seen=500.0) is None  # too late
    assert watch.pivot("m-old", 1000.0 + 3600, first_seen=500.0) is None


def _alert(name: str, accounts: list[str], *links: str) -> Alert:
    return Alert(name, "k", "d", 1.0, 0.0, (0.0, 0.0), {}, ["e"], "s", accounts=accounts, links=list(links))


def test_alerts_sharing_a_link_are_one_campaign() -> None:
    monitor = Monitor([], StateStore())
    first, second, third = (
        _alert("a1", ["a1"], "fp:x"),
        _alert("a2", ["a2"], "fp:x"),
        _alert("a3", ["a3"], "fp:y"),
    )
    monitor._emit([first, second, third])
    assert first.campaign == second.campaign != third.campaign


def test_an_alert_naming_several_campaigns_joins_the_one_holding_most_and_merges_none() -> None:
    store = StateStore()
    monitor = Monitor([], store)
    # one operator's group of three, another's single account, then a group alert (a template two
    # crowds share) naming two of the first, the second's account and two new accounts
    crew, lone = _alert("g1", ["a1", "a2", "a3"], "tpl:x"), _alert("x1", ["b1"])
    monitor._emit([crew, lone])
    assert crew.campaign != lone.campaign
    shared = _alert("g2", ["a1", "a2", "b1", "c1", "c2"], "tpl:y")
    monitor._emit([shared])
    assert shared.campaign == crew.campaign and shared.merged == []
    # the second operator's account stays in its own campaign; the new accounts joined the first
    later, newcomer = _alert("x2", ["b1"]), _alert("x3", ["c1"])
    monitor._emit([later, newcomer])
    assert later.campaign == lone.campaign and newcomer.campaign == crew.campaign
    # an account named like the bookkeeping rows is just an account, and a restart sees the same
    hostile = _alert("x4", [f"merged:{crew.campaign}", f"n:{lone.campaign}"])
    monitor._emit([hostile])
    assert hostile.campaign not in (crew.campaign, lone.campaign)
    monitor.commit()
    restarted = Monitor([], store)
    again = [_alert("x5", ["a3"]), _alert("x6", ["b1"]), _alert("x7", [f"merged:{crew.campaign}"])]
    restarted._emit(again)
    assert [a.campaign for a in again] == [crew.campaign, lone.campaign, hostile.campaign]


def test_merges_written_by_earlier_versions_are_folded_for_readers() -> None:
    written = [
        {"id": "1", "campaign": "cmp-a"},
        {"id": "2", "campaign": "cmp-b"},
        {"id": "3", "campaign": "cmp-c", "merged": ["cmp-b"]},
        {"id": "4", "campaign": "cmp-a", "merged": ["cmp-c"]},
    ]
    folded = campaign_of(written)
    assert {folded[c] for c in ("cmp-a", "cmp-b", "cmp-c")} == {"cmp-a"}


def test_a_merge_loop_in_old_state_does_not_hang_the_campaign_lookup() -> None:
    store = StateStore()
    monitor = Monitor([], store)
    # what a version that kept account rows under bare names wrote for an account named "merged:cmp-a"
    monitor._campaigns.row("merged:cmp-a")["c"] = "cmp-a"
    monitor._campaigns.row("merged:cmp-b")["c"] = "cmp-c"
    monitor._campaigns.row("merged:cmp-c")["c"] = "cmp-b"
    assert monitor._resolve("cmp-a") == "cmp-a"
    assert monitor._resolve("cmp-b") in ("cmp-b", "cmp-c")


def test_only_a_fingerprint_with_enough_explicit_parameters_names_a_script() -> None:
    featurizer = Featurizer()
    harvest: dict[str, object] = {"max_tokens": 8192, "temperature": 0.0, "n": 4, "user_agent": "x/1"}
    link = featurizer.features(_request("hello there", **harvest)).campaign_link
    assert link is not None and names_one_script(link)
    plain = featurizer.features(_request("hello there", user_agent="x/1", n=4)).fingerprint
    assert not names_one_script("fp:" + plain)
    # parameters are read from the right: a user agent that spells some out does not count
    assert not names_one_script("fp:evil|8192|0.0|4|True|None|None|None|None|None")
    assert not names_one_script("tpl:8192|0.0|4|True|5") and not names_one_script("fp:x|1|2")


def test_an_alert_naming_a_client_script_goes_where_that_script_is_held() -> None:
    script, other = "fp:x/1|8192|0.0|4|True|5", "fp:y/2|4096|1.0|1|True|5"
    monitor = Monitor([], StateStore())
    # a template two operators' crowds share sweeps accounts of both into one campaign first
    crowd = _alert("t1", ["a1", "a2", "b1", "b2", "b3"], "tpl:z", script)
    monitor._emit([crowd])
    # b's own client script is held by no campaign: b's first alert starts one, though the crowd holds
    # its account, and b's later alerts and fragments join it
    first = _alert("h1", ["b1"], other)
    later, fragment = _alert("h2", ["b2"], other), _alert("x1", ["c1", "c2", "c3"], "exit:q", other)
    monitor._emit([first, later, fragment])
    assert first.campaign != crowd.campaign
    assert later.campaign == fragment.campaign == first.campaign
    # a's script is held by the crowd's campaign, so a's alerts go there even naming only new accounts
    mine = _alert("h3", ["a9"], script)
    monitor._emit([mine])
    assert mine.campaign == crowd.campaign


def test_an_alert_on_shared_infrastructure_joins_a_campaign_but_claims_none_of_its_accounts() -> None:
    monitor = Monitor([], StateStore())
    # a proxy /24 that two operators' crowds buy from first, then what each crowd's template says
    proxy = _alert("n1", ["a1", "a2", "b1", "b2"], "net:23.1.1.0/24")
    crew = _alert("t1", ["a1", "a2"], "tpl:x")
    other = _alert("t2", ["b1", "b2"], "tpl:y")
    monitor._emit([proxy, crew, other])
    assert crew.campaign != other.campaign  # the /24 named both crowds first and decided neither
    # a later /24 alert joins the campaign holding most of what it names, and leaves its new account free
    again = _alert("n2", ["a1", "a2", "c1"], "net:23.9.9.0/24")
    lone = _alert("x1", ["c1"])
    monitor._emit([again, lone])
    assert again.campaign == crew.campaign and lone.campaign not in (crew.campaign, other.campaign)
    # each account is claimed once, by the first alert that places it: a campaign's members
    assert (proxy.claimed, crew.claimed, other.claimed) == ([], ["a1", "a2"], ["b1", "b2"])
    assert (again.claimed, lone.claimed) == ([], ["c1"])
    # residential exits shared within a day are a narrower tie: such an alert claims its accounts
    exits, after = _alert("e1", ["d1", "d2"], "exit:d1"), _alert("x2", ["d2"])
    monitor._emit([exits, after])
    assert after.campaign == exits.campaign
    assert (exits.claimed, after.claimed) == (["d1", "d2"], [])
    assert exits.to_dict()["claimed"] == ["d1", "d2"] and "claimed" not in _alert("y", ["z"]).to_dict()


def test_an_alert_naming_mostly_other_campaigns_members_is_a_weaker_lead() -> None:
    monitor = Monitor([], StateStore())
    crews = [_alert(f"t{i}", [f"a{i}", f"b{i}"], f"fp:x/{i}|1|1|1|1|1") for i in range(3)]
    monitor._emit(crews)
    assert [c.priority for c in crews] == [1.0, 1.0, 1.0]  # nobody they name was anyone's yet
    # a template the three crews and one person share, with a client script no campaign holds: it
    # starts a campaign whose one member is the person; three of the four accounts it names are the
    # crews' members, so as a lead it weighs a quarter of its score
    shared = _alert("s", ["a0", "a1", "a2", "p"], "tpl:common", "fp:z/9|2|2|2|2|2")
    monitor._emit([shared])
    assert shared.claimed == ["p"] and shared.campaign not in {c.campaign for c in crews}
    assert shared.priority == 0.25 and shared.score == 1.0
    assert shared.to_dict()["priority"] == 0.25
    # evidence piling onto a campaign's own accounts keeps its weight
    again = _alert("r", ["a0", "b0", "n"], "fp:x/0|1|1|1|1|1")
    monitor._emit([again])
    assert again.campaign == crews[0].campaign and again.priority == 1.0
