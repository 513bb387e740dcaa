"""``compare``: was B's weights derived from A's? Streams both models one layer at a time.

Each model is read once (plus its embedding table once), one layer in memory at a time. Order of
work, cheapest evidence first:

1. **Residual alignment** (:mod:`.align`): Procrustes on centred shared-token embeddings, held out;
   the same read says whether every shared token's embedding row is bit-identical.
2. **Layer pass**, one layer of one model at a time: every canonical tensor is fingerprinted as
   float32 after canonical layout; norm gains are folded where that preserves the function; the
   attention is sketched (:mod:`.attention`) and the MLP neurons' rows are kept in A's basis
   (sketched for wide models, :mod:`.neurons`).
3. **Verbatim reuse**: names whose fingerprints agree are compared exactly; equal ones are exact copies.
4. **Layer map** (:mod:`.layermap`) from the sketch grid.
5. **MLP neuron matching** (:mod:`.neurons`) along the map: the statistic that decides ``derived``.
6. **Verdict**: ``derived`` when the combined (ACAT) p-value of the neuron test or the embedding
   coordinate test is below ``ALPHA_DERIVED``; ``independent`` when the neuron test ran on the whole
   map and its p-value is above ``ALPHA_INDEPENDENT``; otherwise ``inconclusive`` with the reason.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from modeltrace.errors import ModelFileError
from modeltrace.lineage.align import (
    MIN_SHARED_TOKENS,
    ResidualAlignment,
    align_rows,
    rows_by_index,
    shared_rows,
)
from modeltrace.lineage.attention import attention_sketch, probes, sketch_similarity
from modeltrace.lineage.evidence import (
    DERIVED,
    INCONCLUSIVE,
    INDEPENDENT,
    LayerPair,
    LineageReport,
    TestResult,
)
from modeltrace.lineage.layermap import monotone_layer_map
from modeltrace.lineage.neurons import NeuronMatch, NeuronRows, match_rows, neuron_rows, sketch_basis
from modeltrace.lineage.pvalues import acat_log10
from modeltrace.weights.fold import fold_layer
from modeltrace.weights.model import Model, open_model
from modeltrace.weights.source import Float32Array
from modeltrace.weights.vocab import (
    Vocabulary,
    load_vocabulary,
    vocab_from_sentencepiece_model,
    vocab_from_tokenizer_json,
    vocab_from_vocab_txt,
)

ALPHA_DERIVED = 1e-6
ALPHA_INDEPENDENT = 0.05
_ATTENTION = ("attn.q.weight", "attn.k.weight", "attn.v.weight", "attn.o.weight")


def _fingerprint(array: Float32Array) -> str:
    """A cheap stand-in for a hash of the float32 values: shape, both ends and a strided sample.

    Equal arrays always get equal fingerprints; names whose fingerprints agree are then compared
    exactly (:func:`_confirmed_copies`), so hashing gigabytes is paid only when a copy is likely.
    """
    flat = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
    digest = hashlib.sha256(repr(array.shape).encode())
    for part in (flat[:4096], flat[-4096:], flat[:: max(1, flat.size // 65536)]):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def _other_names(model: Model) -> list[str]:
    """Canonical tensors outside the main layer stack (globals, encoder-decoder stacks)."""
    return [
        n
        for n, b in model.roles.bindings.items()
        if (b.layer is None or b.stack != "layers") and n != "embed.tokens.weight"
    ]


def _heads(model: Model, wq: Float32Array, wk: Float32Array) -> tuple[int, int] | None:
    heads, kv = model.config.n_heads, model.config.n_kv_heads or model.config.n_heads
    if not heads or not kv or wq.shape[0] % heads or wk.shape[0] % kv or heads % kv:
        return None
    if wq.shape[0] // heads != wk.shape[0] // kv:
        return None
    return heads, kv


class _LayerPass:
    """What one pass over a model's layers leaves behind: fingerprints, attention sketches, neurons."""

    def __init__(self) -> None:
        self.fingerprints: dict[str, str] = {}
        self.sketches: dict[int, Float32Array] = {}
        self.neurons: dict[int, NeuronRows] = {}


