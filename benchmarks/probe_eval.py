"""Black-box probe evaluation (skeleton): identity and lineage tests on SmolLM2-135M-Instruct vs its
quantised / noised copies and an unrelated baseline, every model served over loopback HTTP.

Cases (suspect vs reference SmolLM2):
- ``self-seed``: SmolLM2 itself, sampled with other seeds → expected identity not rejected, lineage derived;
- ``q8``: weights round-tripped through symmetric per-row int8 → identity: should be rejected (MET claims
  power against quantisation; a small budget may miss it), lineage derived;
- ``noised``: weights + 2 % Gaussian noise (a crude stand-in for a brief fine-tune) → identity rejected,
  lineage derived;
- ``baseline``: the unrelated baseline as the suspect → identity rejected, lineage not derived.
The baseline is the lineage harness's ``small-0.gguf`` (a tiny llama trained from scratch here on stdlib
docstrings, SmolLM2 tokenizer) when it is in the cache; Gemma-3-270m is not served yet (not llama).

``--reduced`` runs a bounded mode (few prompts, short answers) for a smoke check on 2 CPU cores; one
shared transcript lets the reference's answers be reused across cases.
"""

from __future__ import annotations

import os

# Multi-threaded OpenBLAS is ~30x slower for these small GEMMs on a shared 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modeltrace.blackbox import Endpoint, ProbeConfig, Transcript, run_probe
from modeltrace.blackbox.lm import LlamaLM
from modeltrace.blackbox.probe import IDENTITY_PROMPTS
from modeltrace.blackbox.serve import LocalModel, create_app, load_local_model, running_server
from modeltrace.zoo import cache_dir, fetch


def q8(t: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in t.items():
        if v.ndim == 2:
            scale = np.abs(v).max(axis=1, keepdims=True) / 127 + 1e-12
            v = (np.round(v / scale).clip(-127, 127) * scale).astype(np.float32)
        out[k] = v
    return out


def noised(t: dict[str, Any], scale: float, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        k: (v + rng.standard_normal(v.shape, dtype=np.float32) * scale * float(v.std())).astype(np.float32)
        if v.ndim == 2
        else v
        for k, v in t.items()
    }


def variant(base: LocalModel, tensors: dict[str, Any], name: str) -> LocalModel:
    return LocalModel(LlamaLM(tensors, base.lm.spec, base.lm.max_positions), base.tokenizer, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reduced", action="store_true", help="bounded smoke mode")
    ap.add_argument("--cases", default="self-seed,q8,noised,baseline")
    ap.add_argument("--transcript", type=Path, default=None)
    ap.add_argument("--identity-prompts", type=int, default=None, help="override: prompts for identity")
    ap.add_argument("--identity-tokens", type=int, default=None, help="override: tokens per sample")
    args = ap.parse_args()
    if args.reduced:
        cfg = ProbeConfig(
            budget=300, lineage_batch=25, lineage_max_prompts=25, lineage_tokens=6,
            identity_prompts=IDENTITY_PROMPTS[:5], identity_samples=10, identity_tokens=16,
            identity_length=50, permutations=1000,
            slope_units=("東京大学", " internationalization", "8675309"),
        )  # fmt: skip
    else:
        cfg = ProbeConfig()
    if args.identity_prompts:
        cfg.identity_prompts = IDENTITY_PROMPTS[: args.identity_prompts]
    if args.identity_tokens:
        cfg.identity_tokens = args.identity_tokens
    ref = load_local_model(fetch("smollm2"), "smollm2")
    small0 = cache_dir() / "lineage_eval" / "small-0.gguf"
    baseline = load_local_model(small0, "small-0") if small0.is_file() else None
    cases: dict[str, tuple[Callable[[], LocalModel | None], str, str]] = {
        "self-seed": (lambda: ref, "same", "derived"),
        "q8": (lambda: variant(ref, q8(ref.lm.t), "smollm2-q8"), "different", "derived"),
        "noised": (lambda: variant(ref, noised(ref.lm.t, 0.02, 1), "smollm2-noised"), "different", "derived"),
        "baseline": (lambda: baseline, "different", "not derived"),
    }
    path = args.transcript or Path(tempfile.mkdtemp()) / "probe_eval.jsonl"
    print(f"reference smollm2; baseline {'small-0' if baseline else 'none'}; transcript {path}")
    print(f"{'case':10s} {'expected':22s} {'identity':12s} {'p_id':>8s} {'lineage':12s} {'p_lin':>9s} "
          f"{'tok':5s} {'queries':>7s} {'sec':>6s}")  # fmt: skip
    with running_server(create_app(ref)) as ref_url, running_server(create_app(baseline or ref)) as base_url:
        for name in args.cases.split(","):
            make, exp_id, exp_lin = cases[name]
            model = make()
            if model is None:
                print(f"{name:10s} skipped (no baseline model)")
                continue
            start = time.perf_counter()
            with running_server(create_app(model)) as url:
                rep = run_probe(
                    Endpoint(url, model.name), Endpoint(ref_url, "smollm2"),
                    [Endpoint(base_url, "small-0")] if baseline else [],
                    config=cfg, transcript=Transcript(path),
                )  # fmt: skip
            tests, verdicts = rep["tests"], rep["verdicts"]
            ident, lin = tests.get("identity", {}), tests.get("lineage", {})
            tok = tests.get("tokenizer", {})
            nan = float("nan")
            id_verdict = "different" if ident.get("rejected") else "not-rejected"
            tok_verdict = "diff" if tok.get("rejected") else "same"
            seconds = time.perf_counter() - start
            print(
                f"{name:10s} {'id ' + exp_id + ', ' + exp_lin:22s} "
                f"{id_verdict:12s} {ident.get('pvalue', nan):8.3g} "
                f"{verdicts.get('lineage', '')[:12]:12s} {lin.get('pvalue', nan):9.3g} "
                f"{tok_verdict:5s} {rep['queries_total']:7d} {seconds:6.1f}"
            )  # fmt: skip
            if lin:
                print(f"{'':10s} lineage agreement {lin['diagnostics']['agreement']}")


if __name__ == "__main__":
    main()
