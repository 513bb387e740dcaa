"""The lineage evaluation harness: every attack of issue 3 against ``compare``, on real base models.

Bases: SmolLM2-135M-Instruct (dequantised from the zoo's GGUF Q4_1) and all-MiniLM-L6-v2 (fp32), plus
small llamas trained here (SmolLM2's tokenizer, Python's standard-library docstrings; 4 layers, 64
wide, MLP 256) for the cases that need training — a real AdamW fine-tune of SmolLM2 and of a small
model, an embedding transplant whose fresh layers are trained, a weight average with an independently
trained model — and for the independent pairs that share architecture, tokenizer and data (10 seeds,
45 pairs). Each case writes the suspect as a checkpoint (GGUF F32 for llamas, with SmolLM2's
vocabulary; an HF folder with ``vocab.txt`` for BERT), runs ``compare(base, suspect)`` and prints:

    case, expected, verdict, log10 p, seconds (compare only), note

Function-preserving cases also print the max output change, evaluated in float64 on the stored
float32 weights (the criterion, < 1e-3) and in float32 (whose own rounding on SmolLM2 is ~7e-4).
Then a summary: false positives, misses, the smallest derived margin (how far log10 p is below −6),
and the independent pairs' p-values. ``compare`` is never tuned here: a failing case is data, and
its row carries the deciding statistics and weakest layers.

Trained models are cached under ``<zoo cache>/lineage_eval``; the first run trains them (about 45
minutes on one shared core: 10 small models and the SmolLM2 fine-tune), later runs reuse them.
``--quick`` runs a subset; ``--json`` saves the rows after each case, ``--resume`` reuses saved rows.

    python benchmarks/lineage_eval.py [--quick] [--train-only] [--only S] [--exclude S]
                                      [--json F] [--resume F]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from modeltrace.lineage import DERIVED, INCONCLUSIVE, INDEPENDENT, LineageReport, TestResult, compare
from modeltrace.lineage.attacks import (
    FUNCTION_PRESERVING,
    TokenList,
    add_noise,
    average_with,
    disguise,
    drop_layers,
    extend_vocabulary,
    gguf_round_trip,
    int4_round_trip,
    int8_round_trip,
    magnitude_prune,
    merge_lora,
    prune_mlp_width,
    prune_vocabulary,
    random_like,
    transplant_embeddings,
    write_gguf_llama,
    write_hf_bert,
)
from modeltrace.lineage.forward import (
    BERT,
    ForwardSpec,
    Tensors,
    canonical_tensors,
    max_output_change,
    outputs,
    spec_from_model,
)
from modeltrace.lineage.zoo_models import (
    LlamaShape,
    batches,
    gguf_tokenizer,
    init_llama,
    next_token_accuracy,
    stdlib_docstrings,
    stdlib_source,
    train_llama,
)
from modeltrace.weights.model import Model, open_model
from modeltrace.zoo import cache_dir, fetch

CACHE = cache_dir() / "lineage_eval"
SMALL = LlamaShape(vocab=49152, hidden=64, layers=4, heads=4, kv_heads=2, head_dim=16, mlp=256)
SMALL_SEEDS = range(10)
#: One data order for every seed: independent models then differ by initialisation alone (the
#: hardest null: same architecture, tokenizer, data and order).
DATA_SEED = 1234


# ---------------------------------------------------------------------------------------------------
# Text and trained models (cached)
# ---------------------------------------------------------------------------------------------------


def smollm2() -> Model:
    return open_model(fetch("smollm2"))


def token_file(name: str, text: Callable[[], str]) -> np.ndarray:
    path = CACHE / f"{name}.npy"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with smollm2() as model:
            ids = np.asarray(gguf_tokenizer(model).encode(text()), np.int32)
        np.save(path, ids)
    loaded: np.ndarray = np.load(path)
    return loaded


def docstring_tokens() -> np.ndarray:
    """Standard-library docstrings; the last 5% is held out for evaluation."""
    return token_file("docstrings", stdlib_docstrings)


def source_tokens() -> np.ndarray:
    """Standard-library source code: the fine-tune's text (another distribution than the pretraining)."""
    return token_file("source", lambda: stdlib_source(1_500_000, start=40))


