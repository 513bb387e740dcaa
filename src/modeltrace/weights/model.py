"""``open_model``: one lazy, canonical view of any checkpoint.

A :class:`Model` joins a format reader (stored tensors), the role map (what each tensor is), the
config (shape facts) and the vocabulary. Tensors are read one at a time on request; the only thing
kept is the last stored tensor read, so the three parts of a fused QKV projection cost one read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modeltrace.errors import RoleError
from modeltrace.weights.config import ModelConfig, build_config, gguf_config_fields, hf_config_fields
from modeltrace.weights.digest import content_digest
from modeltrace.weights.locate import open_source, read_json
from modeltrace.weights.roles import Dimensions, RoleBinding, RoleMap, map_roles
from modeltrace.weights.source import Float32Array, TensorInfo, TensorSource

if TYPE_CHECKING:
    from modeltrace.weights.vocab import Vocabulary


class Model:
    """A checkpoint opened for forensics. Use :func:`open_model` to get one."""

    def __init__(self, path: Path, source: TensorSource, folder: Path | None) -> None:
        self.path = path
        self.source = source
        self.folder = folder
        self._cache: tuple[str, Float32Array] | None = None
        stated = self._stated_configs()
        dims = _dimensions(stated)
        arch = next((str(f["architecture"]) for _, f in stated if f.get("architecture")), "")
        arch = arch or _guess_architecture(source.infos())
        self.roles: RoleMap = map_roles(source.infos(), arch, dims, gguf=self.format == "gguf")
        shapes = {name: self._canonical_shape(b) for name, b in self.roles.bindings.items()}
        self.config: ModelConfig = build_config(stated, self.roles, shapes)
        if self.config.architecture == "unknown":
            self.config.architecture = arch or "unknown"
            self.config.provenance["architecture"] = "tensors"

    # -- construction helpers -------------------------------------------------------------------

    def _stated_configs(self) -> list[tuple[str, Mapping[str, Any]]]:
        stated: list[tuple[str, Mapping[str, Any]]] = []
        if self.folder is not None and (self.folder / "config.json").is_file() and self.format != "gguf":
            raw = read_json(self.folder / "config.json")
            if isinstance(raw, dict):
                stated.append(("config.json", hf_config_fields(raw)))
        facts = self.source.facts
        if self.format == "gguf":
            stated.append(("gguf", gguf_config_fields(facts.metadata)))
        if facts.config:
            stated.append(("file", hf_config_fields(facts.config)))
        return stated

    def _canonical_shape(self, binding: RoleBinding) -> tuple[int, ...]:
        shape = self.source_info(binding.source).shape
        if binding.expert is not None:
            shape = shape[1:]
        if binding.transpose and len(shape) == 2:
            shape = (shape[1], shape[0])
        if binding.neox_part is not None:
            heads, _, head_dim = binding.neox_part
            shape = (heads * head_dim, *shape[1:])
        if binding.rows is not None:
            shape = (binding.rows[1] - binding.rows[0], *shape[1:])
        return shape

    # -- facts ------------------------------------------------------------------------------------

    @property
    def format(self) -> str:
        return self.source.facts.format

    @property
    def architecture(self) -> str:
        return self.config.architecture

    @cached_property
    def _infos(self) -> dict[str, TensorInfo]:
        return {info.name: info for info in self.source.infos()}

    def source_info(self, name: str) -> TensorInfo:
        return self._infos[name]

    def infos(self) -> list[TensorInfo]:
        return list(self.source.infos())

    @property
    def parameter_count(self) -> int:
        return sum(info.numel for info in self.source.infos() if info.is_float)

    def dtype_counts(self) -> dict[str, int]:
        return dict(Counter(info.dtype for info in self.source.infos()))

    # -- canonical tensors ------------------------------------------------------------------------

    def canonical_names(self) -> list[str]:
        return list(self.roles.bindings)

    def has(self, canonical: str) -> bool:
        return canonical in self.roles.bindings

    def binding(self, canonical: str) -> RoleBinding:
        try:
            return self.roles.bindings[canonical]
        except KeyError:
            raise RoleError(f"{self.path}: no tensor has the role {canonical!r}") from None

    def shape(self, canonical: str) -> tuple[int, ...]:
        return self._canonical_shape(self.binding(canonical))

    def read_stored(self, name: str) -> Float32Array:
        """One stored tensor, dequantised; the last one read is kept for fused splits."""
        if self._cache is not None and self._cache[0] == name:
            return self._cache[1]
        self._cache = None  # drop the old one before reading the next: one stored tensor at a time
        array = self.source.read(name)
        self._cache = (name, array)
        return array

    def release(self) -> None:
        """Drop the stored tensor kept for fused splits: after a large one (an embedding table) is used."""
        self._cache = None

    def tensor(self, canonical: str) -> Float32Array:
        """The canonical float32 tensor for a role, e.g. ``layers.0.attn.q.weight``."""
        binding = self.binding(canonical)
        return binding.apply(self.read_stored(binding.source))

    def gain(self, canonical: str) -> Float32Array:
        """The gain a norm multiplies by (the canonical tensor plus Gemma's ``+1``)."""
        binding = self.binding(canonical)
        values = self.tensor(canonical)
        return values + np.float32(binding.gain_offset) if binding.gain_offset else values

    def layers(self, stack: str = "layers") -> list[int]:
        return sorted(
            {b.layer for b in self.roles.bindings.values() if b.layer is not None and b.stack == stack}
        )

    def layer_roles(self, layer: int, stack: str = "layers") -> dict[str, RoleBinding]:
        prefix = f"{stack}.{layer}."
        return {k: v for k, v in self.roles.bindings.items() if k.startswith(prefix)}

    def iter_tensors(self) -> Iterator[tuple[str, Float32Array]]:
        """Every canonical tensor, in stored order so fused parts share one read."""
        order = {info.name: i for i, info in enumerate(self.source.infos())}
        for name, binding in sorted(self.roles.bindings.items(), key=lambda kv: order.get(kv[1].source, 0)):
            yield name, binding.apply(self.read_stored(binding.source))

    @property
    def tied_embeddings(self) -> bool:
        return bool(self.config.tied_embeddings)

    # -- vocabulary and digest --------------------------------------------------------------------

    @cached_property
    def vocabulary(self) -> Vocabulary | None:
        """The tokens as normalised strings, from the file's metadata or the folder's tokenizer files."""
        from modeltrace.weights.vocab import load_vocabulary, vocab_from_gguf_metadata, vocab_from_tokens

        meta = self.source.facts.metadata
        if self.format == "gguf" and "tokenizer.ggml.tokens" in meta:
            return vocab_from_gguf_metadata(meta, source=str(self.path))
        tokens = meta.get("tokenizer.tokens")
        if isinstance(tokens, list) and tokens:
            kind = str(meta.get("tokenizer.kind", "sentencepiece"))
            return vocab_from_tokens(tokens, kind, meta.get("tokenizer.token_types"), source=str(self.path))
        return load_vocabulary(self.folder) if self.folder is not None else None

    def use_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Use this vocabulary instead of the one found with the weights (e.g. an export without one)."""
        self.__dict__["vocabulary"] = vocabulary

    @cached_property
    def digest(self) -> str:
        """Merkle root over (name, dtype, shape, sha256) of every stored tensor, sorted by name."""
        return content_digest(self.source)

    def summary(self) -> dict[str, Any]:
        vocab = self.vocabulary
        cfg = self.config
        return {
            "path": str(self.path),
            "format": self.format,
            "architecture": cfg.architecture,
            "parameters": self.parameter_count,
            "tensors": len(self.source.infos()),
            "dtypes": self.dtype_counts(),
            "layers": cfg.n_layers,
            "hidden": cfg.hidden,
            "heads": cfg.n_heads,
            "kv_heads": cfg.n_kv_heads,
            "head_dim": cfg.head_dim,
            "mlp_width": cfg.mlp_width,
            "experts": cfg.n_experts,
            "vocab_size": cfg.vocab_size,
            "tokenizer": vocab.kind if vocab else None,
            "tokenizer_tokens": len(vocab) if vocab else None,
            "norm": cfg.norm_kind,
            "tied_embeddings": cfg.tied_embeddings,
            "roles_assigned": len(self.roles.bindings),
            "roles_guessed": sorted(k for k, b in self.roles.bindings.items() if b.guessed),
            "unassigned": dict(self.roles.unassigned),
            "provenance": dict(cfg.provenance),
            "content_digest": self.digest,
        }

    # -- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        self._cache = None
        self.source.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Model {self.path} {self.format} {self.architecture}>"


def _dimensions(stated: list[tuple[str, Mapping[str, Any]]]) -> Dimensions:
    merged: dict[str, Any] = {}
    for _, fields in stated:
        for key, value in fields.items():
            merged.setdefault(key, value)
    hidden, heads = merged.get("hidden"), merged.get("n_heads")
    head_dim = merged.get("head_dim") or (hidden // heads if hidden and heads else None)
    return Dimensions(
        hidden=hidden, n_heads=heads, n_kv_heads=merged.get("n_kv_heads") or heads, head_dim=head_dim
    )


def _guess_architecture(infos: Sequence[TensorInfo]) -> str:
    joined = "\n".join(info.name for info in infos[:400])
    rules = (
        ("attention.self.query", "bert"),
        ("attention.attn.q", "mpnet"),
        ("attn.Wqkv", "nomic_bert"),
        ("attn.c_attn", "gpt2"),
        ("attention.query_key_value", "gpt_neox"),
        ("pre_feedforward_layernorm", "gemma2"),
        ("self_attn.qkv_proj", "phi3"),
        ("block_sparse_moe", "mixtral"),
        ("self_attn.q_proj", "llama"),
        ("encoder_attn", "whisper"),
    )
    for needle, arch in rules:
        if needle in joined:
            return arch
    return ""


def open_model(path: str | Path) -> Model:
    """Open a checkpoint (file, HF folder or hub cache folder) lazily.

    Raises :class:`~modeltrace.errors.ModelFileError` with the file and the problem when the input is
    missing, malformed, truncated or hostile.
    """
    path = Path(path)
    source, folder = open_source(path)
    try:
        return Model(path, source, folder)
    except BaseException:
        source.close()
        raise
