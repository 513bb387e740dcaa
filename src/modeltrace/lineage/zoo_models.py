"""Models the evaluation harness makes itself: a tokenizer, offline text, small llamas and their training.

The harness needs things no package ships: the SmolLM2 tokenizer as code (to check the forward pass
on real text and to tokenise training text), text that is on every machine without a download
(Python's own standard library: its docstrings are English prose, its source is code), and small
llama models trained from different seeds on the same text with the same tokenizer — the
independent pairs that converge the most, which a lineage test must still call independent.

The tokenizer is a plain byte-level BPE over the vocabulary and merges stored in SmolLM2's GGUF
(no ``tokenizers`` dependency). Its pre-tokenizer follows llama.cpp's ``smollm`` rule (every digit
alone, then GPT-2's split), with Python's ``re`` classes standing in for ``\\p{L}``/``\\p{N}``: exact
for ASCII text, close elsewhere. Training uses :func:`.forward.llama_forward` with AdamW, on one CPU
thread by default: these are small, bounded jobs on a shared machine.
"""

from __future__ import annotations

import ast
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modeltrace.lineage.forward import LLAMA, ForwardSpec, Tensors, llama_forward
from modeltrace.weights.bpe import ByteLevelBPE
from modeltrace.weights.model import Model

# ---------------------------------------------------------------------------------------------------
# Byte-level BPE (GPT-2 family, as SmolLM2 uses it)
# ---------------------------------------------------------------------------------------------------


def gguf_tokenizer(model: Model) -> ByteLevelBPE:
    """The byte-level BPE tokenizer stored in a GGUF's metadata (SmolLM2's, for the harness)."""
    return ByteLevelBPE.from_gguf_metadata(model.source.facts.metadata)


# ---------------------------------------------------------------------------------------------------
# Offline text: the standard library of the running Python
# ---------------------------------------------------------------------------------------------------

_SKIP_DIRS = frozenset(
    {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "turtledemo"}
)


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(
        p for p in root.rglob("*.py") if not _SKIP_DIRS.intersection(p.relative_to(root).parts[:-1])
    )


def stdlib_docstrings(max_chars: int = 4_000_000) -> str:
    """Docstrings of the standard library (modules, classes, functions), in file order: English prose."""
    chunks: list[str] = []
    total = 0
    for path in _stdlib_files():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 40:
                    chunks.append(doc)
                    total += len(doc) + 2
        if total >= max_chars:
            break
    return "\n\n".join(chunks)[:max_chars]


def stdlib_source(max_chars: int = 2_000_000, start: int = 0) -> str:
    """Source text of standard-library modules (code), from the ``start``-th file on."""
    out: list[str] = []
    total = 0
    for path in _stdlib_files()[start:]:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, ValueError):
            continue
        out.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return "\n".join(out)[:max_chars]


# ---------------------------------------------------------------------------------------------------
# Small llamas: initialisation and training
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LlamaShape:
    """The shape of a llama-family model (tied embeddings unless ``tied`` is False)."""

    vocab: int
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    head_dim: int = 32
    mlp: int = 384
    tied: bool = True
    rope_base: float = 10000.0

    def spec(self) -> ForwardSpec:
        return ForwardSpec(LLAMA, self.heads, self.kv_heads, self.head_dim, rope_base=self.rope_base)

    def config_json(self) -> dict[str, Any]:
        """Hugging Face ``config.json`` fields for this shape."""
        return {
            "model_type": "llama",
            "architectures": ["LlamaForCausalLM"],
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "intermediate_size": self.mlp,
            "vocab_size": self.vocab,
            "rope_theta": self.rope_base,
            "rms_norm_eps": 1e-5,
            "tie_word_embeddings": self.tied,
            "hidden_act": "silu",
            "max_position_embeddings": 2048,
        }


