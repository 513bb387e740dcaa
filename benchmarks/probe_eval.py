"""Black-box probe evaluation: ``run_probe`` against suspects of known lineage, every model served over
loopback HTTP, printing per case the expected answers, the verdicts, the p-values and the queries used,
then lineage precision/recall and identity power / false rejections.

Two sets of cases (``--set``):

- ``real``: the reference is SmolLM2-135M-Instruct (zoo GGUF Q4_1, dequantised). Suspects: itself
  sampled with other seeds (``self``); a per-row int8 round trip (``q8``), the same behind a proxy that
  strips logprobs (``q8+strip-logprobs``); weights + 2 % Gaussian noise (``noised``); a brief real
  fine-tune (``finetune``: 100 AdamW steps on stdlib source); ``small-1``, a small llama trained from
  scratch with SmolLM2's tokenizer (unrelated); ``toy-base``, the toy zoo's base (unrelated, own
  tokenizer). Baseline: ``small-0`` (same recipe as small-1, another seed). Gemma-3-270m is not
  servable yet (not llama-family), so it is not a case. Trained models are cached under
  ``<zoo cache>/probe_eval``; the first run trains them (about 15 minutes on one shared core).
- ``toy``: the toy zoo of :mod:`modeltrace.blackbox.toyzoo` (bases, fine-tunes, a merge, quantised
  copies, a distilled student, wrappers), the same cases the tests assert.

Identity power is measured two ways: per case over ``--seeds`` runs (other prompts and sampling seeds),
and, for the agreement test, by resampling its per-prompt outcomes into ``m``-prompt subsets.
``--calibrate N`` repeats the ``self`` case N more times with other seeds to count false rejections.
One transcript per run lets the reference's and baselines' answers be reused across cases.

    python benchmarks/probe_eval.py --set real [--cases self,q8] [--seeds 1] [--calibrate 0] [--json F]
"""

from __future__ import annotations

import os

# Multi-threaded OpenBLAS is ~30x slower for these small GEMMs on a shared 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from modeltrace.blackbox import Endpoint, ProbeConfig, Transcript, run_probe
from modeltrace.blackbox.lm import LlamaLM
from modeltrace.blackbox.serve import LocalModel, create_app, load_local_model, running_server
from modeltrace.blackbox.toyzoo import CASES as TOY_CASES
from modeltrace.blackbox.toyzoo import PROBE_CONFIG, build_zoo, proxy_app
from modeltrace.lineage.attacks import int8_round_trip
from modeltrace.lineage.forward import Tensors, canonical_tensors, spec_from_model
from modeltrace.lineage.zoo_models import (
    LlamaShape,
    batches,
    gguf_tokenizer,
    init_llama,
    stdlib_docstrings,
    stdlib_source,
    train_llama,
)
from modeltrace.weights.model import open_model
from modeltrace.zoo import cache_dir, fetch

CACHE = cache_dir() / "probe_eval"
#: The lineage harness's small llama: SmolLM2's tokenizer and vocabulary, 4 layers, 64 wide.
SMALL = LlamaShape(vocab=49152, hidden=64, layers=4, heads=4, kv_heads=2, head_dim=16, mlp=256)


# ---------------------------------------------------------------------------------------------------
# Trained models (cached)
# ---------------------------------------------------------------------------------------------------


def _token_file(name: str, text: Callable[[], str]) -> np.ndarray:
    path = CACHE / f"{name}.npy"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with open_model(fetch("smollm2")) as model:
            ids = np.asarray(gguf_tokenizer(model).encode(text()), np.int32)
        np.save(path, ids)
    loaded: np.ndarray = np.load(path)
    return loaded


def _cached(name: str, build: Callable[[], Tensors]) -> Tensors:
    path = CACHE / f"{name}.safetensors"
    if path.is_file():
        return load_file(str(path))
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"training {name} (cached in {CACHE}) …", file=sys.stderr, flush=True)
    tensors = build()
    save_file(tensors, str(path))
    return tensors


def small_model(seed: int) -> Tensors:
    """A small llama from scratch (seed ``seed``): 250 AdamW steps of 16×32 stdlib-docstring tokens.

    Same tokenizer as SmolLM2 and no shared weights: the unrelated models of the lineage cases.
    """

    def build() -> Tensors:
        tokens = _token_file("docstrings", lambda: stdlib_docstrings(800_000))
        tensors, log = train_llama(
            init_llama(SMALL, seed), SMALL.spec(), batches(tokens, 16, 32, 1234), 250, lr=3e-3
        )
        (CACHE / f"small-{seed}.json").write_text(json.dumps(vars(log)))
        return tensors

    return _cached(f"small-{seed}", build)