def split(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cut = int(len(tokens) * 0.95)
    return tokens[:cut], tokens[cut:]


@dataclass(frozen=True)
class Recipe:
    name: str
    build: Callable[[], tuple[Tensors, dict[str, float]]]


def _cached(name: str, build: Callable[[], tuple[Tensors, dict[str, float]]]) -> Tensors:
    path = CACHE / f"{name}.safetensors"
    if path.is_file():
        return load_file(str(path))
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"training {name} …", file=sys.stderr, flush=True)
    tensors, log = build()
    save_file(tensors, str(path))
    (CACHE / f"{name}.json").write_text(json.dumps(log, indent=1))
    print(f"  {name}: {log}", file=sys.stderr, flush=True)
    return tensors


def _log(train_log: object, tensors: Tensors, spec_tokens: np.ndarray, spec: object) -> dict[str, float]:
    assert isinstance(spec, ForwardSpec)
    accuracy, loss = next_token_accuracy(tensors, spec, spec_tokens, length=64, windows=8)
    out = dict(vars(train_log))
    out.update(heldout_top1=accuracy, heldout_loss=loss)
    return out


def small_model(seed: int) -> Tensors:
    """A small llama trained from seed ``seed``: 250 AdamW steps of 16×32 docstring tokens."""

    def build() -> tuple[Tensors, dict[str, float]]:
        train, held = split(docstring_tokens())
        tensors, log = train_llama(
            init_llama(SMALL, seed), SMALL.spec(), batches(train, 16, 32, DATA_SEED), 250, lr=3e-3
        )
        return tensors, _log(log, tensors, held, SMALL.spec())

    return _cached(f"small-{seed}", build)


def small_finetune() -> Tensors:
    """small-0 fine-tuned for 200 AdamW steps (lr 1e-3, 16×32 tokens) on standard-library source code."""

    def build() -> tuple[Tensors, dict[str, float]]:
        tensors, log = train_llama(
            small_model(0), SMALL.spec(), batches(source_tokens(), 16, 32, 7), 200, lr=1e-3
        )
        return tensors, _log(log, tensors, split(docstring_tokens())[1], SMALL.spec())

    return _cached("small-0-finetune", build)


def small_transplant() -> Tensors:
    """small-0's token embeddings, frozen; every other tensor freshly initialised and trained (250 steps)."""

    def build() -> tuple[Tensors, dict[str, float]]:
        train, held = split(docstring_tokens())
        fresh = init_llama(SMALL, 100)
        fresh["embed.tokens.weight"] = small_model(0)["embed.tokens.weight"]
        tensors, log = train_llama(
            fresh,
            SMALL.spec(),
            batches(train, 16, 32, DATA_SEED + 1),
            250,
            lr=3e-3,
            trainable=lambda name: name != "embed.tokens.weight",
        )
        return tensors, _log(log, tensors, held, SMALL.spec())

    return _cached("small-0-transplant", build)


def smollm2_finetune() -> Tensors:
    """SmolLM2 fine-tuned for 200 AdamW steps (lr 1e-4, one 32-token window a step) on stdlib source."""

    def build() -> tuple[Tensors, dict[str, float]]:
        with smollm2() as model:
            base, spec = canonical_tensors(model), spec_from_model(model)
        tensors, log = train_llama(base, spec, batches(source_tokens(), 1, 32, 11), 200, lr=1e-4, warmup=10)
        return tensors, _log(log, tensors, split(docstring_tokens())[1], spec)

    return _cached("smollm2-finetune", build)


def smollm2_transplant() -> Tensors:
    """SmolLM2's token embeddings under 30 freshly initialised layers (not trained: training 107M fresh
    parameters is beyond this CPU's budget; the trained transplant runs on the small model)."""
    with smollm2() as model:
        spec = spec_from_model(model)
        shape = LlamaShape(
            vocab=49152,
            hidden=576,
            layers=30,
            heads=9,
            kv_heads=3,
            head_dim=64,
            mlp=1536,
            rope_base=spec.rope_base,
        )
        return transplant_embeddings(
            {"embed.tokens.weight": model.tensor("embed.tokens.weight")}, init_llama(shape, 200)
        )


