"""The toy zoo: tiny llamas TRAINED here (torch AdamW on CPU) with known lineage, and wrapping proxies.

The test bed of the black-box tests (``tests/blackbox``) and of ``benchmarks/probe_eval.py --toy``; it
needs the ``dev`` extra (torch, tokenizers) to train, nothing else needs it.

Text: Python's own ``pydoc_data.topics`` (on every machine, read in milliseconds), cut into four slices.
Models (2 layers, 32 wide, byte-level BPE tokenizers of ``toy.py``):

- bases: ``base`` (the protected model: seed 0, slice 0), ``baseline1`` (seed 1, slice 0) and
  ``baseline2`` (seed 2, slice 1) — the lineage test's unrelated candidates —, ``indep-seed`` (seed 3,
  slice 0: same data, the hardest independent model) and ``indep-data`` (seed 4, slice 2);
- derivatives of ``base``: ``ft`` (fine-tuned on slice 3), ``merge`` (the average of ``ft`` and
  another fine-tune on slice 2), ``q8`` (per-row int8 round trip), ``q4`` (4-bit, groups of 16);
- ``student``: its own tokenizer, trained from scratch only on text sampled from ``base``.

Both tokenizers are byte-level BPEs trained here with Hugging Face ``tokenizers`` (A: 512 tokens on
slices 0–1; B: 448 tokens on slice 3). Trained weights are cached under ``cache/<hash of the recipes>``
(the part of this file above the wrappers); a fresh machine trains them once in about half a minute.

Wrappers (:func:`proxy_app`) are small loopback HTTP proxies in front of a served model: a system
prompt, a forced temperature, logprob stripping, and a rewritten ``usage``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from modeltrace.blackbox.lm import LlamaLM
from modeltrace.blackbox.probe import ProbeConfig
from modeltrace.blackbox.serve import LocalModel
from modeltrace.lineage.attacks import average_with, int4_round_trip, int8_round_trip
from modeltrace.lineage.forward import Tensors
from modeltrace.lineage.zoo_models import LlamaShape
from modeltrace.weights.bpe import ByteLevelBPE

__all__ = ["CASES", "Case", "build_zoo", "corpus_slice", "proxy_app", "train_tokenizer"]

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

SLICE_CHARS = 110_000
STEPS, FT_STEPS, BATCH, LENGTH, LR, FT_LR = 200, 40, 8, 32, 5e-3, 1e-3
TOKENS_A, TOKENS_B = 512, 448


@dataclass(frozen=True)
class Case:
    """One suspect of the zoo and what a correct probe says about it against ``base``."""

    name: str
    model: str  #: the zoo model behind it
    wrapper: str = ""  #: a :func:`proxy_app` mode, or "" for the model served directly
    identity: str = "different"  #: "same" or "different"
    #: "derived", "not derived", "not independent" (derived or inconclusive) or "any" (reported only)
    lineage: str = "derived"


CASES = (
    Case("self", "base", identity="same"),
    Case("ft", "ft"),
    Case("merge", "merge"),
    Case("q8", "q8"),
    Case("q4", "q4"),
    Case("indep-seed", "indep-seed", lineage="not derived"),
    Case("indep-data", "indep-data", lineage="not derived"),
    Case("student", "student", lineage="any"),
    Case("self+strip-logprobs", "base", "strip-logprobs", identity="same"),
    Case("self+usage-rewrite", "base", "usage-rewrite", identity="same"),
    Case("q4+strip-logprobs", "q4", "strip-logprobs"),
    Case("ft+system-prompt", "ft", "system-prompt"),
    Case("ft+temperature", "ft", "temperature", lineage="not independent"),
    Case("ft+usage-rewrite", "ft", "usage-rewrite"),
)


def corpus_slice(k: int) -> str:
    """The ``k``-th slice (0–3) of Python's pydoc topics, whitespace collapsed."""
    import pydoc_data.topics as topics

    # Runs of whitespace become one space: the topics indent their examples, and a tiny model trained
    # on the raw text answers every prompt with spaces, which makes every model agree with every other.
    text = " ".join(" ".join(topics.topics[key] for key in sorted(topics.topics)).split())
    return text[k * SLICE_CHARS : (k + 1) * SLICE_CHARS]


