"""Read speed and peak memory of the safetensors reader on a checkpoint shaped like Llama-3.2-1B (bf16).

Prints two ratios measured in this one run:

* time to read and dequantise every tensor to float32 / time of ``cat FILE > /dev/null``
  (target ≤ 1.5), each the best of ``--repeat`` runs, with the file evicted from the page cache
  (``posix_fadvise(DONTNEED)``) before each contender, so both read the device. The reader uses
  direct I/O for large tensors (``modeltrace.weights.piece_reader``), so a warm page cache does not
  help it; the time of ``cat`` on a warm cache is printed for reference.
* peak RSS of a child process that reads every tensor / the largest tensor's float32 size
  (target ≤ 1.5× plus 300 MB), next to the same child's RSS after importing modeltrace alone.

The reading child streams the way modeltrace's consumers do: one float32 buffer, sized for the
largest tensor, reused for every tensor (``TensorSource.read_into``). A warm run allocating a fresh
array per tensor (``read``) is printed too: on a VM, faulting in fresh pages can cost more than
reading the file.

The checkpoint is SYNTHETIC (random bf16 values under Llama-3.2-1B's names and shapes: 16 layers,
2048 wide, 8192 MLP, 128256-token vocabulary, tied embeddings, ≈ 2.47 GB). It is written to
``--dir`` (default: a temporary folder) and removed afterwards unless ``--keep``.

    python benchmarks/read_bench.py [--dir D] [--keep] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HIDDEN, LAYERS, MLP, VOCAB, KV = 2048, 16, 8192, 128256, 512
MB = 1024 * 1024


def llama_1b_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (VOCAB, HIDDEN),
        "model.norm.weight": (HIDDEN,),
    }
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        shapes.update(
            {
                p + "self_attn.q_proj.weight": (HIDDEN, HIDDEN),
                p + "self_attn.k_proj.weight": (KV, HIDDEN),
                p + "self_attn.v_proj.weight": (KV, HIDDEN),
                p + "self_attn.o_proj.weight": (HIDDEN, HIDDEN),
                p + "mlp.gate_proj.weight": (MLP, HIDDEN),
                p + "mlp.up_proj.weight": (MLP, HIDDEN),
                p + "mlp.down_proj.weight": (HIDDEN, MLP),
                p + "input_layernorm.weight": (HIDDEN,),
                p + "post_attention_layernorm.weight": (HIDDEN,),
            }
        )
    return shapes


def write_checkpoint(folder: Path) -> Path:
    """Stream a bf16 safetensors file: header first, then each tensor from a pool of random values."""
    shapes = llama_1b_shapes()
    header: dict[str, object] = {"__metadata__": {"format": "pt", "note": "synthetic benchmark"}}
    offset = 0
    for name, shape in shapes.items():
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    pool = (np.random.default_rng(0).standard_normal(1 << 24).astype(np.float32) * 0.02).view(np.uint32)
    pool_bytes = (pool >> 16).astype(np.uint16).tobytes()
    path = folder / "model.safetensors"
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(raw)) + raw)
        for shape in shapes.values():
            left = int(np.prod(shape)) * 2
            while left:
                step = min(left, len(pool_bytes))
                out.write(pool_bytes[:step])
                left -= step
    return path


CHILD = """
import resource, sys, time
from pathlib import Path
import numpy as np
from modeltrace.weights.safetensors_reader import SafetensorsSource
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
with SafetensorsSource(Path(sys.argv[1])) as source:
    if sys.argv[2] == "reuse":
        buffer = np.empty(max(info.numel for info in source.infos()), dtype=np.float32)
        for info in source.infos():
            source.read_into(info.name, buffer)
    else:
        for info in source.infos():
            source.read(info.name)
elapsed = time.perf_counter() - start
print(elapsed, base * 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache (no root needed for clean pages)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def time_cat(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(f"cat '{path}' > /dev/null", shell=True, check=True)
    return time.perf_counter() - start


def time_read(path: Path, mode: str = "reuse") -> tuple[float, int, int]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True, check=True
    )
    elapsed, base, peak = result.stdout.split()
    return float(elapsed), int(base), int(peak)


def measure(path: Path, repeat: int) -> None:
    size = path.stat().st_size
    largest_f32 = max(int(np.prod(s)) for s in llama_1b_shapes().values()) * 4
    subprocess.run(["sync"], check=True)
    cold_cat, cold_read = [], []
    for _ in range(repeat):
        evict(path)
        cold_cat.append(time_cat(path))
        evict(path)
        cold_read.append(time_read(path))
    time_cat(path)
    warm_cat = min(time_cat(path) for _ in range(repeat))
    fresh = time_read(path, "fresh")
    cc, cr = min(cold_cat), min(r[0] for r in cold_read)
    base_rss = min(r[1] for r in cold_read)
    peak_rss = max(r[2] for r in cold_read)
    print(f"checkpoint: {path} ({size / 1e9:.2f} GB bf16, Llama-3.2-1B shapes, synthetic); best of {repeat}")
    print(f"cat > /dev/null (cold cache):      {cc:7.3f} s  ({size / cc / 1e9:.2f} GB/s)")
    print(f"read + dequantise to f32:          {cr:7.3f} s  ({size / cr / 1e9:.2f} GB/s of stored bytes)")
    print(f"ratio read / cat:                  {cr / cc:7.2f}   (target <= 1.5)")
    print(f"cat > /dev/null (warm cache):      {warm_cat:7.3f} s  (for reference: no device read)")
    print(f"read, fresh array per tensor:      {fresh[0]:7.3f} s  (read() instead of read_into())")
    print(f"largest tensor as float32:          {largest_f32 / MB:7.0f} MB")
    print(f"child RSS after imports:            {base_rss / MB:7.0f} MB")
    print(f"child peak RSS:                     {peak_rss / MB:7.0f} MB")
    print(
        f"ratio peak RSS / largest:           {peak_rss / largest_f32:7.2f}   "
        f"(target <= 1.5 + 300 MB / largest = {1.5 + 300 * MB / largest_f32:.2f})"
    )
    print(
        f"fresh-array child peak RSS:         {fresh[2] / MB:7.0f} MB  (ratio {fresh[2] / largest_f32:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to write the 2.5 GB checkpoint")
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint (in --dir)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.keep:
        folder = args.dir or Path(tempfile.mkdtemp())
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "model.safetensors"
        measure(path if path.exists() else write_checkpoint(folder), args.repeat)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        measure(write_checkpoint(Path(tmp)), args.repeat)


if __name__ == "__main__":
    main()