def _layer_pass(
    model: Model, z: Float32Array | None, into_a: Float32Array | None, sample_seed: int | None
) -> _LayerPass:
    """Read each layer once: fingerprint it, sketch its attention, keep its MLP neurons in A's basis.

    ``z`` are the attention probes in this model's basis (None: no alignment, fingerprints only);
    ``into_a`` maps rows of this model into A's (sketched) basis (see :func:`.neurons.neuron_rows`);
    ``sample_seed`` is set for A, whose neurons may be sampled.
    """
    result = _LayerPass()
    for name in _other_names(model):
        result.fingerprints[name] = _fingerprint(model.tensor(name))
    for layer, raw in _read_ahead(model):
        for name, array in raw.items():
            result.fingerprints[name] = _fingerprint(array)
        if z is None:
            continue
        folded = fold_layer(model, layer, tensors=raw).tensors
        del raw
        names = [f"layers.{layer}.{role}" for role in _ATTENTION]
        if all(n in folded for n in names):
            wq, wk, wv, wo = (folded[n] for n in names)
            heads = _heads(model, wq, wk)
            if heads is not None and wq.shape[1] == z.shape[1]:
                result.sketches[layer] = attention_sketch(z, wq, wk, wv, wo, *heads)
        views = _mlp_views(folded, layer)
        if views is not None:
            sample = None if sample_seed is None else np.random.default_rng([sample_seed, 13, layer])
            result.neurons[layer] = neuron_rows(*views[:2], gated=views[2], into_a=into_a, sample=sample)
    return result


def _read_ahead(model: Model) -> Iterator[tuple[int, dict[str, Float32Array]]]:
    """Each layer's canonical tensors; a worker thread reads the next layer while this one is used.

    Reading mostly releases the GIL (direct I/O, numpy conversion), so the device works while the
    caller's matrix products run. The worker is the model's only reader until the iteration ends.
    """
    layers = model.layers()

    def read(layer: int) -> dict[str, Float32Array]:
        return {name: model.tensor(name) for name in model.layer_roles(layer)}

    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(read, layers[0]) if layers else None
        for index, layer in enumerate(layers):
            assert pending is not None
            raw = pending.result()
            pending = pool.submit(read, layers[index + 1]) if index + 1 < len(layers) else None
            yield layer, raw
    model.release()


def _mlp_views(folded: dict[str, Float32Array], layer: int) -> tuple[Float32Array, Float32Array, bool] | None:
    """Two matrices whose rows are the layer's neurons: (gate, up) if gated, else (up, downᵀ)."""
    prefix = f"layers.{layer}."
    if prefix + "mlp.up.weight" not in folded:
        return None
    up = folded[prefix + "mlp.up.weight"]
    if prefix + "mlp.gate.weight" in folded:
        return folded[prefix + "mlp.gate.weight"], up, True
    if prefix + "mlp.down.weight" in folded:
        # Output-side columns: y_A = q·y_B maps rows of downᵀ into A's basis by ·qᵀ, like input rows.
        return up, folded[prefix + "mlp.down.weight"].T, False
    return None


def _neuron_test(a_pass: _LayerPass, b_pass: _LayerPass, layer_a: int, layer_b: int) -> NeuronMatch | None:
    rows_a, rows_b = a_pass.neurons.get(layer_a), b_pass.neurons.get(layer_b)
    if rows_a is None or rows_b is None or rows_a.gated != rows_b.gated:
        return None
    if rows_a.first.shape[1] != rows_b.first.shape[1]:
        return None
    return match_rows(rows_a, rows_b)


def _confirmed_copies(a_pass: _LayerPass, b_pass: _LayerPass, a: Model, b: Model) -> list[str]:
    """Names whose float32 values are identical in both models (fingerprint first, then exactly)."""
    candidates = sorted(
        name
        for name, fingerprint in a_pass.fingerprints.items()
        if b_pass.fingerprints.get(name) == fingerprint and a.shape(name) == b.shape(name)
    )
    return [name for name in candidates if np.array_equal(a.tensor(name), b.tensor(name))]


def _all_layers_copied(copies: list[str], a_pass: _LayerPass, b_pass: _LayerPass) -> bool:
    def per_layer(names: Iterable[str]) -> set[str]:
        return {n for n in names if ".layers." in f".{n}"}

    layers_a, layers_b = per_layer(a_pass.fingerprints), per_layer(b_pass.fingerprints)
    return bool(layers_a) and layers_a == layers_b == per_layer(copies)


def _blas_threads() -> int:
    """BLAS threads for compare: every usable core but one, which the read-ahead thread needs.

    OpenBLAS threads busy-wait for each other; when one of them shares a core with the reader (or
    anything else), every matrix product waits. Measured on 2 cores: 17 s with one BLAS thread
    against 33 s with two for the Llama-3.2-1B-shaped pair of benchmarks/compare_bench.py, with one
    other job running on the machine.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)


def compare_models(a: Model, b: Model, seed: int = 0) -> LineageReport:
    """Compare two opened models; see the module docstring for the method."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=_blas_threads(), user_api="blas"):
        return _compare_models(a, b, seed)