def smollm2_finetune() -> Tensors:
    """SmolLM2 briefly fine-tuned: 100 AdamW steps (lr 1e-4, 2×32 tokens a step) on stdlib source code."""

    def build() -> Tensors:
        tokens = _token_file("source", lambda: stdlib_source(300_000, start=40))
        with open_model(fetch("smollm2")) as model:
            base, spec = canonical_tensors(model), spec_from_model(model)
        tensors, log = train_llama(base, spec, batches(tokens, 2, 32, 11), 100, lr=1e-4, warmup=10)
        (CACHE / "smollm2-finetune.json").write_text(json.dumps(vars(log)))
        return tensors

    return _cached("smollm2-finetune", build)


def noised(t: Tensors, scale: float, seed: int) -> Tensors:
    """Every matrix plus Gaussian noise of ``scale`` times its own standard deviation."""
    rng = np.random.default_rng(seed)
    return {
        k: (v + rng.standard_normal(v.shape, dtype=np.float32) * scale * float(v.std())).astype(np.float32)
        if v.ndim == 2
        else v
        for k, v in t.items()
    }


def variant(base: LocalModel, tensors: Tensors, name: str) -> LocalModel:
    return LocalModel(LlamaLM(tensors, base.lm.spec, base.lm.max_positions), base.tokenizer, name)


# ---------------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalCase:
    name: str
    model: Callable[[], LocalModel]
    identity: str  #: "same" or "different"
    lineage: str  #: "derived", "not derived", "not independent", or "any" (reported only)
    wrapper: str = ""


@dataclass
class Setup:
    reference: LocalModel
    baselines: list[LocalModel]
    cases: list[EvalCase]
    config: ProbeConfig


def real_setup() -> Setup:
    ref = load_local_model(fetch("smollm2"), "smollm2")

    def small(seed: int) -> LocalModel:
        return variant(
            LocalModel(LlamaLM(small_model(seed), SMALL.spec(), 2048), ref.tokenizer, ""),
            small_model(seed),
            f"small-{seed}",
        )

    def toy_base() -> LocalModel:
        return build_zoo(cache_dir() / "toyzoo")["base"]

    q8 = int8_round_trip
    cases = [
        EvalCase("self", lambda: ref, "same", "derived"),
        EvalCase("q8", lambda: variant(ref, q8(ref.lm.t), "smollm2-q8"), "different", "derived"),
        EvalCase(
            "q8+strip-logprobs",
            lambda: variant(ref, q8(ref.lm.t), "smollm2-q8"),
            "different",
            "derived",
            "strip-logprobs",
        ),
        EvalCase(
            "noised",
            lambda: variant(ref, noised(ref.lm.t, 0.02, 1), "smollm2-noised"),
            "different",
            "derived",
        ),
        EvalCase("finetune", lambda: variant(ref, smollm2_finetune(), "smollm2-ft"), "different", "derived"),
        EvalCase("small-1", lambda: small(1), "different", "not derived"),
        EvalCase("toy-base", toy_base, "different", "not derived"),
    ]
    config = ProbeConfig(
        budget=1000,
        lineage_batch=25,
        lineage_max_prompts=100,
        lineage_tokens=8,
        agreement_prompts=25,
        agreement_tokens=16,
        identity_samples=10,
        identity_tokens=24,
        slope_units=("東京大学", " internationalization", "8675309", "🙂🚀"),
    )
    return Setup(ref, [small(0)], cases, config)


def toy_setup() -> Setup:
    zoo = build_zoo(cache_dir() / "toyzoo")
    cases = [
        EvalCase(c.name, lambda m=c.model: zoo[m], c.identity, c.lineage, c.wrapper)  # type: ignore[misc]
        for c in TOY_CASES
    ]
    config = PROBE_CONFIG
    return Setup(zoo["base"], [zoo["baseline1"], zoo["baseline2"]], cases, config)


@contextlib.contextmanager
def served(model: LocalModel, wrapper: str, port: int) -> Iterator[str]:
    with running_server(create_app(model), port=port) as url:
        if not wrapper:
            yield url
            return
        with running_server(proxy_app(url, wrapper), port=port + 1) as proxied:
            yield proxied