def train_all() -> None:
    for seed in SMALL_SEEDS:
        small_model(seed)
    small_finetune()
    small_transplant()
    smollm2_finetune()


# ---------------------------------------------------------------------------------------------------
# Bases and cases
# ---------------------------------------------------------------------------------------------------

DERIVED_ALL = "derived"
EMBEDDINGS_ONLY = "derived (embeddings only)"
INDEPENDENT_PAIR = "independent"
NOT_DERIVED = "not derived"
_ENGLISH = (
    "The quick brown fox jumps over the lazy dog. Paris is the capital of France, and Berlin is the "
    "capital of Germany. Water boils at 100 degrees Celsius at sea level. Python is a programming "
    "language that lets you work quickly and integrate systems more effectively."
)


@dataclass
class Base:
    """A base model: where ``compare`` reads it, its canonical tensors, and how to write a suspect."""

    name: str
    path: Path
    tensors: Tensors
    spec: ForwardSpec
    vocab: TokenList
    probe_ids: np.ndarray
    config: dict[str, object] | None = None
    floor: float | None = None  #: max |float32 − float64| of the base's own outputs on ``probe_ids``

    def write(self, tensors: Tensors, vocab: TokenList, folder: Path) -> Path:
        if self.spec.family == BERT:
            assert self.config is not None
            return write_hf_bert(folder / "suspect", tensors, self.spec, vocab, self.config)
        return write_gguf_llama(folder / "suspect.gguf", tensors, self.spec, vocab)


Make = Callable[[Base], tuple[Tensors, TokenList]]


@dataclass
class Case:
    name: str
    expected: str
    make: Make | None = None  #: builds the suspect from the base; None for a pair of files on disk
    pair: tuple[Callable[[], Path], Callable[[], Path]] | None = None
    quick: bool = False
    check_function: bool = False  #: a preserving case: measure the max output change
    check: Callable[[LineageReport], str] | None = None  #: extra expectation; returns "" when met


@dataclass
class Row:
    case: str
    expected: str
    verdict: str
    log10_p: float
    seconds: float
    ok: bool
    note: str
    report: dict[str, object]


def _two_windows(ids: np.ndarray) -> np.ndarray:
    half = len(ids) // 2
    return np.stack([ids[:half], ids[half : 2 * half]])


def smollm2_base() -> Base:
    with smollm2() as model:
        tensors, spec, vocab = canonical_tensors(model), spec_from_model(model), TokenList.from_model(model)
        ids = np.asarray(gguf_tokenizer(model).encode(_ENGLISH))
    return Base("smollm2", fetch("smollm2"), tensors, spec, vocab, _two_windows(ids))


def minilm_base() -> Base:
    folder = fetch("minilm6")
    with open_model(folder) as model:
        tensors, spec, vocab = canonical_tensors(model), spec_from_model(model), TokenList.from_model(model)
    ids = np.random.default_rng(0).integers(1000, 30000, size=(2, 24))
    config = json.loads((folder / "config.json").read_text())
    return Base("minilm6", folder, tensors, spec, vocab, ids, config)


def small_path(seed: int) -> Path:
    """small-``seed`` as a GGUF with SmolLM2's vocabulary (written once into the cache)."""
    path = CACHE / f"small-{seed}.gguf"
    if not path.is_file():
        with smollm2() as model:
            vocab = TokenList.from_model(model)
        write_gguf_llama(path, small_model(seed), SMALL.spec(), vocab)
    return path


def small_base() -> Base:
    with smollm2() as model:
        vocab = TokenList.from_model(model)
        ids = np.asarray(gguf_tokenizer(model).encode(_ENGLISH))
    return Base("small-0", small_path(0), small_model(0), SMALL.spec(), vocab, _two_windows(ids))


def _rng(name: str) -> np.random.Generator:
    """A generator seeded by the case's recipe name: runs are reproducible (``hash`` is salted)."""
    return np.random.default_rng(int.from_bytes(name.encode()[:16].ljust(16, b"\0"), "little"))