def init_llama(shape: LlamaShape, seed: int, std: float = 0.02) -> Tensors:
    """A fresh llama initialisation as ``transformers`` does it: N(0, std) weights, unit norm gains."""
    rng = np.random.default_rng(seed)

    def normal(*dims: int) -> np.ndarray:
        return (rng.standard_normal(dims) * std).astype(np.float32)

    d, q, kv = shape.hidden, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    t: Tensors = {"embed.tokens.weight": normal(shape.vocab, d), "final_norm.weight": np.ones(d, np.float32)}
    if not shape.tied:
        t["lm_head.weight"] = normal(shape.vocab, d)
    for i in range(shape.layers):
        p = f"layers.{i}."
        t[p + "attn_norm.weight"] = np.ones(d, np.float32)
        t[p + "mlp_norm.weight"] = np.ones(d, np.float32)
        t[p + "attn.q.weight"] = normal(q, d)
        t[p + "attn.k.weight"] = normal(kv, d)
        t[p + "attn.v.weight"] = normal(kv, d)
        t[p + "attn.o.weight"] = normal(d, q)
        t[p + "mlp.gate.weight"] = normal(shape.mlp, d)
        t[p + "mlp.up.weight"] = normal(shape.mlp, d)
        t[p + "mlp.down.weight"] = normal(d, shape.mlp)
    return t


def batches(tokens: np.ndarray, batch: int, length: int, seed: int) -> Iterator[np.ndarray]:
    """Endless random windows ``[batch, length + 1]`` of a token stream (inputs plus next tokens)."""
    rng = np.random.default_rng(seed)
    starts_max = len(tokens) - length - 1
    while True:
        starts = rng.integers(0, starts_max, size=batch)
        yield np.stack([tokens[s : s + length + 1] for s in starts])


@dataclass
class TrainLog:
    steps: int
    first_loss: float
    last_loss: float
    seconds: float


def train_llama(
    tensors: Tensors,
    spec: ForwardSpec,
    data: Iterator[np.ndarray],
    steps: int,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    warmup: int = 20,
    trainable: Callable[[str], bool] = lambda name: True,
    threads: int = 1,
) -> tuple[Tensors, TrainLog]:
    """AdamW on next-token cross-entropy; returns new tensors (the input dict is not modified).

    Tensors for which ``trainable(name)`` is False stay exactly as given (frozen): the embedding
    transplant keeps the donor's embeddings that way.
    """
    import time

    import torch

    torch.set_num_threads(threads)
    params = {n: torch.tensor(v, dtype=torch.float32, requires_grad=trainable(n)) for n, v in tensors.items()}
    # Norm gains and biases are not decayed, as in common llama training recipes.
    decayed = [p for n, p in params.items() if p.requires_grad and p.ndim == 2]
    plain = [p for n, p in params.items() if p.requires_grad and p.ndim != 2]
    optimiser = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.95),
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * step / steps))
    )
    started = time.perf_counter()
    losses: list[float] = []
    for _ in range(steps):
        window = torch.as_tensor(next(data), dtype=torch.int64)
        logits = llama_forward(params, spec, window[:, :-1])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1)
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_([p for p in params.values() if p.requires_grad], 1.0)
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    out = {n: p.detach().numpy().astype(np.float32, copy=True) for n, p in params.items()}
    head = float(np.mean(losses[:10])) if losses else float("nan")
    tail = float(np.mean(losses[-10:])) if losses else float("nan")
    return out, TrainLog(steps, head, tail, time.perf_counter() - started)


def next_token_accuracy(
    tensors: Tensors, spec: ForwardSpec, tokens: np.ndarray, length: int = 64, windows: int = 8
) -> tuple[float, float]:
    """Top-1 next-token accuracy and mean cross-entropy (nats) on ``windows`` consecutive windows."""
    import torch

    usable = min(windows, (len(tokens) - 1) // length)
    ids = np.stack([tokens[i * length : i * length + length + 1] for i in range(usable)])
    batch = torch.as_tensor(ids, dtype=torch.int64)
    with torch.no_grad():
        logits = llama_forward(tensors, spec, batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)
        )
        accuracy = (logits.argmax(-1) == batch[:, 1:]).float().mean()
    return float(accuracy), float(loss)