# ---------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------


def lineage_call(verdict: str) -> str:
    if verdict == "derived":
        return "derived"
    return "independent" if verdict.startswith("independent") else "not derived"


def lineage_ok(expected: str, verdict: str) -> bool | None:
    call = lineage_call(verdict)
    return {
        "derived": call == "derived",
        "not derived": call != "derived",
        "not independent": call != "independent",
    }.get(expected)


def subset_power(signs: list[int], m: int, alpha: float, draws: int = 2000, seed: int = 0) -> float:
    """Power of the agreement sign test on random ``m``-prompt subsets of one run's per-prompt outcomes."""
    from scipy import stats

    if len(signs) < m:
        return float("nan")
    rng = np.random.default_rng(seed)
    arr = np.asarray(signs)
    hits = 0
    for _ in range(draws):
        pick = arr[rng.choice(len(arr), m, replace=False)]
        up, down = int((pick > 0).sum()), int((pick < 0).sum())
        if up + down and stats.binom.sf(up - 1, up + down, 0.5) <= alpha:
            hits += 1
    return hits / draws


def row(case: EvalCase, seed: int, rep: dict[str, Any], seconds: float) -> dict[str, Any]:
    tests, verdicts = rep["tests"], rep["verdicts"]

    def p(name: str) -> float:
        return float(tests[name]["pvalue"]) if name in tests else float("nan")

    identity = str(verdicts.get("identity", ""))
    lineage = str(verdicts.get("lineage", ""))
    agree = tests.get("identity_agreement", {}).get("diagnostics", {})
    return {
        "case": case.name,
        "seed": seed,
        "expected_identity": case.identity,
        "expected_lineage": case.lineage,
        "identity": identity,
        "identity_different": identity.startswith("different"),
        "lineage": lineage,
        "p_tokenizer": p("tokenizer"),
        "p_lineage": p("lineage"),
        "p_agreement": p("identity_agreement"),
        "p_mmd": p("identity"),
        "agreement_signs": agree.get("per_prompt_sign", []),
        "logprob_prompts": agree.get("prompts_with_logprobs"),
        "lineage_agreement": tests.get("lineage", {}).get("diagnostics", {}).get("agreement"),
        "queries": rep["queries_total"],
        "stopped": rep["stopped"],
        "notes": rep["notes"],
        "seconds": round(seconds, 1),
    }


def print_row(r: dict[str, Any]) -> None:
    exp = f"{r['expected_identity'][:4]}/{r['expected_lineage']}"
    ident = "different" if r["identity_different"] else "same?"
    print(
        f"{r['case']:20s} {r['seed']:4d} {exp:22s} {ident:10s} {r['p_agreement']:9.2g} {r['p_mmd']:8.2g} "
        f"{r['lineage'][:26]:26s} {r['p_lineage']:9.2g} {r['p_tokenizer']:5.2g} {r['queries']:6d} "
        f"{r['seconds']:6.1f}",
        flush=True,
    )
    if r["lineage_agreement"]:
        agreement = ", ".join(f"{k} {v:.2f}" for k, v in r["lineage_agreement"].items())
        print(f"{'':25s} greedy agreement: {agreement}")