def same_vocab(attack: Callable[[Tensors, ForwardSpec, np.random.Generator], Tensors]) -> Make:
    def make(base: Base) -> tuple[Tensors, TokenList]:
        return attack(base.tensors, base.spec, _rng(attack.__name__)), base.vocab

    return make


def chain(*steps: Callable[[Tensors, ForwardSpec, np.random.Generator], Tensors]) -> Make:
    """Apply several tensor-only attacks in order (one seeded generator for the whole chain)."""

    def make(base: Base) -> tuple[Tensors, TokenList]:
        rng = _rng("+".join(s.__name__ for s in steps))
        tensors = base.tensors
        for step in steps:
            tensors = step(tensors, base.spec, rng)
        return tensors, base.vocab

    return make


def _named(
    name: str, fn: Callable[[Tensors, ForwardSpec, np.random.Generator], Tensors]
) -> Callable[[Tensors, ForwardSpec, np.random.Generator], Tensors]:
    fn.__name__ = name
    return fn


NOISE_10DB = _named("noise_10db", lambda t, s, r: add_noise(t, 10.0, r))
INT8 = _named("int8", lambda t, s, r: int8_round_trip(t))
INT4 = _named("int4_g32", lambda t, s, r: int4_round_trip(t, 32))
Q4_K = _named("gguf_q4_k", lambda t, s, r: gguf_round_trip(t, "Q4_K"))
PRUNE_50 = _named("magnitude_50", lambda t, s, r: magnitude_prune(t, 0.5))
DROP_2ND = _named("drop_every_2nd", lambda t, s, r: drop_layers(t))
PRUNE_MLP = _named("prune_mlp_25", lambda t, s, r: prune_mlp_width(t, 0.25))
LORA = _named("lora_r8", lambda t, s, r: merge_lora(t, r, rank=8, strength=0.1))
AVERAGE_RANDOM = _named("average_random", lambda t, s, r: average_with(t, random_like(t, r), 0.5))
DISGUISE = _named("disguise", disguise)


def extend_vocab(base: Base, then: Make | None = None) -> tuple[Tensors, TokenList]:
    tensors, vocab = then(base) if then else (base.tensors, base.vocab)
    return extend_vocabulary(tensors, vocab, 1000, _rng("extend"))


def prune_vocab(base: Base, then: Make | None = None) -> tuple[Tensors, TokenList]:
    """Keep the tokens a text needs: SmolLM2 keeps its specials and every token of the docstrings;
    MiniLM keeps its ASCII tokens (an English-only pruning, dropping the ``[unused]`` slots)."""
    tensors, vocab = then(base) if then else (base.tensors, base.vocab)
    if base.spec.family == BERT:
        keep = [i for i, t in enumerate(vocab.tokens) if t.isascii() and not t.startswith("[unused")]
    else:
        used = set(np.unique(docstring_tokens()).tolist())
        keep = [i for i, kind in enumerate(vocab.types) if kind == 3 or i in used]
    return prune_vocabulary(tensors, vocab, keep)


def trained(name: str, getter: Callable[[], Tensors]) -> Make:
    def make(base: Base) -> tuple[Tensors, TokenList]:
        return getter(), base.vocab

    make.__name__ = name
    return make


def trained_then(
    getter: Callable[[], Tensors], *steps: Callable[[Tensors, ForwardSpec, np.random.Generator], Tensors]
) -> Make:
    def make(base: Base) -> tuple[Tensors, TokenList]:
        tensors, rng = getter(), _rng("trained+" + "+".join(s.__name__ for s in steps))
        for step in steps:
            tensors = step(tensors, base.spec, rng)
        return tensors, base.vocab

    return make


def layer_map_halves(report: LineageReport) -> str:
    want = {i: 2 * i for i in range(len(report.layer_map))}
    return "" if report.layer_map == want else f"layer map {report.layer_map} ≠ i → 2i"