def train_tokenizer(text: str, vocab: int, folder: Path) -> ByteLevelBPE:
    """A byte-level BPE trained here with Hugging Face ``tokenizers`` (saved as ``tokenizer.json``)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([text], trainer)
    path = folder / f"tokenizer-{vocab}.json"
    tok.save(str(path))
    return ByteLevelBPE.from_tokenizer_json(path)


def _shape(vocab: int) -> LlamaShape:
    return LlamaShape(vocab=vocab, hidden=32, layers=2, heads=4, kv_heads=2, head_dim=8, mlp=64)


def _train(
    tensors: Tensors, tok: ByteLevelBPE, text: str, steps: int, data_seed: int, lr: float = LR
) -> Tensors:
    from modeltrace.lineage.zoo_models import batches, train_llama

    ids = np.asarray(tok.encode(text), np.int64)
    trained, _ = train_llama(
        tensors, _shape(len(tok)).spec(), batches(ids, BATCH, LENGTH, data_seed), steps, lr=lr, warmup=10
    )
    return trained


def _base(tok: ByteLevelBPE, seed: int, part: int) -> Tensors:
    from modeltrace.lineage.zoo_models import init_llama

    return _train(init_llama(_shape(len(tok)), seed, std=0.05), tok, corpus_slice(part), STEPS, seed)


def _distil_text(teacher: LocalModel, samples: int = 64, length: int = 40) -> str:
    """What a distiller sees: the teacher's sampled answers to prompts cut from slice 0."""
    rng = np.random.default_rng(99)
    text, tok = corpus_slice(0), teacher.tokenizer
    out = []
    for _ in range(samples):
        start = int(rng.integers(0, len(text) - 40))
        prompt = text[start : start + int(rng.integers(8, 30))]
        for gen in teacher.lm.sample_many(tok.encode(prompt), 4, length, rng=rng):
            out.append(prompt + tok.decode(gen.ids))
    return "\n".join(out)


def _recipes(tok_a: ByteLevelBPE, tok_b: ByteLevelBPE) -> dict[str, Callable[[dict[str, Tensors]], Tensors]]:

    def student(done: dict[str, Tensors]) -> Tensors:
        from modeltrace.lineage.zoo_models import init_llama

        teacher = LocalModel(LlamaLM(done["base"], _shape(len(tok_a)).spec(), 512), tok_a, "base")
        return _train(init_llama(_shape(len(tok_b)), 7, std=0.05), tok_b, _distil_text(teacher), STEPS, 7)

    return {
        "base": lambda _: _base(tok_a, 0, 0),
        "baseline1": lambda _: _base(tok_a, 1, 0),
        "baseline2": lambda _: _base(tok_a, 2, 1),
        "indep-seed": lambda _: _base(tok_a, 3, 0),
        "indep-data": lambda _: _base(tok_a, 4, 2),
        "ft": lambda d: _train(d["base"], tok_a, corpus_slice(3), FT_STEPS, 31, FT_LR),
        "ft2": lambda d: _train(d["base"], tok_a, corpus_slice(2), FT_STEPS, 32, FT_LR),
        "merge": lambda d: average_with(d["ft"], d["ft2"], 0.5),
        "q8": lambda d: int8_round_trip(d["base"]),
        "q4": lambda d: int4_round_trip(d["base"], group=16),
        "student": student,
    }


