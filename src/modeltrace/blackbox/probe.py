"""``probe``: collect answers from endpoints and run the tests, cheapest first, within a query budget.

Order: tokenizer slope (≈ units × repeats requests per model), then greedy-agreement lineage in looks of
``lineage_batch`` prompts (each look tested at α/K, K the planned looks: Bonferroni alpha spending keeps
the early stop valid), then MMD identity. A tokenizer mismatch stops the run: the suspect cannot be the
reference and cannot be a fine-tune of its weights. The budget counts answered requests over all models
(answers reused from the transcript included, so a resumed run makes the same decisions).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modeltrace.blackbox.client import Client, Endpoint, EndpointError
from modeltrace.blackbox.tests import (
    TestResult,
    identity_test,
    lineage_test,
    tokenizer_slope_test,
    two_proportion_z,
)
from modeltrace.blackbox.transcript import Transcript

__all__ = [
    "IDENTITY_PROMPTS",
    "SLOPE_UNITS",
    "ProbeConfig",
    "collect_greedy",
    "collect_samples",
    "collect_slopes",
    "lineage_prompts",
    "open_targets",
    "parse_target",
    "run_probe",
]

SLOPE_UNITS = ("東京大学", "🙂🚀", "ǅ∮ð", " internationalization", "8675309", "\u00a0\t", " the")
IDENTITY_PROMPTS = (
    "Once upon a time",
    "The best way to learn",
    "My favourite food is",
    "In the year 2050,",
    "The old house at the end of the street",
    "Scientists recently discovered",
    "Here is a short poem about the sea:",
    "The three most important things are",
    "Yesterday I went to",
    "def fibonacci(n):",
)
_WORDS = (
    "river",
    "stone",
    "quiet",
    "market",
    "seven",
    "paper",
    "window",
    "garden",
    "silver",
    "orange",
    "history",
    "music",
    "winter",
    "engine",
    "number",
    "ocean",
    "letter",
    "yellow",
    "basket",
    "forest",
    "mirror",
    "doctor",
    "planet",
    "bridge",
    "coffee",
    "camera",
    "dragon",
    "pencil",
    "theory",
    "castle",
    "rabbit",
    "empire",
    "signal",
    "harbor",
    "violet",
    "thunder",
    "lemon",
    "copper",
    "island",
    "whisper",
    "machine",
)


def lineage_prompts(count: int, seed: int = 0) -> list[str]:
    """High-entropy prompts: seeded random word sequences, mixed with digits."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        words = [str(rng.choice(_WORDS)) for _ in range(int(rng.integers(3, 7)))]
        if rng.random() < 0.3:
            words.insert(int(rng.integers(0, len(words))), str(int(rng.integers(0, 1000))))
        out.append(" ".join(words))
    return out


def collect_slopes(
    client: Client, units: Sequence[str] = SLOPE_UNITS, repeats: Sequence[int] = (0, 1, 2, 3)
) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for unit in units:
        counts = []
        for k in repeats:
            resp = client.complete("Text:" + unit * k, max_tokens=1, temperature=0.0)
            usage = resp.get("usage") or {}
            if not isinstance(usage.get("prompt_tokens"), int):
                raise EndpointError(
                    f"{client.endpoint.base_url}: no usage.prompt_tokens; tokenizer test impossible"
                )
            counts.append(int(usage["prompt_tokens"]))
        out[unit] = counts
    return out


def collect_greedy(client: Client, prompts: Sequence[str], max_tokens: int = 8) -> list[str]:
    answers = client.map_complete(
        [{"prompt": p, "max_tokens": max_tokens, "temperature": 0.0} for p in prompts]
    )
    return [str(a["choices"][0]["text"]) for a in answers]


def collect_samples(
    client: Client, prompts: Sequence[str], n: int, *, max_tokens: int, temperature: float, seed: int
) -> dict[str, list[str]]:
    reqs = [
        {"prompt": p, "max_tokens": max_tokens, "temperature": temperature, "n": n, "seed": seed + i}
        for i, p in enumerate(prompts)
    ]
    answers = client.map_complete(reqs)
    return {p: [str(c["text"]) for c in a["choices"]] for p, a in zip(prompts, answers, strict=True)}


@dataclass
class ProbeConfig:
    budget: int = 1000
    alpha: float = 0.05
    seed: int = 0
    lineage_batch: int = 25
    lineage_max_prompts: int = 200
    lineage_tokens: int = 8
    identity_prompts: Sequence[str] = IDENTITY_PROMPTS
    identity_samples: int = 10
    identity_tokens: int = 24
    identity_length: int = 50
    temperature: float = 1.0
    permutations: int = 1000
    slope_units: Sequence[str] = SLOPE_UNITS
    slope_repeats: Sequence[int] = (0, 1, 2, 3)


def _lineage_verdict(lin: TestResult) -> str:
    """``derived``; ``independent`` when a baseline beats the reference significantly; else inconclusive."""
    if lin.rejected:
        return "derived"
    closest = str(lin.diagnostics["closest_candidate"])
    hits, n = lin.diagnostics["hits"], int(lin.diagnostics["prompts"])
    if closest != "reference":
        _, p = two_proportion_z(hits[closest], hits["reference"], n)
        if p <= lin.alpha:  # alpha already divided by the planned looks
            return f"independent (closer to {closest} than to the reference, one-sided p={p:.2g})"
    return f"inconclusive (closest candidate: {closest}; not significant at this budget)"


