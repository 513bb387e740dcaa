"""Content digest of a checkpoint: a Merkle root over its tensors, independent of file layout.

Two files holding the same tensors under the same names, dtypes and shapes get the same digest even
when their headers, metadata, shard boundaries or tensor order differ; any changed byte of any tensor
changes it. Leaves are sorted by tensor name and encoded as::

    b"modeltrace.tensor.v1" || u32(len(name)) || name || u32(len(dtype)) || dtype
        || u32(rank) || u64(dim)... || sha256(stored bytes)

(all integers big-endian, strings UTF-8), then hashed into an RFC 6962 tree (:mod:`modeltrace.merkle`).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from modeltrace.merkle import MerkleAccumulator
from modeltrace.weights.source import TensorInfo, TensorSource

_DOMAIN = b"modeltrace.tensor.v1"


@dataclass(frozen=True)
class TensorDigest:
    name: str
    dtype: str
    shape: tuple[int, ...]
    sha256: str

    def leaf(self) -> bytes:
        name, dtype = self.name.encode("utf-8", "surrogateescape"), self.dtype.encode()
        return b"".join(
            (
                _DOMAIN,
                struct.pack(">I", len(name)),
                name,
                struct.pack(">I", len(dtype)),
                dtype,
                struct.pack(">I", len(self.shape)),
                *(struct.pack(">Q", d) for d in self.shape),
                bytes.fromhex(self.sha256),
            )
        )


def _hash_one(source: TensorSource, info: TensorInfo) -> TensorDigest:
    # hashlib releases the GIL on large buffers, so threads hash tensors in parallel.
    return TensorDigest(info.name, info.dtype, info.shape, hashlib.sha256(source.raw(info.name)).hexdigest())


def tensor_digests(source: TensorSource, threads: int = 2) -> Iterator[TensorDigest]:
    """Per-tensor digests in name order, a bounded number of tensors in flight at a time."""
    infos = sorted(source.infos(), key=lambda i: i.name)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        window = max(1, threads) * 2
        pending = [pool.submit(_hash_one, source, info) for info in infos[:window]]
        for index in range(len(infos)):
            result = pending.pop(0).result()
            nxt = index + window
            if nxt < len(infos):
                pending.append(pool.submit(_hash_one, source, infos[nxt]))
            yield result


def content_digest(source: TensorSource, threads: int = 2) -> str:
    """Hex Merkle root over every stored tensor (see the module docstring for the leaf encoding)."""
    acc = MerkleAccumulator()
    for item in tensor_digests(source, threads):
        acc.add(item.leaf())
    return acc.root().hex()