def llama_cases(
    prefix: str, transplant: Callable[[], Tensors] | None, finetuned: Callable[[], Tensors] | None
) -> list[Case]:
    cases = [
        Case(
            f"{prefix}/{name}",
            DERIVED_ALL,
            same_vocab(attack),
            quick=name == "fold_and_rotate",
            check_function=True,
        )
        for name, attack in FUNCTION_PRESERVING.items()
    ]
    cases += [
        Case(
            f"{prefix}/disguise (all 6)", DERIVED_ALL, same_vocab(disguise), quick=True, check_function=True
        ),
        Case(f"{prefix}/noise 10 dB", DERIVED_ALL, chain(NOISE_10DB)),
        Case(f"{prefix}/int8", DERIVED_ALL, chain(INT8)),
        Case(f"{prefix}/int4 g32", DERIVED_ALL, chain(INT4)),
        Case(f"{prefix}/GGUF Q4_K (Q5_0 fallback)", DERIVED_ALL, chain(Q4_K)),
        Case(f"{prefix}/magnitude prune 50%", DERIVED_ALL, chain(PRUNE_50)),
        Case(f"{prefix}/drop every 2nd layer", DERIVED_ALL, chain(DROP_2ND), check=layer_map_halves),
        Case(f"{prefix}/prune MLP width 25%", DERIVED_ALL, chain(PRUNE_MLP)),
        Case(f"{prefix}/vocab +1000", DERIVED_ALL, extend_vocab),
        Case(f"{prefix}/vocab pruned", DERIVED_ALL, prune_vocab),
        Case(f"{prefix}/merged LoRA r8", DERIVED_ALL, chain(LORA)),
        Case(f"{prefix}/average 50/50 random", DERIVED_ALL, chain(AVERAGE_RANDOM)),
        Case(f"{prefix}/disguise+noise 10 dB", DERIVED_ALL, chain(DISGUISE, NOISE_10DB), quick=True),
        Case(f"{prefix}/disguise+int4", DERIVED_ALL, chain(DISGUISE, INT4)),
        Case(f"{prefix}/disguise+Q4_K", DERIVED_ALL, chain(DISGUISE, Q4_K)),
        Case(
            f"{prefix}/drop 2nd+disguise+int8",
            DERIVED_ALL,
            chain(DROP_2ND, DISGUISE, INT8),
            quick=True,
            check=layer_map_halves,
        ),
        Case(f"{prefix}/prune MLP+disguise+int4", DERIVED_ALL, chain(PRUNE_MLP, DISGUISE, INT4)),
        Case(f"{prefix}/magnitude 50%+disguise", DERIVED_ALL, chain(PRUNE_50, DISGUISE)),
        Case(f"{prefix}/LoRA+disguise", DERIVED_ALL, chain(LORA, DISGUISE)),
        Case(f"{prefix}/average random+disguise", DERIVED_ALL, chain(AVERAGE_RANDOM, DISGUISE)),
        Case(f"{prefix}/vocab pruned+disguise", DERIVED_ALL, lambda b: prune_vocab(b, chain(DISGUISE))),
        Case(
            f"{prefix}/vocab +1000+disguise+Q4_K",
            DERIVED_ALL,
            lambda b: extend_vocab(b, chain(DISGUISE, Q4_K)),
        ),
    ]
    if finetuned is not None:
        cases += [
            Case(f"{prefix}/fine-tune 200 steps", DERIVED_ALL, trained("finetune", finetuned), quick=True),
            Case(f"{prefix}/fine-tune+disguise+int4", DERIVED_ALL, trained_then(finetuned, DISGUISE, INT4)),
        ]
    if transplant is not None:
        cases.append(
            Case(
                f"{prefix}/embedding transplant (fresh layers)",
                EMBEDDINGS_ONLY,
                trained("transplant", transplant),
                quick=True,
            )
        )
    return cases