def _compare_models(a: Model, b: Model, seed: int) -> LineageReport:
    started = time.perf_counter()
    report = LineageReport(str(a.path), str(b.path), INCONCLUSIVE, "", 0.0)
    if not (a.has("embed.tokens.weight") and b.has("embed.tokens.weight")):
        report.reason = "architectures not comparable: both models need a token embedding"
        return _finish(report, started)
    if rows_by_index(a, b):
        report.notes.append("a tokenizer is missing: embedding rows were matched by index (equal row counts)")
    rows = shared_rows(a, b, seed)
    alignment = align_rows(rows, seed)
    embeddings_identical, shared = rows.identical, rows.shared
    del rows
    report.alignment = alignment.summary if alignment else None
    if alignment is None:
        a_pass, b_pass = _layer_pass(a, None, None, None), _layer_pass(b, None, None, None)
    else:
        z_a = probes(alignment.summary.width_a, seed)
        basis = sketch_basis(alignment.summary.width_a, seed)
        q_t = alignment.q.T
        a_pass = _layer_pass(a, z_a, basis, seed)
        b_pass = _layer_pass(b, z_a @ alignment.q, q_t if basis is None else q_t @ basis, None)
    report.exact_copies = _confirmed_copies(a_pass, b_pass, a, b)
    if "embed.tokens.weight" not in report.exact_copies and embeddings_identical:
        report.exact_copies.insert(0, "embed.tokens.weight (rows of every shared token)")
    if _all_layers_copied(report.exact_copies, a_pass, b_pass):
        report.verdict, report.log10_p = DERIVED, -math.inf
        report.reason = "every layer tensor is an exact copy after dequantisation and canonical layout"
        report.shared_parts = ["all layers (verbatim)"]
        if any(n.startswith("embed.tokens") for n in report.exact_copies):
            report.shared_parts.append("embeddings")
        report.layer_map = {layer: layer for layer in b.layers()}
        return _finish(report, started)
    if not a.layers() or not b.layers():
        report.reason = "architectures not comparable: no decoder- or encoder-only layer stack to match"
        return _finish(report, started)
    if alignment is None:
        report.reason = (
            f"fewer than {MIN_SHARED_TOKENS} tokens shared by string between the vocabularies "
            f"({shared}): the residual streams cannot be aligned"
        )
        return _finish(report, started)
    _statistical_evidence(report, a, b, alignment, a_pass, b_pass)
    return _finish(report, started)


def _statistical_evidence(
    report: LineageReport,
    a: Model,
    b: Model,
    alignment: ResidualAlignment,
    a_pass: _LayerPass,
    b_pass: _LayerPass,
) -> None:
    layers_a, layers_b = sorted(a_pass.sketches), sorted(b_pass.sketches)
    if layers_a and layers_b:
        grid = sketch_similarity(
            [a_pass.sketches[i] for i in layers_a], [b_pass.sketches[j] for j in layers_b]
        )
        report.attention_grid = grid.round(4).tolist()
        mapping = monotone_layer_map(grid)
        report.layer_map = {layers_b[j]: layers_a[i] for j, i in mapping.items()}
    else:
        grid = np.zeros((0, 0), np.float32)
        depth = min(len(a.layers()), len(b.layers()))
        report.layer_map = (
            {
                b.layers()[j]: a.layers()[round(j * len(a.layers()) / len(b.layers()))]
                for j in range(len(b.layers()))
            }
            if depth
            else {}
        )
        report.notes.append("attention sketches unavailable (head layout unknown): layers mapped by depth")
    matches: list[NeuronMatch] = []
    for layer_b, layer_a in report.layer_map.items():
        match = _neuron_test(a_pass, b_pass, layer_a, layer_b)
        pair = LayerPair(layer_a=layer_a, layer_b=layer_b)
        if grid.size:
            pair.attention_similarity = float(grid[layers_a.index(layer_a), layers_b.index(layer_b)])
        if match is not None:
            matches.append(match)
            pair.mlp_agreement, pair.mlp_log10_p, pair.neurons = match.agreement, match.log10_p, match.neurons
        report.layers.append(pair)
    tests: list[TestResult] = []
    if matches:
        tests.append(
            TestResult(
                name="MLP neuron matching agreement (S3), ACAT over mapped layers",
                null="hidden units of B are exchangeable with A's: two matchings agree only by chance",
                statistic=float(np.mean([m.agreement for m in matches])),
                log10_p=acat_log10([m.log10_p for m in matches]),
                effect=float(max(m.agreement / m.null_rate for m in matches)),
                diagnostics={
                    "layers": len(matches),
                    "null_rate": matches[0].null_rate,
                    "min_agreement": float(min(m.agreement for m in matches)),
                    "max_agreement": float(max(m.agreement for m in matches)),
                },
            )
        )
    if alignment.identity_test is not None:
        tests.append(alignment.identity_test)
    if grid.size:
        along = [p.attention_similarity for p in report.layers if p.attention_similarity is not None]
        tests.append(
            TestResult(
                name="attention bilinear invariants along the layer map (S1, descriptive)",
                null="none: independent models trained on similar data correlate here too (no p-value)",
                statistic=float(np.mean(along)) if along else 0.0,
                log10_p=0.0,
                effect=float(np.mean(along)) if along else 0.0,
                diagnostics={"grid_max": float(grid.max()), "grid_mean": float(grid.mean())},
            )
        )
    report.tests = tests
    _decide(report, matches, alignment)