def build_zoo(cache: Path) -> dict[str, LocalModel]:
    """Every zoo model, trained once and cached in ``cache/<hash of the recipes>``."""
    from safetensors.numpy import load_file, save_file

    # Keyed by the recipe part of this file (everything above the wrappers): a recipe edit retrains.
    recipe = Path(__file__).read_text(encoding="utf-8").split(_WRAPPERS_MARK)[0]
    folder = cache / hashlib.sha256(recipe.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    # Tokenizer A (the bases and their derivatives) learnt from slices 0–1; the student's (B) from the
    # distillation text's source slice 3, with another vocabulary size.
    tok_a = train_tokenizer(corpus_slice(0) + corpus_slice(1), TOKENS_A, folder)
    tok_b = train_tokenizer(corpus_slice(3), TOKENS_B, folder)
    done: dict[str, Tensors] = {}
    for name, make in _recipes(tok_a, tok_b).items():
        path = folder / f"{name}.safetensors"
        if path.is_file():
            done[name] = load_file(str(path))
        else:
            done[name] = make(done)
            save_file({k: np.ascontiguousarray(v) for k, v in done[name].items()}, str(path))
    out = {}
    for name, tensors in done.items():
        tok = tok_b if name == "student" else tok_a
        out[name] = LocalModel(LlamaLM(tensors, _shape(len(tok)).spec(), 512), tok, name)
    return out


_WRAPPERS_MARK = "# --- wrappers ---"
# --- wrappers ---------------------------------------------------------------------------------------

SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly.\n\n"
FORCED_TEMPERATURE = 0.7


def proxy_app(upstream: str, mode: str) -> FastAPI:
    """An OpenAI-compatible proxy in front of ``upstream`` (``http://host:port/v1``) that changes requests
    or responses the way resellers do:

    - ``system-prompt``: every prompt gets :data:`SYSTEM_PROMPT` in front;
    - ``temperature``: every request is sampled at :data:`FORCED_TEMPERATURE`, whatever it asked;
    - ``strip-logprobs``: answers come back without logprobs;
    - ``usage-rewrite``: ``usage.prompt_tokens`` is replaced by an estimate (characters / 4, rounded up);
    - ``drop-usage``: answers come back without ``usage``.
    """
    if mode not in {"system-prompt", "temperature", "strip-logprobs", "usage-rewrite", "drop-usage"}:
        raise ValueError(f"unknown proxy mode {mode!r}")
    app = FastAPI()
    # One pooled client for the proxy's life: a fresh connection per request made the wrapped cases
    # several times slower than the model itself. Handlers are sync (FastAPI runs them in a thread pool).
    client = httpx.Client(base_url=upstream.rstrip("/") + "/", timeout=60)

    @app.post("/v1/completions", response_model=None)
    def completions(body: dict[str, Any]) -> Response:
        if mode == "system-prompt":
            body["prompt"] = SYSTEM_PROMPT + str(body.get("prompt", ""))
        elif mode == "temperature":
            body["temperature"] = FORCED_TEMPERATURE
        upstream_resp = client.post("completions", json=body)
        if upstream_resp.status_code != 200:
            return Response(upstream_resp.content, upstream_resp.status_code)
        data = upstream_resp.json()
        if mode == "strip-logprobs":
            for choice in data["choices"]:
                choice["logprobs"] = None
        elif mode == "usage-rewrite":
            usage = data.get("usage") or {}
            usage["prompt_tokens"] = math.ceil(len(str(body.get("prompt", ""))) / 4)
            data["usage"] = usage
        elif mode == "drop-usage":
            data.pop("usage", None)
        return JSONResponse(data)

    return app


#: The probe budget the toy zoo is tested and evaluated with: a tiny model answers it in about a second.
PROBE_CONFIG = ProbeConfig(
    budget=600,
    lineage_batch=25,
    lineage_max_prompts=50,
    lineage_tokens=8,
    agreement_prompts=80,
    agreement_tokens=16,
    identity_prompts=("Once upon a time", "The best way to", "In the year", "The object", "def f(x):"),
    identity_samples=8,
    identity_tokens=12,
    permutations=400,
    slope_units=(" the", "東京", " internationalization", "8675309"),
)
