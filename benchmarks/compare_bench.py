"""Speed and memory of ``modeltrace compare`` on a pair shaped like Llama-3.2-1B, and on SmolLM2.

Prints, measured in this one run:

* the time ``cat A B > /dev/null`` takes to read both checkpoints from a cold page cache, and the
  time ``modeltrace compare A B --json`` takes, also from a cold cache, in a child process (interpreter
  start included): **ratio compare / cat, target ≤ 3**; each the best of ``--repeat`` runs;
* the compare child's peak RSS (**target ≤ 3 GB**) and the verdict it reached;
* the time to compare SmolLM2-135M-Instruct (the zoo's GGUF) with an attacked copy of itself (every
  function-preserving disguise — neuron and head permutations, residual rotation after norm folding,
  q/k, v/o and up/down rescalings — then Gaussian noise at 20 dB SNR), written as GGUF F32.

The 1B pair is SYNTHETIC: A has random bf16 weights (std 0.02) under Llama-3.2-1B's names and shapes
(16 layers, 2048 wide, 8 KV heads of 64, MLP 8192, 128,256-token vocabulary, tied embeddings,
per-layer norm gains 1 + 0.1·N(0, 1), ≈ 2.47 GB each) and a byte-level BPE ``tokenizer.json`` of
128,256 distinct tokens; B is A with its norm gains folded into the matrices that read them, its
residual stream rotated by a random orthogonal matrix, its MLP neurons and attention heads (GQA
groups kept) permuted, and Gaussian noise at 20 dB SNR on every matrix — what a thief who wants to
hide a copy does, at the size people steal. Generating the pair costs a few minutes (the rotation
is ~5 TFLOP); it is kept under ``--dir`` (default ``<zoo cache>/bench/compare-1b``) and reused.

    python benchmarks/compare_bench.py [--dir D] [--repeat 2] [--skip-smollm2] [--regenerate]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from modeltrace.zoo.fetch import cache_dir

HIDDEN, LAYERS, MLP, VOCAB, HEADS, KV_HEADS, HEAD_DIM = 2048, 16, 8192, 128256, 32, 8, 64
SNR_DB = 20.0
MB = 1024 * 1024
_DONE = "generated.ok"
_READERS = ("q_proj.weight", "k_proj.weight", "v_proj.weight", "gate_proj.weight", "up_proj.weight")


def shapes() -> dict[str, tuple[int, ...]]:
    kv = KV_HEADS * HEAD_DIM
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        out |= {
            p + "input_layernorm.weight": (HIDDEN,),
            p + "self_attn.q_proj.weight": (HEADS * HEAD_DIM, HIDDEN),
            p + "self_attn.k_proj.weight": (kv, HIDDEN),
            p + "self_attn.v_proj.weight": (kv, HIDDEN),
            p + "self_attn.o_proj.weight": (HIDDEN, HEADS * HEAD_DIM),
            p + "post_attention_layernorm.weight": (HIDDEN,),
            p + "mlp.gate_proj.weight": (MLP, HIDDEN),
            p + "mlp.up_proj.weight": (MLP, HIDDEN),
            p + "mlp.down_proj.weight": (HIDDEN, MLP),
        }
    out["model.norm.weight"] = (HIDDEN,)
    return out


def config() -> dict[str, object]:
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "intermediate_size": MLP,
        "vocab_size": VOCAB,
        "tie_word_embeddings": True,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "hidden_act": "silu",
        "torch_dtype": "bfloat16",
    }


def tokenizer() -> dict[str, object]:
    """A byte-level BPE vocabulary of VOCAB distinct tokens (strings only: compare matches by string)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    tokens = []
    for i in range(VOCAB):
        word, n = "", i
        while True:
            word, n = letters[n % 26] + word, n // 26 - 1
            if n < 0:
                break
        tokens.append(("Ġ" if i % 2 else "") + word)
    return {
        "version": "1.0",
        "added_tokens": [],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(tokens)}, "merges": []},
    }


