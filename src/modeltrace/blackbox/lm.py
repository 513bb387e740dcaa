"""A small numpy llama-family decoder with a KV cache, for serving local checkpoints over HTTP.

It reads the canonical tensors of :mod:`modeltrace.weights` (Q/K in Hugging Face's rotate-half layout,
norm gains as multipliers) and matches :func:`modeltrace.lineage.forward.llama_forward`; sampling is
deterministic for a given seed (numpy ``default_rng``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from modeltrace.lineage.forward import ForwardSpec, layer_indices

__all__ = ["Generation", "KVCache", "LlamaLM", "log_softmax"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass
class KVCache:
    """Per-layer keys/values ``[n_kv, T, head_dim]`` of the tokens seen so far."""

    keys: list[F32] = field(default_factory=list)
    values: list[F32] = field(default_factory=list)
    length: int = 0

    def copy(self) -> KVCache:
        return KVCache(list(self.keys), list(self.values), self.length)


@dataclass
class Generation:
    """One sampled continuation."""

    ids: list[int]
    logprobs: list[float]  #: log p(chosen token) under the model (temperature 1)
    top: list[list[tuple[int, float]]]  #: top-k (id, logprob) per position, when asked
    finish_reason: str


def log_softmax(logits: npt.NDArray[Any]) -> F64:
    x = np.asarray(logits, np.float64)
    x = x - x.max()
    out: F64 = x - np.log(np.exp(x).sum())
    return out


def _rms(x: F32, gain: F32, eps: float) -> F32:
    out: F32 = (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * gain).astype(np.float32)
    return out


class LlamaLM:
    """Llama-family causal LM over canonical float32 tensors."""

    def __init__(self, tensors: Mapping[str, npt.NDArray[Any]], spec: ForwardSpec, max_positions: int = 4096):
        self.t = {k: np.ascontiguousarray(v, np.float32) for k, v in tensors.items()}
        self.spec = spec
        self.layers = layer_indices(self.t)
        self.head = self.t["lm_head.weight"] if "lm_head.weight" in self.t else self.t["embed.tokens.weight"]
        self.vocab_size = int(self.head.shape[0])
        self.max_positions = max_positions
        hd = spec.head_dim
        inv = 1.0 / (spec.rope_base ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
        ang = np.outer(np.arange(max_positions, dtype=np.float64), inv)
        ang = np.concatenate([ang, ang], axis=-1)
        self._cos: F32 = np.cos(ang).astype(np.float32)
        self._sin: F32 = np.sin(ang).astype(np.float32)

    def _rope(self, x: F32, start: int) -> F32:
        n = x.shape[-2]
        cos, sin = self._cos[start : start + n], self._sin[start : start + n]
        half = x.shape[-1] // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        out = x * cos + rot * sin
        return out.astype(np.float32, copy=False)

    def forward(self, ids: Sequence[int], cache: KVCache) -> F32:
        """Logits of the last of ``ids`` (appended to ``cache``, which is updated in place)."""
        if not ids:
            raise ValueError("no tokens to run")
        logits: F32 = self.forward_batch(np.asarray([ids]), cache)[0]
        return logits

    def forward_batch(self, ids: npt.NDArray[np.int64], cache: KVCache) -> F32:
        """Last-position logits ``[B, vocab]`` for ``ids`` ``[B, n]``; the cache holds ``[B, n_kv, T, hd]``.

        Every row has the same length: rows are independent sequences sharing positions.
        """
        batch, n = ids.shape
        start = cache.length
        if start + n > self.max_positions:
            raise ValueError(f"context of {start + n} tokens exceeds {self.max_positions}")
        s, t = self.spec, self.t
        x = t["embed.tokens.weight"][ids]  # [B, n, H]
        group = s.n_heads // s.n_kv_heads
        mask = np.triu(np.full((n, start + n), -np.inf, np.float32), k=start + 1)

        def lin(v: F32, name: str) -> F32:
            w = t[name + ".weight"]  # one 2-D GEMM over all rows: reads each weight once per step
            out: F32 = (v.reshape(-1, v.shape[-1]) @ w.T).reshape(*v.shape[:-1], w.shape[0])
            if name + ".bias" in t:
                out = out + t[name + ".bias"]
            return out

        def heads(v: F32, count: int) -> F32:
            out: F32 = v.reshape(batch, n, count, s.head_dim).transpose(0, 2, 1, 3)
            return out

        for li, layer in enumerate(self.layers):
            p = f"layers.{layer}."
            h = _rms(x, t[p + "attn_norm.weight"], s.norm_eps)
            q = self._rope(heads(lin(h, p + "attn.q"), s.n_heads), start)
            k = self._rope(heads(lin(h, p + "attn.k"), s.n_kv_heads), start)
            v = heads(lin(h, p + "attn.v"), s.n_kv_heads)
            if li < len(cache.keys):
                k = np.concatenate([cache.keys[li], k], axis=2)
                v = np.concatenate([cache.values[li], v], axis=2)
                cache.keys[li], cache.values[li] = k, v
            else:
                cache.keys.append(k)
                cache.values.append(v)
            kk, vv = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
            scores = q @ kk.transpose(0, 1, 3, 2) / np.float32(np.sqrt(s.head_dim)) + mask
            scores = scores - scores.max(-1, keepdims=True)
            w = np.exp(scores)
            w /= w.sum(-1, keepdims=True)
            att = (w @ vv).transpose(0, 2, 1, 3).reshape(batch, n, -1)
            x = x + lin(att, p + "attn.o")
            h = _rms(x, t[p + "mlp_norm.weight"], s.norm_eps)
            g = lin(h, p + "mlp.gate")
            act = (g / (np.float32(1.0) + np.exp(-g))) * lin(h, p + "mlp.up")
            x = x + lin(act.astype(np.float32, copy=False), p + "mlp.down")
        cache.length = start + n
        last = _rms(x[:, -1], t["final_norm.weight"], s.norm_eps)
        logits: F32 = last @ self.head.T
        return logits

    def sample_many(
        self,
        prompt: Sequence[int],
        count: int,
        max_tokens: int,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        rng: np.random.Generator | None = None,
        stop_ids: Sequence[int] = (),
        top_logprobs: int = 0,
    ) -> list[Generation]:
        """``count`` samples after ``prompt``, decoded together as one batch (one prompt pass)."""
        if max_tokens <= 0 or count <= 0:
            return [Generation([], [], [], "length") for _ in range(count)]
        rng = rng if rng is not None else np.random.default_rng()
        cache = KVCache()
        logits = np.repeat(self.forward(prompt, cache)[None, :], count, axis=0)
        cache.keys = [np.repeat(k, count, axis=0) for k in cache.keys]
        cache.values = [np.repeat(v, count, axis=0) for v in cache.values]
        gens = [Generation([], [], [], "length") for _ in range(count)]
        alive = [True] * count
        for step in range(max_tokens):
            toks = np.zeros(count, np.int64)
            for b in range(count):
                if not alive[b]:
                    continue
                tok, lp, top = self._pick(logits[b], temperature, top_p, rng, top_logprobs)
                toks[b] = tok
                gens[b].ids.append(tok)
                gens[b].logprobs.append(lp)
                if top_logprobs > 0:
                    gens[b].top.append(top)
                if tok in stop_ids:
                    alive[b] = False
                    gens[b].finish_reason = "stop"
            if not any(alive) or step + 1 >= max_tokens or cache.length + 1 >= self.max_positions:
                break
            logits = self.forward_batch(toks[:, None], cache)
        return gens

    @staticmethod
    def _pick(
        logits: F32, temperature: float, top_p: float, rng: np.random.Generator, top_logprobs: int
    ) -> tuple[int, float, list[tuple[int, float]]]:
        lp = log_softmax(logits)
        if temperature <= 0:
            tok = int(np.argmax(lp))
        else:
            z = lp / temperature
            probs = np.exp(z - z.max())
            probs /= probs.sum()
            if top_p < 1.0:
                order = np.argsort(-probs, kind="stable")
                cum = np.cumsum(probs[order])
                keep = order[: int(np.searchsorted(cum, top_p) + 1)]
                masked = np.zeros_like(probs)
                masked[keep] = probs[keep]
                probs = masked / masked.sum()
            tok = int(rng.choice(len(probs), p=probs))
        top: list[tuple[int, float]] = []
        if top_logprobs > 0:
            best = np.argsort(-lp, kind="stable")[:top_logprobs]
            top = [(int(i), float(lp[i])) for i in best]
        return tok, float(lp[tok]), top

    def generate(
        self,
        prompt: Sequence[int],
        max_tokens: int,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        rng: np.random.Generator | None = None,
        stop_ids: Sequence[int] = (),
        top_logprobs: int = 0,
    ) -> Generation:
        """One continuation of up to ``max_tokens`` (greedy when ``temperature`` is 0)."""
        return self.sample_many(
            prompt,
            1,
            max_tokens,
            temperature=temperature,
            top_p=top_p,
            rng=rng,
            stop_ids=stop_ids,
            top_logprobs=top_logprobs,
        )[0]