def parse_target(spec: str, api_key_env: str | None = None) -> Endpoint | Path:
    """``https://host/v1#model`` → an :class:`Endpoint`; anything else → a local checkpoint path."""
    if spec.startswith(("http://", "https://")):
        url, _, model = spec.partition("#")
        return Endpoint(url, model or "default", api_key_env)
    return Path(spec)


@contextlib.contextmanager
def open_targets(targets: Sequence[Endpoint | Path]) -> Iterator[list[Endpoint]]:
    """Endpoints for the targets, serving local checkpoints on loopback for the duration."""
    from modeltrace.blackbox.serve import create_app, load_local_model, running_server

    with contextlib.ExitStack() as stack:
        out = []
        for t in targets:
            if isinstance(t, Endpoint):
                out.append(t)
            else:
                model = load_local_model(t)
                url = stack.enter_context(running_server(create_app(model)))
                out.append(Endpoint(url, model.name))
        yield out


def run_probe(
    suspect: Endpoint,
    reference: Endpoint,
    baselines: Sequence[Endpoint] = (),
    *,
    config: ProbeConfig | None = None,
    transcript: Transcript | None = None,
    progress: Callable[[str], None] | None = None,
    client_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the probe; returns a JSON-able report with each test's result and the two verdicts."""
    cfg = config or ProbeConfig()
    say = progress or (lambda _msg: None)
    opts = client_options or {}
    names = ["suspect", "reference"] + [f"baseline{i + 1}" for i in range(len(baselines))]
    clients = {
        n: Client(e, transcript=transcript, **opts)
        for n, e in zip(names, [suspect, reference, *baselines], strict=True)
    }

    def spent() -> int:
        return sum(c.answered for c in clients.values())

    report: dict[str, Any] = {"tests": {}, "verdicts": {}, "budget": cfg.budget, "stopped": ""}
    try:
        # 1. tokenizer slope
        slope_cost = 2 * len(cfg.slope_units) * len(cfg.slope_repeats)
        if slope_cost <= cfg.budget - spent():
            say("tokenizer slope")
            s = collect_slopes(clients["suspect"], cfg.slope_units, cfg.slope_repeats)
            r = collect_slopes(clients["reference"], cfg.slope_units, cfg.slope_repeats)
            tok = tokenizer_slope_test(s, r, cfg.slope_repeats, alpha=cfg.alpha, queries=slope_cost)
            report["tests"]["tokenizer"] = tok.to_dict()
            if tok.rejected:
                report["verdicts"] = {
                    "identity": "different (tokenizer differs)",
                    "lineage": "not a derivative of the reference's weights (tokenizer differs); "
                    "distillation not excluded",
                }
                report["stopped"] = "tokenizer mismatch"
                return report
        # 2. lineage, sequential looks
        lin: TestResult | None = None
        if baselines:
            per_prompt = len(clients)
            max_prompts = min(cfg.lineage_max_prompts, max(0, (cfg.budget - spent()) // per_prompt))
            looks = max(1, math.ceil(max_prompts / cfg.lineage_batch))
            prompts = lineage_prompts(max_prompts, cfg.seed)
            outs: dict[str, list[str]] = {n: [] for n in clients}
            for look in range(looks):
                batch = prompts[look * cfg.lineage_batch : (look + 1) * cfg.lineage_batch]
                if not batch:
                    break
                say(f"lineage look {look + 1}/{looks}")
                for n, c in clients.items():
                    outs[n].extend(collect_greedy(c, batch, cfg.lineage_tokens))
                cands = {n: o for n, o in outs.items() if n != "suspect"}
                lin = lineage_test(
                    outs["suspect"],
                    cands,
                    "reference",
                    alpha=cfg.alpha / looks,
                    queries=per_prompt * len(outs["suspect"]),
                )
                lin.diagnostics["looks_planned"] = looks
                lin.diagnostics["alpha_spent_per_look"] = cfg.alpha / looks
                if lin.rejected:
                    break
            if lin is not None:
                report["tests"]["lineage"] = lin.to_dict()
                report["verdicts"]["lineage"] = _lineage_verdict(lin)
        else:
            report["verdicts"]["lineage"] = "inconclusive (no baseline given: the lineage test needs one)"
        # 3. identity
        m = len(cfg.identity_prompts)
        if 2 * m <= cfg.budget - spent():
            say("identity (MMD)")
            xs = collect_samples(
                clients["suspect"],
                cfg.identity_prompts,
                cfg.identity_samples,
                max_tokens=cfg.identity_tokens,
                temperature=cfg.temperature,
                seed=cfg.seed + 1_000_003,
            )
            ys = collect_samples(
                clients["reference"],
                cfg.identity_prompts,
                cfg.identity_samples,
                max_tokens=cfg.identity_tokens,
                temperature=cfg.temperature,
                seed=cfg.seed,
            )
            ident = identity_test(
                xs,
                ys,
                length=cfg.identity_length,
                permutations=cfg.permutations,
                alpha=cfg.alpha,
                seed=cfg.seed,
                queries=2 * m,
            )
            ident.diagnostics["samples_per_prompt"] = cfg.identity_samples
            report["tests"]["identity"] = ident.to_dict()
            report["verdicts"]["identity"] = (
                "different" if ident.rejected else "not distinguishable from the reference at this budget"
            )
        else:
            report["verdicts"].setdefault("identity", "inconclusive (budget spent)")
        report["stopped"] = "done"
    finally:
        report["queries"] = {
            n: {"answered": c.answered, "reused": c.reused, "sent": c.sent} for n, c in clients.items()
        }
        report["queries_total"] = spent()
        for c in clients.values():
            c.close()
    return report
