"""Byte-level BPE (GPT-2 style) encode/decode from a GGUF's ``tokenizer.ggml.*`` or a HF ``tokenizer.json``.

Used to serve llama-family checkpoints (``serve-model``) and to feed text to them in the lineage
harness: special tokens written in the text (``<|im_start|>``) are encoded as themselves, other text is
pre-tokenized with the GPT-2 regex (digits split one by one for the ``smollm``/``starcoder``
pre-tokenizers, as llama.cpp does), then merged by rank. Same ids as Hugging Face ``tokenizers`` on
SmolLM2 (tests/lineage/test_forward.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from modeltrace.errors import ModeltraceError

__all__ = ["ByteLevelBPE", "TokenizerError", "bytes_to_unicode"]

_LETTER = r"[^\W\d_]"
_GPT2 = re.compile(
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?{_LETTER}+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+",
)
_DIGIT = re.compile(r"\d")
_SPLIT_DIGITS = frozenset({"smollm", "starcoder", "refact", "codeshell", "command-r", "exaone", "minerva"})


class TokenizerError(ModeltraceError):
    """A tokenizer could not be built from the checkpoint's metadata."""


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable unicode characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}


class ByteLevelBPE:
    """A byte-level BPE tokenizer.

    ``tokens[i]`` is the byte-level string of token i; ``merges`` are ``"a b"`` pairs by rank;
    ``special`` are ids encoded verbatim when their text occurs in the input.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        merges: Sequence[str],
        special: Sequence[int] = (),
        *,
        split_digits: bool = False,
        bos_id: int | None = None,
        eos_id: int | None = None,
        add_bos: bool = False,
    ) -> None:
        if not tokens:
            raise TokenizerError("empty vocabulary")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.ranks: dict[tuple[str, str], int] = {}
        for rank, merge in enumerate(merges):
            parts = merge.split(" ")
            if len(parts) != 2:
                raise TokenizerError(f"malformed merge #{rank}: {merge!r}")
            self.ranks.setdefault((parts[0], parts[1]), rank)
        self.special = {self.tokens[i]: i for i in special if 0 <= i < len(self.tokens)}
        pattern = "|".join(re.escape(s) for s in sorted(self.special, key=len, reverse=True))
        self._special_re = re.compile(f"({pattern})") if pattern else None
        self.split_digits = split_digits
        self.bos_id, self.eos_id, self.add_bos = bos_id, eos_id, add_bos
        self._byte_enc = bytes_to_unicode()
        self._byte_dec = {c: b for b, c in self._byte_enc.items()}
        self._cache: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self.tokens)

    # --- construction -------------------------------------------------------------------------------
    @classmethod
    def from_gguf_metadata(cls, meta: Mapping[str, Any]) -> ByteLevelBPE:
        model = str(meta.get("tokenizer.ggml.model", ""))
        if model != "gpt2":
            raise TokenizerError(f"tokenizer.ggml.model is {model!r}; only byte-level BPE ('gpt2') is read")
        tokens = [str(t) for t in meta.get("tokenizer.ggml.tokens", [])]
        merges = [str(m) for m in meta.get("tokenizer.ggml.merges", [])]
        types = list(meta.get("tokenizer.ggml.token_type", []))
        special = [i for i, t in enumerate(types) if int(t) in (3, 4)]  # CONTROL, USER_DEFINED

        def opt_int(key: str) -> int | None:
            value = meta.get(key)
            return int(value) if isinstance(value, int) else None

        return cls(
            tokens,
            merges,
            special,
            split_digits=str(meta.get("tokenizer.ggml.pre", "")) in _SPLIT_DIGITS,
            bos_id=opt_int("tokenizer.ggml.bos_token_id"),
            eos_id=opt_int("tokenizer.ggml.eos_token_id"),
            add_bos=bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        )

    @classmethod
    def from_tokenizer_json(cls, path: Path) -> ByteLevelBPE:
        if path.stat().st_size > 64 << 20:
            raise TokenizerError(f"{path}: tokenizer.json larger than 64 MiB")
        raw = json.loads(path.read_text(encoding="utf-8"))
        model = raw.get("model") or {}
        if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
            raise TokenizerError(f"{path}: not a BPE tokenizer.json")
        vocab: dict[str, int] = {str(k): int(v) for k, v in model["vocab"].items()}
        for added in raw.get("added_tokens") or []:
            vocab[str(added["content"])] = int(added["id"])
        tokens = [""] * (max(vocab.values()) + 1)
        for text, i in vocab.items():
            tokens[i] = text
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        special = [int(a["id"]) for a in raw.get("added_tokens") or [] if a.get("special")]
        split_digits = '"individual_digits": true' in json.dumps(raw.get("pre_tokenizer"))
        eos = vocab.get("<|endoftext|>", vocab.get("</s>"))
        return cls(tokens, merges, special, split_digits=split_digits, eos_id=eos)

    # --- encode / decode ----------------------------------------------------------------------------
    def _bpe(self, word: str) -> list[int]:
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        parts = list(word)
        while len(parts) > 1:
            best, best_rank = -1, -1
            for i in range(len(parts) - 1):
                rank = self.ranks.get((parts[i], parts[i + 1]))
                if rank is not None and (best_rank < 0 or rank < best_rank):
                    best, best_rank = i, rank
            if best < 0:
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
        ids: list[int] = []
        for part in parts:
            found = self.index.get(part)
            if found is not None:
                ids.append(found)
                continue
            for ch in part:  # unmergeable piece: fall back to single byte tokens where present
                j = self.index.get(ch)
                if j is None:
                    raise TokenizerError(f"byte {ch!r} has no token in the vocabulary")
                ids.append(j)
        if len(self._cache) < 100_000:
            self._cache[word] = ids
        return ids

    def _pieces(self, text: str) -> list[str]:
        chunks = [text]
        if self.split_digits:
            chunks = _DIGIT.split(text)
            digits = _DIGIT.findall(text)
            merged: list[str] = []
            for i, c in enumerate(chunks):
                merged.append(c)
                if i < len(digits):
                    merged.append(digits[i])
            chunks = merged
        out: list[str] = []
        for chunk in chunks:
            if chunk and len(chunk) == 1 and chunk.isdigit():
                out.append(chunk)
            elif chunk:
                out.extend(_GPT2.findall(chunk))
        return out

    def encode(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        ids: list[int] = []
        if (self.add_bos if add_bos is None else add_bos) and self.bos_id is not None:
            ids.append(self.bos_id)
        segments = self._special_re.split(text) if self._special_re else [text]
        for seg in segments:
            if not seg:
                continue
            if seg in self.special:
                ids.append(self.special[seg])
                continue
            for piece in self._pieces(seg):
                ids.extend(self._bpe("".join(self._byte_enc[b] for b in piece.encode("utf-8"))))
        return ids

    def token_bytes(self, i: int) -> bytes:
        tok = self.tokens[i]
        if tok in self.special:
            return tok.encode("utf-8")
        try:
            return bytes(self._byte_dec[c] for c in tok)
        except KeyError:
            return tok.encode("utf-8")

    def decode(self, ids: Sequence[int]) -> str:
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def has_chatml(self) -> bool:
        return "<|im_start|>" in self.special and "<|im_end|>" in self.special

    def chat_prompt(self, messages: Sequence[Mapping[str, str]]) -> str:
        """A minimal chat template: ChatML when the vocabulary has its markers, else ``role: content``."""
        if self.has_chatml():
            body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            return body + "<|im_start|>assistant\n"
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