def to_bf16(values: np.ndarray) -> bytes:
    """Round-to-nearest-even float32 → bfloat16 bytes."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16).tobytes()


class _Writer:
    """A safetensors file written tensor by tensor, in the header's order."""

    def __init__(self, path: Path, names: dict[str, tuple[int, ...]]) -> None:
        header: dict[str, object] = {"__metadata__": {"format": "pt", "note": "synthetic benchmark"}}
        offset = 0
        for name, shape in names.items():
            size = int(np.prod(shape)) * 2
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
            offset += size
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        self.file = path.open("wb")
        self.file.write(struct.pack("<Q", len(raw)) + raw)

    def write(self, values: np.ndarray) -> None:
        self.file.write(to_bf16(values))

    def close(self) -> None:
        self.file.close()


def _noised(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if values.ndim < 2:
        return values
    scale = float(np.sqrt(np.mean(values.astype(np.float64) ** 2))) * 10 ** (-SNR_DB / 20)
    return values + rng.standard_normal(values.shape, dtype=np.float32) * np.float32(scale)


def _head_rows(order: np.ndarray) -> np.ndarray:
    return (order[:, None] * HEAD_DIM + np.arange(HEAD_DIM)[None, :]).ravel()


def generate(folder: Path) -> None:
    """Write A and B (see the module docstring), one tensor in memory at a time."""
    rng = np.random.default_rng(1)
    rotation, _ = np.linalg.qr(rng.standard_normal((HIDDEN, HIDDEN)))
    rotation = rotation.astype(np.float32)  # x_B = x_A · R
    names = shapes()
    writers = {}
    for side in ("A", "B"):
        (folder / side).mkdir(parents=True, exist_ok=True)
        (folder / side / "config.json").write_text(json.dumps(config(), indent=1))
        (folder / side / "tokenizer.json").write_text(json.dumps(tokenizer()))
        writers[side] = _Writer(folder / side / "model.safetensors", names)
    group = HEADS // KV_HEADS
    orders: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    gain = np.ones(HIDDEN, np.float32)
    for done, (name, shape) in enumerate(names.items()):
        if name == "model.norm.weight":
            a = np.ones(shape, np.float32)  # a tied head cannot absorb the final gain: keep it 1 in both
        elif len(shape) == 1:
            a = gain = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            a = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
        writers["A"].write(a)
        if ".layers." in name:
            layer = int(name.split(".")[2])
            if layer not in orders:
                kv_order = rng.permutation(KV_HEADS)
                q_order = np.concatenate([g * group + rng.permutation(group) for g in kv_order])
                orders[layer] = (_head_rows(q_order), _head_rows(kv_order), rng.permutation(MLP))
            q_rows, kv_rows, neurons = orders[layer]
        if name.endswith("embed_tokens.weight"):
            b = a @ rotation
        elif name.endswith(_READERS):
            rows = q_rows if "q_proj" in name else neurons if "mlp" in name else kv_rows
            # Readers: the norm's gain folded in, then W_B = W_A·diag(g)·R, rows moved with heads/neurons.
            b = ((a * gain[None, :]) @ rotation)[rows]
        elif name.endswith("o_proj.weight"):
            b = (rotation.T @ a)[:, q_rows]  # writers: W_B = Rᵀ · W_A, columns moved with the heads
        elif name.endswith("down_proj.weight"):
            b = (rotation.T @ a)[:, neurons]
        elif len(shape) == 1:
            b = np.ones(shape, np.float32)  # folded away
        else:
            b = a
        writers["B"].write(_noised(b, rng))
        print(f"\rgenerating the 1B pair: {done + 1}/{len(names)}", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    for writer in writers.values():
        writer.close()
    (folder / _DONE).write_text("ok\n")


def evict(path: Path) -> None:
    """Drop a file's pages from the page cache (no root needed for clean pages)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def time_cat(files: list[Path]) -> float:
    for f in files:
        evict(f)
    start = time.perf_counter()
    subprocess.run(["cat", *map(str, files)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def time_compare(a: Path, b: Path, files: list[Path]) -> tuple[float, int, dict[str, object]]:
    """Wall time, peak RSS (bytes) and JSON report of ``modeltrace compare`` in a fresh child, cold cache."""
    for f in files:
        evict(f)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "modeltrace", "compare", str(a), str(b), "--json"],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode not in (0, 1, 4):
        raise SystemExit(f"compare failed (exit {done.returncode}):\n{done.stderr}")
    if peak <= before:
        print("note: peak RSS not above an earlier child's; the figure is a lower bound", file=sys.stderr)
    report: dict[str, object] = json.loads(done.stdout)
    return elapsed, peak * 1024, report


def bench_1b(folder: Path, repeat: int) -> None:
    a, b = folder / "A", folder / "B"
    files = [a / "model.safetensors", b / "model.safetensors"]
    size = sum(f.stat().st_size for f in files)
    cats, runs = [], []
    for _ in range(repeat):
        cats.append(time_cat(files))
        runs.append(time_compare(a, b, files))
    cat = min(cats)
    best = min(runs, key=lambda r: r[0])
    peak = max(r[1] for r in runs)
    report = best[2]
    print(f"pair: {folder} (2 × {size / 2e9:.2f} GB bf16, Llama-3.2-1B shapes, synthetic); best of {repeat}")
    print(f"cat A B > /dev/null (cold cache):  {cat:7.2f} s  ({size / cat / 1e9:.2f} GB/s)")
    print(f"modeltrace compare A B (cold):     {best[0]:7.2f} s  (child process, interpreter start included)")
    print(f"ratio compare / cat:               {best[0] / cat:7.2f}   (target <= 3)")
    print(f"peak RSS of the compare child:     {peak / 1e9:7.2f} GB  (target <= 3 GB)")
    print(
        f"verdict: {report['verdict']}, log10 p = {report['log10_p']}, "
        f"compare's own timer {report['seconds']} s; layer map identity: "
        f"{all(int(k) == v for k, v in dict(report['layer_map']).items())}"  # type: ignore[call-overload]
    )


def bench_smollm2() -> None:
    from modeltrace.lineage import compare
    from modeltrace.lineage.attacks import TokenList, add_noise, disguise, write_gguf_llama
    from modeltrace.lineage.forward import canonical_tensors, spec_from_model
    from modeltrace.weights.model import open_model
    from modeltrace.zoo.fetch import fetch

    path = fetch("smollm2")
    with open_model(path) as model:
        tensors, spec, vocab = canonical_tensors(model), spec_from_model(model), TokenList.from_model(model)
    rng = np.random.default_rng(7)
    attacked = add_noise(disguise(tensors, spec, rng), SNR_DB, rng)
    with tempfile.TemporaryDirectory() as tmp:
        suspect = write_gguf_llama(Path(tmp) / "attacked.gguf", attacked, spec, vocab)
        del tensors, attacked
        start = time.perf_counter()
        report = compare(path, suspect)
        elapsed = time.perf_counter() - start
    print(
        f"SmolLM2-135M vs its attacked copy (all disguises + {SNR_DB:.0f} dB noise, GGUF F32): "
        f"{elapsed:.2f} s (warm cache, in-process), verdict {report.verdict}, log10 p = {report.log10_p:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where the 1B pair is kept")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--skip-smollm2", action="store_true")
    parser.add_argument("--skip-1b", action="store_true")
    args = parser.parse_args()
    if not args.skip_1b:
        folder = args.dir or cache_dir() / "bench" / "compare-1b"
        if args.regenerate or not (folder / _DONE).is_file():
            shutil.rmtree(folder, ignore_errors=True)
            generate(folder)
        bench_1b(folder, args.repeat)
    if not args.skip_smollm2:
        bench_smollm2()


if __name__ == "__main__":
    main()