def bert_cases() -> list[Case]:
    p = "minilm6"
    cases = [
        Case(f"{p}/{name}", DERIVED_ALL, same_vocab(attack), check_function=True)
        for name, attack in FUNCTION_PRESERVING.items()
        if name not in ("fold_and_rotate", "scale_mlp_neurons")
    ]
    return [
        *cases,
        Case(
            f"{p}/disguise (4 applicable)", DERIVED_ALL, same_vocab(disguise), quick=True, check_function=True
        ),
        Case(f"{p}/noise 10 dB", DERIVED_ALL, chain(NOISE_10DB)),
        Case(f"{p}/int8", DERIVED_ALL, chain(INT8)),
        Case(f"{p}/int4 g32", DERIVED_ALL, chain(INT4)),
        Case(f"{p}/GGUF Q4_K (Q5_0 fallback)", DERIVED_ALL, chain(Q4_K)),
        Case(f"{p}/magnitude prune 50%", DERIVED_ALL, chain(PRUNE_50)),
        Case(f"{p}/drop every 2nd layer", DERIVED_ALL, chain(DROP_2ND), check=layer_map_halves),
        Case(f"{p}/prune MLP width 25%", DERIVED_ALL, chain(PRUNE_MLP)),
        Case(f"{p}/vocab +1000", DERIVED_ALL, extend_vocab),
        Case(f"{p}/vocab pruned (ASCII)", DERIVED_ALL, prune_vocab),
        Case(f"{p}/merged LoRA r8", DERIVED_ALL, chain(LORA)),
        Case(f"{p}/average 50/50 random", DERIVED_ALL, chain(AVERAGE_RANDOM)),
        Case(f"{p}/disguise+noise 10 dB", DERIVED_ALL, chain(DISGUISE, NOISE_10DB), quick=True),
        Case(f"{p}/disguise+int4", DERIVED_ALL, chain(DISGUISE, INT4)),
        Case(
            f"{p}/drop 2nd+disguise+int8",
            DERIVED_ALL,
            chain(DROP_2ND, DISGUISE, INT8),
            check=layer_map_halves,
        ),
        Case(f"{p}/vocab pruned+disguise+int8", DERIVED_ALL, lambda b: prune_vocab(b, chain(DISGUISE, INT8))),
    ]


def small_pair(i: int, j: int) -> tuple[Callable[[], Path], Callable[[], Path]]:
    return (lambda: small_path(i), lambda: small_path(j))


def small_cases(quick: bool) -> list[Case]:
    def average_small_1(base: Base) -> tuple[Tensors, TokenList]:
        return average_with(base.tensors, small_model(1), 0.5), base.vocab

    cases = [
        Case(
            "small-0/fine-tune 200 steps (code)", DERIVED_ALL, trained("finetune", small_finetune), quick=True
        ),
        Case("small-0/fine-tune+disguise", DERIVED_ALL, trained_then(small_finetune, DISGUISE)),
        Case(
            "small-0/embedding transplant",
            EMBEDDINGS_ONLY,
            trained("transplant", small_transplant),
            quick=True,
        ),
        Case("small-0/average 50/50 with small-1", DERIVED_ALL, average_small_1, quick=True),
        Case("small-0/disguise", DERIVED_ALL, same_vocab(disguise), check_function=True),
    ]
    for i in SMALL_SEEDS:
        for j in SMALL_SEEDS:
            if i < j and (not quick or i == 0):
                cases.append(
                    Case(
                        f"small-{i} vs small-{j}",
                        INDEPENDENT_PAIR,
                        pair=small_pair(i, j),
                        quick=True,
                    )
                )
    return cases


def zoo_pair(a: str, b: str) -> tuple[Callable[[], Path], Callable[[], Path]]:
    return (lambda: fetch(a), lambda: fetch(b))


ZOO_CASES = [
    Case("me5-small vs minilm6", INDEPENDENT_PAIR, pair=zoo_pair("me5-small", "minilm6"), quick=True),
    Case("smollm2 vs gemma3", NOT_DERIVED, pair=zoo_pair("smollm2", "gemma3"), quick=True),
]


# ---------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------


def judge(expected: str, report: LineageReport) -> bool:
    if expected == DERIVED_ALL:
        return report.verdict == DERIVED and report.log10_p < -6
    if expected == EMBEDDINGS_ONLY:
        return (
            report.verdict == DERIVED and report.log10_p < -6 and report.shared_parts == ["embeddings only"]
        )
    if expected == INDEPENDENT_PAIR:
        return report.verdict == INDEPENDENT and report.log10_p > -2
    return report.verdict in (INDEPENDENT, INCONCLUSIVE)


def statistics(report: LineageReport) -> str:
    return statistics_of(report.tests)


