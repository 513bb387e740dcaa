"""``probe``: collect answers from endpoints and run the tests, cheapest first, within a query budget.

Order: tokenizer slope (≈ units × repeats requests per model); greedy-agreement lineage in looks of
``lineage_batch`` prompts (each look tested at α/K, K the planned looks: Bonferroni alpha spending keeps
the early stop valid); then identity, as two tests at α/2 each (Bonferroni): greedy agreement with
logprobs against the reference asked twice (cheap and powerful against quantised or fine-tuned copies),
and, only when that one does not already reject, MMD on sampled completions (which also sees sampling
changes: temperature, top_p). A tokenizer mismatch stops the run: the suspect cannot be the reference and
cannot be a fine-tune of its weights — unless the ``usage`` counts look rewritten (then the test is set
aside and the run goes on). The budget counts answered requests over all models (answers reused from the
transcript included, so a resumed run makes the same decisions).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modeltrace.blackbox.client import Client, Endpoint, EndpointError
from modeltrace.blackbox.tests import (
    Continuation,
    TestResult,
    agreement_identity_test,
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
    "collect_continuations",
    "collect_greedy",
    "collect_samples",
    "collect_slopes",
    "lineage_prompts",
    "open_targets",
    "parse_continuation",
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


def parse_continuation(choice: dict[str, Any]) -> Continuation:
    """A completions ``choice`` → :class:`Continuation`; logprobs that are absent or malformed are left out
    (an API or a proxy may strip them), the text is always kept."""
    text = str(choice.get("text", ""))
    lp = choice.get("logprobs")
    if isinstance(lp, dict):
        tokens, values = lp.get("tokens"), lp.get("token_logprobs")
        if (
            isinstance(tokens, list)
            and isinstance(values, list)
            and len(tokens) == len(values)
            and all(isinstance(t, str) for t in tokens)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        ):
            return Continuation(text, tuple(tokens), tuple(float(v) for v in values))
    return Continuation(text)


def collect_continuations(
    client: Client, prompts: Sequence[str], max_tokens: int, *, seed: int, logprobs: int = 1
) -> list[Continuation]:
    """Greedy continuations with the logprob of each token (where the API gives them).

    ``seed`` does not change a greedy answer; varying it between the two reference passes keeps a
    caching layer from answering the repeat with a stored copy.
    """
    answers = client.map_complete(
        [
            {"prompt": p, "max_tokens": max_tokens, "temperature": 0.0, "logprobs": logprobs, "seed": seed}
            for p in prompts
        ]
    )
    return [parse_continuation(a["choices"][0]) for a in answers]


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
    agreement_prompts: int = 25
    agreement_tokens: int = 16
    determinism_prompts: int = 5
    logprob_tolerance: float = 1e-3
    identity_prompts: Sequence[str] = IDENTITY_PROMPTS
    identity_samples: int = 10
    identity_tokens: int = 24
    identity_length: int = 50
    temperature: float = 1.0
    permutations: int = 1000
    slope_units: Sequence[str] = SLOPE_UNITS
    slope_repeats: Sequence[int] = (0, 1, 2, 3)
    examples: int = 5

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}


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


def _examples(
    prompts: Sequence[str], answers: Mapping[str, Sequence[str]], count: int
) -> list[dict[str, Any]]:
    """The first ``count`` prompts with every model's answer, for the report's readers."""
    return [{"prompt": p, **{n: a[i] for n, a in answers.items()}} for i, p in enumerate(prompts[:count])]


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
    """Run the probe; returns a JSON-able report with each test's result and the two verdicts.

    The report holds everything :func:`modeltrace.blackbox.report_html.render` shows: verdicts, tests
    (null, statistic, p-value, effect size, queries, diagnostics), the endpoints, the configuration, the
    queries per model, example prompts with their answers, and notes on what was skipped and why.
    """
    cfg = config or ProbeConfig()
    say = progress or (lambda _msg: None)
    opts = client_options or {}
    names = ["suspect", "reference"] + [f"baseline{i + 1}" for i in range(len(baselines))]
    endpoints = dict(zip(names, [suspect, reference, *baselines], strict=True))
    clients = {n: Client(e, transcript=transcript, **opts) for n, e in endpoints.items()}

    def spent() -> int:
        return sum(c.answered for c in clients.values())

    report: dict[str, Any] = {
        "tests": {},
        "verdicts": {},
        "budget": cfg.budget,
        "stopped": "",
        "notes": [],
        "examples": {},
        "endpoints": {n: e.ident() for n, e in endpoints.items()},
        "config": cfg.to_dict(),
    }
    notes: list[str] = report["notes"]
    try:
        # 1. tokenizer slope
        slope_cost = 2 * len(cfg.slope_units) * len(cfg.slope_repeats)
        if slope_cost <= cfg.budget - spent():
            say("tokenizer slope")
            try:
                s = collect_slopes(clients["suspect"], cfg.slope_units, cfg.slope_repeats)
                r = collect_slopes(clients["reference"], cfg.slope_units, cfg.slope_repeats)
                tok: TestResult | None = tokenizer_slope_test(
                    s, r, cfg.slope_repeats, alpha=cfg.alpha, queries=slope_cost
                )
            except (EndpointError, ValueError) as exc:
                if not isinstance(exc, ValueError) and "usage.prompt_tokens" not in str(exc):
                    raise
                tok = None
                notes.append(f"tokenizer test skipped: {exc}")
            if tok is not None:
                report["tests"]["tokenizer"] = tok.to_dict()
                if tok.diagnostics["unreliable"]:
                    notes.append(f"tokenizer test set aside: {tok.diagnostics['unreliable']}")
                if tok.rejected:
                    report["verdicts"] = {
                        "identity": "different (tokenizer differs)",
                        "lineage": "not a derivative of the reference's weights (tokenizer differs); "
                        "distillation not excluded",
                    }
                    report["stopped"] = "tokenizer mismatch"
                    return report
        # 2. lineage, sequential looks; the identity stage's cost is set aside first
        identity_cost = (
            3 * cfg.agreement_prompts
            + min(cfg.determinism_prompts, cfg.agreement_prompts)
            + 2 * len(cfg.identity_prompts)
        )
        lin: TestResult | None = None
        if baselines:
            per_prompt = len(clients)
            room = max(0, cfg.budget - spent() - identity_cost)
            max_prompts = min(cfg.lineage_max_prompts, room // per_prompt)
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
                report["examples"]["lineage"] = _examples(prompts, outs, cfg.examples)
            else:
                report["verdicts"]["lineage"] = "inconclusive (budget spent before the lineage test)"
        else:
            report["verdicts"]["lineage"] = "inconclusive (no baseline given: the lineage test needs one)"
        # 3. identity: greedy agreement (with logprobs), then MMD on samples unless already rejected
        half = cfg.alpha / 2
        rejected_by = ""
        agreement_cost = 3 * cfg.agreement_prompts + min(cfg.determinism_prompts, cfg.agreement_prompts)
        if cfg.agreement_prompts and agreement_cost <= cfg.budget - spent():
            say("identity (greedy agreement)")
            aprompts = lineage_prompts(cfg.agreement_prompts, cfg.seed + 7919)
            sus = collect_continuations(clients["suspect"], aprompts, cfg.agreement_tokens, seed=cfg.seed)
            ref = collect_continuations(clients["reference"], aprompts, cfg.agreement_tokens, seed=cfg.seed)
            rep = collect_continuations(
                clients["reference"], aprompts, cfg.agreement_tokens, seed=cfg.seed + 1
            )
            agree = agreement_identity_test(
                sus, ref, rep, tolerance=cfg.logprob_tolerance, alpha=half, queries=3 * len(aprompts)
            )
            report["tests"]["identity_agreement"] = agree.to_dict()
            report["examples"]["identity_agreement"] = _examples(
                aprompts,
                {"suspect": [c.text for c in sus], "reference": [c.text for c in ref]},
                cfg.examples,
            )
            # The suspect asked again: an endpoint that samples at temperature 0 (a wrapper forcing its own
            # temperature) starves the greedy lineage test, and the report must say so.
            again = aprompts[: cfg.determinism_prompts]
            if again:
                twice = collect_continuations(
                    clients["suspect"], again, cfg.agreement_tokens, seed=cfg.seed + 1
                )
                unstable = sum(a.text != b.text for a, b in zip(sus, twice, strict=False))
                agree.diagnostics["suspect_self_divergence"] = f"{unstable}/{len(again)}"
                agree.queries += len(again)
                report["tests"]["identity_agreement"] = agree.to_dict()
                lineage_verdict = str(report["verdicts"].get("lineage", ""))
                if unstable and lineage_verdict.startswith("inconclusive"):
                    report["verdicts"]["lineage"] = (
                        lineage_verdict[:-1] + "; the suspect does not decode greedily, see notes)"
                    )
                if unstable:
                    notes.append(
                        f"the suspect answered {unstable} of {len(again)} temperature-0 prompts differently "
                        "when asked twice: it does not decode greedily (a wrapper may force its own "
                        "temperature), so greedy-agreement lineage loses power; an inconclusive lineage "
                        "verdict may have that reason"
                    )
            if not agree.diagnostics["prompts_with_logprobs"]:
                notes.append("no logprobs from the suspect (or the reference): agreement compared texts only")
            if agree.rejected:
                rejected_by = f"greedy answers depart from the reference's, p={agree.pvalue:.2g}"
                if not agree.diagnostics["reference_self_divergence_rate"]:
                    notes.append(
                        "the reference answered every agreement prompt the same way twice: the same weights "
                        "run with other numerics (GPU kernels, batching, bf16) would also differ here; "
                        "whether the suspect derives from the reference is the lineage question"
                    )
        m = len(cfg.identity_prompts)
        if rejected_by:
            notes.append("identity MMD skipped: the agreement test already rejected")
        elif m and 2 * m <= cfg.budget - spent():
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
                alpha=half,
                seed=cfg.seed,
                queries=2 * m,
            )
            ident.diagnostics["samples_per_prompt"] = cfg.identity_samples
            report["tests"]["identity"] = ident.to_dict()
            report["examples"]["identity"] = [
                {"prompt": p, "suspect": xs[p][0], "reference": ys[p][0]}
                for p in list(cfg.identity_prompts)[: cfg.examples]
            ]
            if ident.rejected:
                rejected_by = f"sampled completions differ in distribution, p={ident.pvalue:.2g}"
        if rejected_by:
            report["verdicts"]["identity"] = f"different ({rejected_by})"
        elif "identity_agreement" in report["tests"] or "identity" in report["tests"]:
            report["verdicts"]["identity"] = "not distinguishable from the reference at this budget"
        else:
            report["verdicts"]["identity"] = "inconclusive (budget spent)"
        report["stopped"] = "done"
    finally:
        report["queries"] = {
            n: {"answered": c.answered, "reused": c.reused, "sent": c.sent} for n, c in clients.items()
        }
        report["queries_total"] = spent()
        if transcript is not None:
            report["transcript"] = {
                "path": str(transcript.path),
                "entries": transcript.count,
                "head": transcript.head,
            }
        for c in clients.values():
            c.close()
    return report
