"""``compare``: was B's weights derived from A's? Streams both models one layer at a time.

Order of work, cheapest evidence first:

1. **Verbatim reuse**: every canonical tensor is hashed as float32 after canonical layout; names that
   hash equal in both models are exact copies (embedding rows are compared per shared token, so a
   vocabulary-pruned copy still shows its embeddings as copied).
2. **Residual alignment** (:mod:`.align`): Procrustes on centred shared-token embeddings, held out.
3. **Layer pass**, one layer of one model at a time: norm gains folded where that preserves the
   function, attention sketches (:mod:`.attention`) in A's basis.
4. **Layer map** (:mod:`.layermap`) from the sketch grid.
5. **MLP neuron matching** (:mod:`.neurons`) along the map: the statistic that decides ``derived``.
6. **Verdict**: ``derived`` when the combined (ACAT) p-value of the neuron test or the embedding
   coordinate test is below ``ALPHA_DERIVED``; ``independent`` when the neuron test ran on the whole
   map and its p-value is above ``ALPHA_INDEPENDENT``; otherwise ``inconclusive`` with the reason.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from modeltrace.errors import ModelFileError
from modeltrace.lineage.align import ResidualAlignment, align, rows_by_index, shared_token_ids
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
from modeltrace.lineage.neurons import NeuronMatch, match_neurons
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


def _digest(array: Float32Array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


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
    """What one pass over a model's layers leaves behind: hashes and attention sketches."""

    def __init__(self) -> None:
        self.hashes: dict[str, str] = {}
        self.sketches: dict[int, Float32Array] = {}


def _layer_pass(model: Model, z: Float32Array | None) -> _LayerPass:
    result = _LayerPass()
    for name in _other_names(model):
        result.hashes[name] = _digest(model.tensor(name))
    for layer in model.layers():
        raw = {name: model.tensor(name) for name in model.layer_roles(layer)}
        for name, array in raw.items():
            result.hashes[name] = _digest(array)
        if z is None:
            continue
        folded = fold_layer(model, layer, tensors=raw).tensors
        names = [f"layers.{layer}.{role}" for role in _ATTENTION]
        if all(n in folded for n in names):
            wq, wk, wv, wo = (folded[n] for n in names)
            heads = _heads(model, wq, wk)
            if heads is not None and wq.shape[1] == z.shape[1]:
                result.sketches[layer] = attention_sketch(z, wq, wk, wv, wo, *heads)
    return result


def _mlp_views(model: Model, layer: int) -> tuple[Float32Array, Float32Array, bool] | None:
    """Two matrices whose rows are the layer's neurons: (gate, up) if gated, else (up, downᵀ)."""
    prefix = f"layers.{layer}."
    if not model.has(prefix + "mlp.up.weight"):
        return None
    folded = fold_layer(model, layer).tensors
    up = folded[prefix + "mlp.up.weight"]
    if prefix + "mlp.gate.weight" in folded:
        return folded[prefix + "mlp.gate.weight"], up, True
    if prefix + "mlp.down.weight" in folded:
        return up, folded[prefix + "mlp.down.weight"].T, False
    return None


def _neuron_test(a: Model, b: Model, layer_a: int, layer_b: int, q: Float32Array) -> NeuronMatch | None:
    views_a, views_b = _mlp_views(a, layer_a), _mlp_views(b, layer_b)
    if views_a is None or views_b is None or views_a[2] != views_b[2]:
        return None
    first_a, second_a, gated = views_a
    first_b, second_b, _ = views_b
    # B's input-side rows live in B's basis: x_B = x_A·q, so a row w_B reads x_A through w_B·qᵀ.
    # Output-side columns map back the same way (y_A = q·y_B), which for rows of downᵀ is also ·qᵀ.
    return match_neurons(first_a, first_b @ q.T, second_a, second_b @ q.T, gated=gated)


def _exact_copies(a_pass: _LayerPass, b_pass: _LayerPass, a: Model, b: Model) -> list[str]:
    return sorted(
        name
        for name, digest in a_pass.hashes.items()
        if b_pass.hashes.get(name) == digest and a.shape(name) == b.shape(name)
    )


def _all_layers_copied(copies: list[str], a_pass: _LayerPass, b_pass: _LayerPass) -> bool:
    def per_layer(names: Iterable[str]) -> set[str]:
        return {n for n in names if ".layers." in f".{n}"}

    layers_a, layers_b = per_layer(a_pass.hashes), per_layer(b_pass.hashes)
    return bool(layers_a) and layers_a == layers_b == per_layer(copies)


def _embedding_rows_identical(a: Model, b: Model) -> bool:
    ids_a, ids_b = shared_token_ids(a, b)
    if len(ids_a) == 0 or a.shape("embed.tokens.weight")[1] != b.shape("embed.tokens.weight")[1]:
        return False
    return bool(
        np.array_equal(a.tensor("embed.tokens.weight")[ids_a], b.tensor("embed.tokens.weight")[ids_b])
    )


def compare_models(a: Model, b: Model, seed: int = 0) -> LineageReport:
    """Compare two opened models; see the module docstring for the method."""
    started = time.perf_counter()
    report = LineageReport(str(a.path), str(b.path), INCONCLUSIVE, "", 0.0)
    if not (a.has("embed.tokens.weight") and b.has("embed.tokens.weight")):
        report.reason = "architectures not comparable: both models need a token embedding"
        return _finish(report, started)
    if rows_by_index(a, b):
        report.notes.append("a tokenizer is missing: embedding rows were matched by index (equal row counts)")
    alignment = align(a, b, seed)
    report.alignment = alignment.summary if alignment else None
    z_a = probes(a.config.hidden or a.shape("embed.tokens.weight")[1], seed) if alignment else None
    a_pass = _layer_pass(a, z_a)
    b_pass = _layer_pass(b, z_a @ alignment.q if alignment and z_a is not None else None)
    report.exact_copies = _exact_copies(a_pass, b_pass, a, b)
    if "embed.tokens.weight" not in report.exact_copies and _embedding_rows_identical(a, b):
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
            f"fewer than 1000 tokens shared by string between the vocabularies "
            f"({len(shared_token_ids(a, b)[0])}): the residual streams cannot be aligned"
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
        match = _neuron_test(a, b, layer_a, layer_b, alignment.q)
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