def statistics_of(tests: list[TestResult]) -> str:
    """The deciding statistics in brief: S3 (MLP neuron agreement) and E0 (embedding coordinates)."""
    parts = []
    for test in tests:
        if test.name.startswith("MLP"):
            parts.append(f"S3 {test.log10_p:.0f} (agree {test.statistic:.3f})")
        elif test.name.startswith("embedding"):
            parts.append(f"E0 {test.log10_p:.1f}")
    return "[" + "; ".join(parts) + "]" if parts else ""


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def diagnosis(report: LineageReport) -> str:
    """What a reader needs to see why a case failed: the deciding statistics and the weakest layers."""
    parts = [f"reason: {report.reason}", f"shared: {report.shared_parts}"]
    for test in report.tests:
        parts.append(
            f"{test.name}: stat {test.statistic:.4f}, log10 p {test.log10_p:.2f}, {test.diagnostics}"
        )
    if report.alignment is not None:
        a = report.alignment
        parts.append(
            f"alignment: {a.shared_tokens} tokens, held-out r {a.heldout_correlation:.3f}, "
            f"retrieval {a.heldout_retrieval:.3f}"
        )
    layers = [
        (p.layer_b, p.layer_a, p.mlp_agreement, p.mlp_log10_p, p.attention_similarity) for p in report.layers
    ]
    weakest = sorted(layers, key=lambda r: -1.0 if r[2] is None else r[2])[:4]
    parts.append(
        "weakest layers (b←a, agreement, log10 p, attn): "
        + "; ".join(f"{b}←{a}: {_round(g, 3)}, {_round(q, 1)}, {_round(s, 3)}" for b, a, g, q, s in weakest)
    )
    return "\n      ".join(parts)


def function_check(base: Base, tensors: Tensors) -> tuple[str, bool]:
    """Max |Δ output| of the stored weights, evaluated in float64 (the criterion) and in float32.

    float32 evaluation has its own rounding (the base alone differs from its float64 evaluation by
    ``floor``); float64 arithmetic on the float32 weights isolates what the attack changed.
    """
    if base.floor is None:
        base.floor = float(
            np.abs(
                outputs(base.tensors, base.spec, base.probe_ids)
                - outputs(base.tensors, base.spec, base.probe_ids, double=True)
            ).max()
        )
    exact = max_output_change(base.tensors, tensors, base.spec, base.probe_ids, double=True)
    single = max_output_change(base.tensors, tensors, base.spec, base.probe_ids)
    note = f"max|Δout| fp64 {exact:.1e}, fp32 {single:.1e} (fp32 floor {base.floor:.1e})"
    return (note, True) if exact < 1e-3 else (note + " ✘ NOT PRESERVED", False)


def run_case(case: Case, bases: dict[str, Callable[[], Base]]) -> Row:
    note, preserved = "", True
    with tempfile.TemporaryDirectory(prefix="lineage-eval-") as tmp:
        if case.pair is not None:
            path_a, path_b = case.pair[0](), case.pair[1]()
        else:
            assert case.make is not None
            base = bases[case.name.split("/")[0]]()
            tensors, vocab = case.make(base)
            if case.check_function:
                note, preserved = function_check(base, tensors)
            path_a, path_b = base.path, base.write(tensors, vocab, Path(tmp))
            del tensors
        started = time.perf_counter()
        try:
            report = compare(path_a, path_b)
        except Exception as error:  # a crash is a result too: record it and go on
            return Row(
                case.name,
                case.expected,
                f"crash: {type(error).__name__}: {error}",
                0.0,
                time.perf_counter() - started,
                False,
                note,
                {},
            )
        seconds = time.perf_counter() - started
    ok = judge(case.expected, report) and preserved
    extra = case.check(report) if case.check else ""
    if extra:
        ok, note = False, f"{note} {extra}".strip()
    if report.verdict == DERIVED:
        note = f"{note} shared: {', '.join(report.shared_parts)}".strip()
    note = f"{note} {statistics(report)}".strip()
    row = Row(case.name, case.expected, report.verdict, report.log10_p, seconds, ok, note, report.to_dict())
    if not ok:
        row.note += "\n      " + diagnosis(report)
    return row