def _decide(report: LineageReport, matches: list[NeuronMatch], alignment: ResidualAlignment) -> None:
    mlp = next((t for t in report.tests if t.name.startswith("MLP")), None)
    e0 = alignment.identity_test
    deciding = [t.log10_p for t in (mlp, e0) if t is not None]
    report.log10_p = min(deciding) if deciding else 0.0
    threshold = math.log10(ALPHA_DERIVED)
    mlp_shared = mlp is not None and mlp.log10_p < threshold
    embed_shared = (e0 is not None and e0.log10_p < threshold) or any(
        n.startswith("embed.tokens") for n in report.exact_copies
    )
    if mlp_shared:
        report.verdict = DERIVED
        report.shared_parts = ["MLP"]
        along = [p.attention_similarity for p in report.layers if p.attention_similarity is not None]
        if along and float(np.median(along)) > 0.5:
            report.shared_parts.append("attention")
        if embed_shared:
            report.shared_parts.append("embeddings")
        report.reason = "MLP neurons of B match A's in both of their weight matrices far beyond chance"
    elif embed_shared:
        report.verdict = DERIVED
        report.shared_parts = ["embeddings only"]
        report.reason = "B's token embeddings share A's coordinates; no MLP evidence of shared layers"
    elif (
        mlp is not None
        and mlp.log10_p > math.log10(ALPHA_INDEPENDENT)
        and len(matches) == len(report.layer_map)
    ):
        report.verdict = INDEPENDENT
        report.reason = (
            f"MLP neuron agreement {mlp.statistic:.3f} is at the level of independent models "
            f"({len(matches)} layer pairs, {alignment.summary.shared_tokens} shared tokens)"
        )
    elif mlp is None:
        report.reason = "no comparable MLP layers (different MLP kinds or none found)"
    else:
        report.reason = f"the evidence is between thresholds (p = 10^{mlp.log10_p:.2f})"


def _finish(report: LineageReport, started: float) -> LineageReport:
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def compare(
    protected: str | Path,
    suspect: str | Path,
    seed: int = 0,
    tokenizer_a: str | Path | None = None,
    tokenizer_b: str | Path | None = None,
) -> LineageReport:
    """Open both checkpoints and compare them (see :func:`compare_models`).

    ``tokenizer_a``/``tokenizer_b`` name a folder or tokenizer file to use when a checkpoint ships
    without its vocabulary.
    """
    with ExitStack() as stack:
        a = stack.enter_context(open_model(protected))
        b = stack.enter_context(open_model(suspect))
        for model, tokenizer in ((a, tokenizer_a), (b, tokenizer_b)):
            if tokenizer is not None:
                model.use_vocabulary(load_tokenizer(Path(tokenizer)))
        return compare_models(a, b, seed)


def load_tokenizer(path: Path) -> Vocabulary:
    """A vocabulary from a model folder or a tokenizer file (tokenizer.json, .model, vocab.txt)."""
    folder = path if path.is_dir() else path.parent
    if path.is_file():
        loaders = {
            ".json": vocab_from_tokenizer_json,
            ".model": vocab_from_sentencepiece_model,
            ".txt": vocab_from_vocab_txt,
        }
        loader = loaders.get(path.suffix)
        if loader is None:
            raise ModelFileError(path, "not a tokenizer file (tokenizer.json, tokenizer.model or vocab.txt)")
        return loader(path)
    vocabulary = load_vocabulary(folder)
    if vocabulary is None:
        raise ModelFileError(path, "no tokenizer found (tokenizer.json, tokenizer.model, vocab.txt)")
    return vocabulary
