"""The two sizes of simulated log sets, ``ci`` and ``full``, as data.

``ci``: 7 days, one release, ~900 API accounts, every benign hard case and one campaign of every
kind, 3 infrastructure incidents — about 36k events in a few seconds.

``full``: 28 days (two releases, so baselines have two weeks and slow campaigns can run for weeks),
~21,000 benign accounts (false alerts per 10,000 benign accounts per week need that many), 43
campaigns: hydra campaigns of 1, 10, 1,000 and 20,000 accounts plus twelve of 100–300 accounts with
≤ 50 requests each (the issue's recall target is measured over these), reseller campaigns at 1, 5,
10, 25 and 50 % share, and two to four of every other kind with varied parameters; 300 engineers,
12 checkpoints of 20–100 shards, 7 incidents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modeltrace.monitor.sim.campaigns import CampaignSpec
from modeltrace.monitor.sim.infra import InfraSpec
from modeltrace.monitor.sim.people import PeopleSpec
from modeltrace.monitor.sim.prompts import COT_FAMILIES

EXTRACTION_FAMILIES = tuple(f for f in COT_FAMILIES if f != "detailed_explanation")
_GENERAL = {
    "developer": 0.3,
    "student": 0.14,
    "writer": 0.12,
    "analyst": 0.1,
    "casual": 0.16,
    "teacher": 0.05,
    "moderator": 0.03,
    "multilingual": 0.1,
}


@dataclass(frozen=True)
class SimConfig:
    """Everything that sizes a simulated log set; :data:`CI` and :data:`FULL` are the two presets."""

    scale: str
    days: int
    release_days: tuple[float, ...]
    people: tuple[PeopleSpec, ...]
    classrooms: tuple[tuple[str, int, str, str], ...]  # name, students, country, university
    eval_harnesses: tuple[tuple[str, int], ...]  # name, items per run
    synthetic_customers: tuple[tuple[str, float], ...]  # name, requests per hour
    rag_apps: tuple[tuple[str, float, int, str], ...]  # name, per day, end users, country
    agent_products: tuple[tuple[str, float, int], ...]  # name, tasks per day, end users
    ci_suites: tuple[tuple[str, int], ...]  # name, prompts
    resellers: tuple[tuple[str, float, int, int], ...]  # name, per day, end users, keys
    campaigns: tuple[CampaignSpec, ...]
    infra: InfraSpec = field(default_factory=InfraSpec)


def _ci() -> SimConfig:
    all_families = EXTRACTION_FAMILIES
    return SimConfig(
        scale="ci",
        days=7,
        release_days=(3.0,),
        people=(
            PeopleSpec("benign_user", 420, _GENERAL),
            PeopleSpec("vpn_user", 25, {"casual": 0.5, "developer": 0.5}, network="vpn"),
            PeopleSpec("mobile_cgnat", 40, {"casual": 0.6, "student": 0.4}, network="mobile"),
            PeopleSpec(
                "corporate_proxy",
                30,
                {"developer": 0.6, "analyst": 0.4},
                network="corporate",
                org="org_acme",
                curve="office",
                country="US",
                tiers={"tier2": 1.0},
            ),
            PeopleSpec(
                "signup_burst",
                60,
                {"casual": 1.0},
                signup_day=2.3,
                quickstart=True,
                activity=0.15,
                tiers={"free": 1.0},
            ),
            PeopleSpec("post_release_spike", 25, {"developer": 1.0}, release_probe=True, activity=0.25),
        ),
        classrooms=(("stats-101", 35, "US", "Northfield University"),),
        eval_harnesses=(("evalco", 250), ("benchlab", 200)),
        synthetic_customers=(("synthcorp", 12.0),),
        rag_apps=(("helpdesk-cloud", 120, 400, "US"), ("shopwise", 90, 300, "GB")),
        agent_products=(("orderbot", 40, 200),),
        ci_suites=(("acme-ci", 30),),
        resellers=(("relaygpt", 500, 3000, 8), ("tokenmart", 300, 1500, 5)),
        campaigns=(
            CampaignSpec(
                "hydra-1",
                "hydra",
                accounts=150,
                requests=(15, 45),
                start_day=1.0,
                days=4.0,
                content={"natural": 0.6, "cot": 0.3, "multilingual": 0.1},
                cot_families=all_families,
            ),
            CampaignSpec(
                "reseller-1",
                "reseller_mixed",
                accounts=40,
                start_day=2.0,
                days=4.0,
                reseller="relaygpt",
                share=0.10,
                content={"natural": 0.7, "cot": 0.3},
                params="fixed",
                cot_families=all_families,
            ),
            CampaignSpec(
                "sweep-1",
                "templated_sweep",
                accounts=3,
                requests=(300, 450),
                start_day=0.5,
                days=5.0,
                content={"sweep": 1.0},
                topic_plan="sequential",
                network="cloud",
                tier="tier1",
            ),
            CampaignSpec(
                "selfinst-1",
                "self_instruct",
                accounts=5,
                requests=(80, 150),
                start_day=1.5,
                days=4.0,
                content={"self_instruct": 0.8, "natural": 0.2},
                network="cloud",
                tier="tier1",
            ),
            CampaignSpec(
                "cot-1",
                "cot_elicitation",
                accounts=12,
                requests=(40, 90),
                start_day=1.0,
                days=5.0,
                content={"cot": 1.0},
                cot_families=all_families,
                paraphrase=0.6,
                network="vpn",
                tier="tier1",
            ),
            CampaignSpec(
                "harvest-1",
                "output_harvest",
                accounts=4,
                requests=(100, 200),
                start_day=0.8,
                days=5.0,
                content={"natural": 1.0},
                network="cloud",
                tier="tier1",
            ),
            CampaignSpec(
                "agentic-1",
                "agentic_harvest",
                accounts=8,
                requests=(40, 80),
                start_day=2.0,
                days=4.0,
                content={"agentic": 1.0},
                tier="tier1",
            ),
            CampaignSpec(
                "multi-1",
                "multilingual",
                accounts=15,
                requests=(20, 40),
                start_day=1.2,
                days=4.0,
                content={"multilingual": 0.8, "cot": 0.2},
                cot_families=("translated_reasoning",),
            ),
            CampaignSpec(
                "slow-1",
                "slow",
                accounts=10,
                requests=(15, 30),
                start_day=0.2,
                days=6.7,
                timing="slow",
                params="benign",
                content={"natural": 0.7, "cot": 0.3},
            ),
            CampaignSpec(
                "adaptive-1",
                "adaptive",
                accounts=20,
                requests=(25, 60),
                start_day=0.5,
                days=6.0,
                timing="mimic",
                filler=0.6,
                aged=True,
                params="benign",
                topic_plan="benign_mix",
                content={"natural": 0.5, "cot": 0.5},
                cot_families=("detailed_explanation",),
                paraphrase=0.2,
            ),
            CampaignSpec(
                "pivot-1",
                "post_release_pivot",
                accounts=30,
                requests=(20, 45),
                start_day=2.0,
                days=3.5,
                pivot=True,
                content={"natural": 0.5, "cot": 0.5},
                cot_families=all_families,
            ),
        ),
        infra=InfraSpec(
            engineers=30,
            checkpoints=4,
            shards=(8, 32),
            jobs_per_week=4,
            travellers=2,
            stolen=1,
            slow=1,
            insiders=1,
        ),
    )


def _full() -> SimConfig:
    fam = EXTRACTION_FAMILIES
    campaigns: list[CampaignSpec] = [
        CampaignSpec(
            "hydra-1acct",
            "hydra",
            accounts=1,
            requests=(2500, 4000),
            start_day=3.0,
            days=12.0,
            content={"natural": 0.7, "cot": 0.3},
            cot_families=fam,
            tier="tier2",
            network="cloud",
        ),
        CampaignSpec(
            "hydra-10",
            "hydra",
            accounts=10,
            requests=(300, 900),
            start_day=4.0,
            days=8.0,
            content={"natural": 0.6, "cot": 0.4},
            cot_families=fam,
            tier="tier1",
        ),
        CampaignSpec(
            "hydra-1000",
            "hydra",
            accounts=1000,
            requests=(15, 50),
            start_day=12.0,
            days=6.0,
            content={"natural": 0.6, "cot": 0.3, "multilingual": 0.1},
            cot_families=fam,
        ),
        CampaignSpec(
            "hydra-20000",
            "hydra",
            accounts=20000,
            requests=(5, 30),
            start_day=15.0,
            days=10.0,
            content={"natural": 0.5, "cot": 0.3, "agentic": 0.1, "multilingual": 0.1},
            cot_families=fam,
        ),
    ]
    variants = (
        ("residential_proxy", "scheduler", "harvest", {"natural": 0.7, "cot": 0.3}),
        ("residential_proxy", "mimic", "benign", {"natural": 0.8, "cot": 0.2}),
        ("cloud", "scheduler", "fixed", {"natural": 0.5, "cot": 0.5}),
        ("vpn", "scheduler", "harvest", {"natural": 0.6, "multilingual": 0.4}),
        ("residential_proxy", "scheduler", "benign", {"natural": 0.9, "cot": 0.1}),
    )
    for k in range(12):  # the target population: ≥ 100 accounts, ≤ 50 requests each
        network, timing, params, content = variants[k % len(variants)]
        campaigns.append(
            CampaignSpec(
                f"hydra-100-{k + 1}",
                "hydra",
                accounts=100 + 50 * (k % 5),
                requests=(10, 50),
                start_day=2.0 + 1.9 * k,
                days=4.0,
                content=content,
                cot_families=fam,
                network=network,
                timing=timing,
                params=params,
            )
        )
    for k, (reseller, share) in enumerate(
        (
            ("relaygpt", 0.01),
            ("tokenmart", 0.05),
            ("openrouterx", 0.10),
            ("apibridge", 0.25),
            ("cheapllm", 0.50),
        )
    ):
        campaigns.append(
            CampaignSpec(
                f"reseller-{int(share * 100)}pct",
                "reseller_mixed",
                accounts=200,
                start_day=3.0 + 4 * k,
                days=5.0,
                reseller=reseller,
                share=share,
                content={"natural": 0.7, "cot": 0.3},
                params="fixed",
                cot_families=fam,
            )
        )
    for k in range(2):
        campaigns += [
            CampaignSpec(
                f"sweep-{k + 1}",
                "templated_sweep",
                accounts=3 + 5 * k,
                requests=(400, 1200),
                start_day=2.0 + 10 * k,
                days=6.0,
                content={"sweep": 1.0},
                topic_plan="sequential",
                network="cloud",
                tier="tier1",
            ),
            CampaignSpec(
                f"selfinst-{k + 1}",
                "self_instruct",
                accounts=5 + 20 * k,
                requests=(80, 300),
                start_day=5.0 + 9 * k,
                days=6.0,
                content={"self_instruct": 0.8, "natural": 0.2},
                network="cloud",
                tier="tier1",
            ),
            CampaignSpec(
                f"harvest-{k + 1}",
                "output_harvest",
                accounts=4 + 30 * k,
                requests=(100, 400),
                start_day=4.0 + 12 * k,
                days=5.0,
                content={"natural": 1.0},
                network="cloud",
                tier="tier1",
            ),
            CampaignSpec(
                f"agentic-{k + 1}",
                "agentic_harvest",
                accounts=8 + 40 * k,
                requests=(40, 120),
                start_day=6.0 + 11 * k,
                days=5.0,
                content={"agentic": 1.0},
                tier="tier1",
            ),
            CampaignSpec(
                f"multi-{k + 1}",
                "multilingual",
                accounts=15 + 100 * k,
                requests=(20, 50),
                start_day=7.0 + 10 * k,
                days=5.0,
                content={"multilingual": 0.8, "cot": 0.2},
                cot_families=("translated_reasoning",),
            ),
            CampaignSpec(
                f"pivot-{k + 1}",
                "post_release_pivot",
                accounts=100 + 200 * k,
                requests=(20, 50),
                start_day=8.0 + 11 * k,
                days=5.0,
                pivot=True,
                content={"natural": 0.5, "cot": 0.5},
                cot_families=fam,
            ),
        ]
    for k, families in enumerate((fam[:3], fam[3:6], fam[6:])):
        campaigns.append(
            CampaignSpec(
                f"cot-{k + 1}",
                "cot_elicitation",
                accounts=12 + 40 * k,
                requests=(40, 120),
                start_day=3.0 + 7 * k,
                days=6.0,
                content={"cot": 1.0},
                cot_families=families,
                paraphrase=0.3 + 0.2 * k,
                network="vpn",
                tier="tier1",
            )
        )
    for k in range(3):
        campaigns.append(
            CampaignSpec(
                f"slow-{k + 1}",
                "slow",
                accounts=10 + 40 * k,
                requests=(20, 60),
                start_day=0.5 + k,
                days=26.0 - k,
                timing="slow",
                params="benign",
                content={"natural": 0.7, "cot": 0.3},
                cot_families=fam,
            )
        )
    for k, filler in enumerate((0.3, 0.5, 0.7, 0.9)):
        campaigns.append(
            CampaignSpec(
                f"adaptive-{k + 1}",
                "adaptive",
                accounts=20 + 60 * k,
                requests=(40, 150),
                start_day=2.0 + 5 * k,
                days=10.0,
                timing="mimic",
                filler=filler,
                aged=True,
                params="benign",
                topic_plan="benign_mix",
                content={"natural": 0.5, "cot": 0.5},
                cot_families=("detailed_explanation",),
                paraphrase=0.2,
            )
        )
    return SimConfig(
        scale="full",
        days=28,
        release_days=(10.0, 21.0),
        people=(
            PeopleSpec("benign_user", 16000, _GENERAL),
            PeopleSpec("vpn_user", 600, {"casual": 0.5, "developer": 0.5}, network="vpn"),
            PeopleSpec("mobile_cgnat", 1200, {"casual": 0.6, "student": 0.4}, network="mobile"),
            PeopleSpec(
                "corporate_proxy",
                300,
                {"developer": 0.6, "analyst": 0.4},
                network="corporate",
                org="org_acme",
                curve="office",
                country="US",
                tiers={"tier2": 1.0},
            ),
            PeopleSpec(
                "signup_burst",
                800,
                {"casual": 1.0},
                signup_day=6.3,
                quickstart=True,
                activity=0.15,
                tiers={"free": 1.0},
            ),
            PeopleSpec("post_release_spike", 400, {"developer": 1.0}, release_probe=True, activity=0.25),
        ),
        classrooms=tuple(
            (f"class-{i}", 40, country, university)
            for i, (country, university) in enumerate(
                (
                    ("US", "Northfield University"),
                    ("GB", "Univ. of Westmarch"),
                    ("DE", "TU Ostheim"),
                    ("IN", "Indus Institute of Technology"),
                    ("US", "Northfield University"),
                    ("GB", "Univ. of Westmarch"),
                )
            )
        ),
        eval_harnesses=tuple((f"evalco-{i}", 1500) for i in range(6)),
        synthetic_customers=tuple((f"synthcorp-{i}", 40.0) for i in range(3)),
        rag_apps=tuple((f"helpdesk-{i}", 600, 3000, ("US", "GB", "DE", "IN")[i % 4]) for i in range(8)),
        agent_products=tuple((f"orderbot-{i}", 150, 2000) for i in range(4)),
        ci_suites=tuple((f"ci-{i}", 30) for i in range(5)),
        resellers=tuple(
            (name, 2000, 20000, 12)
            for name in ("relaygpt", "tokenmart", "openrouterx", "apibridge", "cheapllm")
        ),
        campaigns=tuple(campaigns),
        infra=InfraSpec(
            engineers=300,
            checkpoints=12,
            shards=(20, 100),
            jobs_per_week=20,
            travellers=8,
            stolen=3,
            slow=2,
            insiders=2,
        ),
    )


CI = _ci()
FULL = _full()
SCALES = {"ci": CI, "full": FULL}