def _cached_base(build: Callable[[], Base]) -> Callable[[], Base]:
    holder: list[Base] = []

    def get() -> Base:
        if not holder:
            holder.append(build())
        return holder[0]

    return get


def all_cases(quick: bool) -> list[Case]:
    cases = (
        llama_cases("smollm2", smollm2_transplant, smollm2_finetune)
        + bert_cases()
        + small_cases(quick)
        + ZOO_CASES
    )
    return [c for c in cases if c.quick or not quick]


def summary(rows: list[Row]) -> list[str]:
    derived = [r for r in rows if r.expected in (DERIVED_ALL, EMBEDDINGS_ONLY)]
    independent = [r for r in rows if r.expected == INDEPENDENT_PAIR]
    false_positives = [
        r for r in rows if r.expected in (INDEPENDENT_PAIR, NOT_DERIVED) and r.verdict == DERIVED
    ]
    misses = [r for r in derived if not r.ok]
    margins = [(-6 - r.log10_p, r.case) for r in derived if r.verdict == DERIVED and np.isfinite(r.log10_p)]
    p_values = sorted(10**r.log10_p for r in independent)
    lines = [
        f"cases: {len(rows)}; passed {sum(r.ok for r in rows)}; failed {sum(not r.ok for r in rows)}",
        f"false positives: {len(false_positives)} {[r.case for r in false_positives]}",
        f"misses (derived expected): {len(misses)} {[r.case for r in misses]}",
    ]
    if margins:
        low = min(margins)
        lines.append(
            f"smallest derived margin: log10 p {-6 - low[0]:.2f} ({low[0]:.2f} below −6) in {low[1]}"
        )
    if p_values:
        lines.append(
            f"independent pairs: {len(p_values)}; smallest p {p_values[0]:.3g}; "
            f"p ≤ 0.05: {sum(p <= 0.05 for p in p_values)}; "
            f"quartiles {np.quantile(p_values, [0.25, 0.5, 0.75]).round(3).tolist()}"
        )
    lines.append(
        f"compare seconds: total {sum(r.seconds for r in rows):.0f}, max {max(r.seconds for r in rows):.1f}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a subset: one case per kind, fewer independent pairs"
    )
    parser.add_argument("--train-only", action="store_true", help="train (or find cached) models and stop")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    parser.add_argument("--exclude", action="append", default=[], help="skip cases containing this")
    parser.add_argument("--json", type=Path, help="write every row and full report here (after each case)")
    parser.add_argument("--resume", type=Path, help="reuse the rows of cases already in this JSON file")
    args = parser.parse_args(argv)
    if args.train_only:
        train_all()
        return 0
    bases = {
        "smollm2": _cached_base(smollm2_base),
        "minilm6": _cached_base(minilm_base),
        "small-0": _cached_base(small_base),
    }
    import torch

    torch.set_num_threads(1)  # a shared 2-core machine: one core for this harness
    cases = [
        c for c in all_cases(args.quick) if args.only in c.name and not any(x in c.name for x in args.exclude)
    ]
    done = {}
    if args.resume and args.resume.is_file():
        done = {r["case"]: Row(**r) for r in json.loads(args.resume.read_text())}
        for row in done.values():  # rows saved before the note carried the statistics
            saved = row.report.get("tests")
            if "[S3" not in row.note and isinstance(saved, list):
                tests = [TestResult(**t) for t in saved]
                row.note = f"{row.note} {statistics_of(tests)}".strip()
    rows: list[Row] = []
    print(f"{'case':44} {'expected':26} {'verdict':13} {'log10 p':>9} {'seconds':>8}  note", flush=True)
    for case in cases:
        row = done.get(case.name) or run_case(case, bases)
        rows.append(row)
        if args.json:
            args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1, default=str))
        mark = "" if row.ok else "FAIL "
        print(
            f"{row.case:44} {row.expected:26} {row.verdict:13} {row.log10_p:9.2f} {row.seconds:8.1f}  "
            f"{mark}{row.note}",
            flush=True,
        )
    print()
    for line in summary(rows):
        print(line)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