def summary(rows: list[dict[str, Any]], alpha: float) -> None:
    print("\nsummary")
    scored = [r for r in rows if r["expected_lineage"] in ("derived", "not derived")]
    tp = sum(r["expected_lineage"] == "derived" and r["lineage"] == "derived" for r in scored)
    fp = sum(r["expected_lineage"] == "not derived" and r["lineage"] == "derived" for r in scored)
    fn = sum(r["expected_lineage"] == "derived" and r["lineage"] != "derived" for r in scored)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    print(f"lineage: precision {precision:.2f} recall {recall:.2f} (tp {tp}, fp {fp}, fn {fn}; α={alpha})")
    wrapped = [r for r in rows if r["expected_lineage"] == "not independent"]
    if wrapped:
        bad = sum(lineage_call(r["lineage"]) == "independent" for r in wrapped)
        print(f"lineage behind sampling wrappers: {bad}/{len(wrapped)} turned 'independent'")
    diff = [r for r in rows if r["expected_identity"] == "different"]
    same = [r for r in rows if r["expected_identity"] == "same"]
    if diff:
        power = sum(r["identity_different"] for r in diff) / len(diff)
        print(f"identity power (expected different, all runs): {power:.2f} over {len(diff)} runs")
        for name in sorted({r["case"] for r in diff}):
            runs = [r for r in diff if r["case"] == name]
            hit = sum(r["identity_different"] for r in runs)
            line = f"  {name:20s} {hit}/{len(runs)} flagged different"
            signs = [s for r in runs for s in r["agreement_signs"]]
            if signs:
                sub = ", ".join(f"m={m}: {subset_power(signs, m, alpha / 2):.2f}" for m in (5, 10, 25))
                line += f"; agreement test power on m-prompt subsets: {sub}"
            print(line)
    if same:
        false = sum(r["identity_different"] for r in same)
        print(f"identity false rejections (expected same): {false}/{len(same)} = {false / len(same):.3f}")
        mmd = [r["p_mmd"] for r in same if r["p_mmd"] == r["p_mmd"]]
        agree = [r["p_agreement"] for r in same if r["p_agreement"] == r["p_agreement"]]
        print(
            f"  agreement p ≤ α/2 in {sum(p <= alpha / 2 for p in agree)}/{len(agree)}; "
            f"MMD p ≤ α/2 in {sum(p <= alpha / 2 for p in mmd)}/{len(mmd)}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--set", choices=("real", "toy"), default="real")
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--seeds", type=int, default=1, help="runs per case (other prompts and sampling seeds)")
    ap.add_argument("--calibrate", type=int, default=0, help="extra runs of the 'self' case")
    ap.add_argument("--budget", type=int, default=None)
    ap.add_argument("--port-base", type=int, default=18700, help="loopback ports from here on")
    ap.add_argument(
        "--mmd-only", action="store_true", help="identity by MMD alone (no agreement test): its own power"
    )
    ap.add_argument("--transcript", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write every row here")
    args = ap.parse_args()
    setup = real_setup() if args.set == "real" else toy_setup()
    cfg = setup.config if args.budget is None else replace(setup.config, budget=args.budget)
    if args.mmd_only:
        cfg = replace(cfg, agreement_prompts=0)
    wanted = set(args.cases.split(",")) if args.cases else None
    path = args.transcript or Path(tempfile.mkdtemp()) / "probe_eval.jsonl"
    transcript = Transcript(path)
    print(
        f"set {args.set}: reference {setup.reference.name}, baselines "
        f"{[b.name for b in setup.baselines]}, budget {cfg.budget}, α {cfg.alpha}; transcript {path}"
    )
    print(
        f"{'case':20s} {'seed':>4s} {'expected id/lineage':22s} {'identity':10s} {'p_agree':>9s} "
        f"{'p_mmd':>8s} {'lineage':26s} {'p_lin':>9s} {'p_tok':>5s} {'queries':>6s} {'sec':>6s}"
    )
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        # Fixed ports: the transcript knows endpoints by URL, so a re-run with --transcript resumes.
        port = args.port_base
        ref_url = stack.enter_context(running_server(create_app(setup.reference), port=port))
        base_urls = [
            stack.enter_context(running_server(create_app(b), port=port + 1 + i))
            for i, b in enumerate(setup.baselines)
        ]
        ref_ep = Endpoint(ref_url, setup.reference.name)
        base_eps = [Endpoint(u, b.name) for u, b in zip(base_urls, setup.baselines, strict=True)]
        for case in setup.cases:
            if wanted is not None and case.name not in wanted:
                continue
            model = case.model()
            runs = args.seeds + (args.calibrate if case.name == "self" else 0)
            with served(model, case.wrapper, port + 10) as url:
                for seed in range(runs):
                    start = time.perf_counter()
                    rep = run_probe(
                        Endpoint(url, case.name),
                        ref_ep,
                        base_eps,
                        config=replace(cfg, seed=seed),
                        transcript=transcript,
                        # A local numpy SmolLM2 answers one request at a time, n=10 samples in ~10-60 s
                        # on a shared core: queued requests must not time out and be sent again.
                        client_options={"timeout": 1800.0, "concurrency": 1},
                    )
                    r = row(case, seed, rep, time.perf_counter() - start)
                    rows.append(r)
                    print_row(r)
                    if args.json:
                        args.json.write_text(json.dumps(rows, indent=1, default=str))
    summary(rows, cfg.alpha)


if __name__ == "__main__":
    main()
