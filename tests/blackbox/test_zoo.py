"""The toy zoo end to end: ``run_probe`` over real loopback HTTP servers (and wrapping proxies) against
models with known lineage. Each case asserts what a correct probe must say;
``benchmarks/probe_eval.py --set toy`` prints the same cases with precision/recall and identity power."""

from __future__ import annotations

import pytest

from modeltrace.blackbox import Endpoint, run_probe
from modeltrace.blackbox.toyzoo import CASES, PROBE_CONFIG, Case


def probe(urls: dict[str, str], case: Case) -> dict[str, object]:
    key = f"{case.model}+{case.wrapper}" if case.wrapper else case.model
    return run_probe(
        Endpoint(urls[key], case.name),
        Endpoint(urls["base"], "base"),
        [Endpoint(urls["baseline1"], "baseline1"), Endpoint(urls["baseline2"], "baseline2")],
        config=PROBE_CONFIG,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_toy_zoo_case(toy_zoo: dict[str, str], case: Case) -> None:
    report = probe(toy_zoo, case)
    verdicts = report["verdicts"]
    assert isinstance(verdicts, dict)
    identity, lineage = str(verdicts["identity"]), str(verdicts["lineage"])
    assert report["queries_total"] <= PROBE_CONFIG.budget  # type: ignore[operator]
    if case.identity == "same":
        assert not identity.startswith("different"), report
    else:
        assert identity.startswith("different"), report
    if case.lineage == "derived":
        assert lineage == "derived", report
    elif case.lineage == "not derived":
        assert lineage != "derived", report
    elif case.lineage == "not independent":
        assert not lineage.startswith("independent"), report
    if case.wrapper == "temperature":  # the report says why the lineage test lost its power
        assert any("does not decode greedily" in n for n in report["notes"]), report  # type: ignore[attr-defined]
