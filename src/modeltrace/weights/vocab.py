"""Token vocabularies of every common tokenizer family, in one normal form that can be intersected by string.

Two models can only be compared row by row on their embeddings if we know which rows stand for the
same text. Tokenizer families spell the same text differently (``##ing`` in WordPiece, ``ing`` in
SentencePiece, ``ing`` in byte-level BPE; ``the`` / ``▁the`` / ``Ġthe`` for a word-initial "the"), so
each token is mapped to a *normal form* first, and vocabularies are intersected on that.

Normal form
-----------
The normal form spells a token as the text it stands for, with every space written as ``▁`` (U+2581,
SentencePiece's meta symbol) and a word boundary in front of a word-initial token written as ``▁`` too:

* **WordPiece** (``vocab.txt``, ``tokenizer.json`` model ``WordPiece``): ``##x`` (the continuing-subword
  prefix) is a continuation and becomes ``x``; any other token starts a word and becomes ``▁x``. A bare
  ``##`` is the literal text "##" and becomes ``▁##``.
* **SentencePiece** (``tokenizer.model``, GGUF ``llama``/``t5``, ``tokenizer.json`` ``Unigram`` or BPE with
  ``Metaspace``/``▁``/``byte_fallback``): pieces already use this form and are kept (``▁x`` → ``▁x``,
  ``x`` → ``x``); byte-fallback pieces stay ``<0xNN>``. A literal space in a piece (user-defined
  whitespace pieces such as Gemma's ``"  "``) becomes ``▁``, as SentencePiece's own normaliser writes it.
* **Byte-level BPE** (GPT-2 style; ``tokenizer.json`` with a ``ByteLevel`` pre-tokenizer or decoder, GGUF
  ``gpt2``, CTranslate2 Whisper vocabularies): each character is mapped back to its byte through GPT-2's
  byte↔unicode table (``Ġ`` = space, ``Ċ`` = newline, ...); the bytes are decoded as UTF-8, and every byte
  that is not part of valid UTF-8 becomes ``<0xNN>`` — the same spelling as SentencePiece's byte-fallback
  pieces, so a lone byte 0x80 matches in both families. Spaces then become ``▁``, so ``Ġthe`` → ``▁the``
  and ``ĠĠ`` → ``▁▁``. A token with a character outside the table is literal text (see added tokens).
* **GGUF ``bert``**: llama.cpp has already converted WordPiece to this form (``▁`` on word-initial tokens,
  ``##`` stripped from continuations, specials such as ``[CLS]`` kept), so the tokens are kept.
* **WordLevel**: every token is a whole word and becomes ``▁x``.
* **Other BPE** (no byte-level, no ``▁``): a ``continuing_subword_prefix`` works as in WordPiece; an
  ``end_of_word_suffix`` is stripped (the word-final mark has no word-initial counterpart); otherwise the
  token is literal text.
* **Added tokens** of a ``tokenizer.json`` that the model vocabulary does not hold are matched by the
  tokenizer against raw text, so they are literal text: spaces become ``▁``, nothing else changes.

Specials
--------
Special tokens stand for no text and are never matched; their ids are in :attr:`Vocabulary.special`
and their normal form is their raw spelling (``[CLS]`` stays ``[CLS]``, as in llama.cpp's conversion):

* token types ``2`` unknown, ``3`` control and ``5`` unused (SentencePiece protobuf, GGUF); type ``4``
  user-defined pieces are real text (Gemma's ``<table>``, ``"\\n"``) and ``6`` byte pieces are bytes, so
  both are matched;
* ``added_tokens`` marked ``special`` and the model's unknown token in a ``tokenizer.json``;
* by name, in every vocabulary: ``<|...|>`` (GPT, Whisper, ChatML), ``[unusedN]`` and ``<unusedN>``, and the
  empty string (an id hole);
* by name, in WordPiece and WordLevel vocabularies only: any bracketed ``[NAME]`` — the BERT
  pre-tokenizer splits off brackets, so such a token can only be a special, whereas ``[i]`` is real code
  text in a byte-level vocabulary;
* by name, only where the source gives no per-token type (``vocab.txt``, CTranslate2 vocabularies, raw
  piece lists, ``tokenizer.json``): the conventional names ``<s>``, ``</s>``, ``<unk>``, ``<pad>``,
  ``<mask>``, ``<bos>``, ``<eos>``, ``<cls>``, ``<sep>``. Where every token has a type, the type decides,
  because ``<s>`` can be HTML text (Gemma marks it user-defined).

Known collisions of the normal form, accepted because they are rare and harmless for statistics: a
byte-level token whose text is literally ``<0xNN>`` or contains ``▁`` spells the same as a byte piece or a
space. :meth:`Vocabulary.index` keeps the lowest id of a duplicated normal form.

Readers parse everything themselves (``json``, a small protobuf wire-format reader) and bound every size
and length by the bytes present, so a hostile file raises :class:`~modeltrace.errors.ModelFileError`
instead of exhausting memory or running code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Final, SupportsInt

from modeltrace.errors import ModelFileError, UnsupportedFormatError
from modeltrace.weights.bpe import bytes_to_unicode

__all__ = [
    "KINDS",
    "WORD_START",
    "Vocabulary",
    "load_vocabulary",
    "normalise_token",
    "vocab_from_ctranslate2_vocabulary",
    "vocab_from_gguf_metadata",
    "vocab_from_sentencepiece_model",
    "vocab_from_tokenizer_json",
    "vocab_from_tokens",
    "vocab_from_vocab_txt",
]

#: SentencePiece's meta symbol: a space, and the mark of a word-initial token.
WORD_START: Final = "\u2581"
#: The tokenizer families a :class:`Vocabulary` can come from.
KINDS: Final = frozenset({"wordpiece", "sentencepiece", "byte-bpe", "bpe", "unigram", "wordlevel"})

#: ``tokenizer.json`` files above this size are refused (the largest real ones are ~30 MB).
MAX_TOKENIZER_JSON_BYTES: Final = 512 * 1024 * 1024
#: ``tokenizer.model`` protobufs above this size are refused (Gemma's 262k pieces take ~5 MB).
MAX_SENTENCEPIECE_BYTES: Final = 256 * 1024 * 1024
#: Plain-text and JSON-list vocabularies above this size are refused.
MAX_VOCAB_FILE_BYTES: Final = 256 * 1024 * 1024
#: No vocabulary may hold more ids than this (the largest real ones are ~262k).
MAX_TOKENS: Final = 16 * 1024 * 1024

# SentencePiece / GGUF token types.
TYPE_NORMAL: Final = 1
TYPE_UNKNOWN: Final = 2
TYPE_CONTROL: Final = 3
TYPE_USER_DEFINED: Final = 4
TYPE_UNUSED: Final = 5
TYPE_BYTE: Final = 6
_SPECIAL_TYPES: Final = frozenset({TYPE_UNKNOWN, TYPE_CONTROL, TYPE_UNUSED})

_ALWAYS_SPECIAL: Final = re.compile(r"<\|\S+\|>|\[unused\d+\]|<unused\d+>")
_BRACKETED: Final = re.compile(r"\[[^\[\]\s]+\]")
_CONVENTIONAL_SPECIALS: Final = frozenset(
    {"<s>", "</s>", "<unk>", "<pad>", "<mask>", "<bos>", "<eos>", "<cls>", "<sep>"}
)
_BYTE_PIECE: Final = re.compile(r"<0x[0-9A-Fa-f]{2}>")

Normaliser = Callable[[str], str]


# ---------------------------------------------------------------------------------------------------
# The vocabulary
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """A tokenizer's vocabulary: raw and normalised token strings by id, and the ids of its specials."""

    kind: str
    source: str
    tokens: tuple[str, ...]
    normalised: tuple[str, ...]
    special: frozenset[int]

    def __post_init__(self) -> None:
        # Callers build these from files: an inconsistent one would silently mis-align embedding rows.
        if self.kind not in KINDS:
            raise ValueError(f"unknown vocabulary kind {self.kind!r} (expected one of {sorted(KINDS)})")
        if len(self.tokens) != len(self.normalised):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.normalised)} normalised strings")
        bad = [i for i in self.special if not 0 <= i < len(self.tokens)]
        if bad:
            raise ValueError(f"special ids out of range: {sorted(bad)[:5]}")

    def __len__(self) -> int:
        return len(self.tokens)

    @cached_property
    def _index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for token_id, text in enumerate(self.normalised):
            if token_id not in self.special:
                index.setdefault(text, token_id)
        return index

    def index(self) -> dict[str, int]:
        """Normalised string → lowest non-special id holding it (computed once; do not mutate)."""
        return self._index

    def shared(self, other: Vocabulary) -> list[tuple[int, int]]:
        """``(id here, id there)`` for every normalised string both hold as a non-special, by id here."""
        theirs = other.index()
        return sorted((mine, theirs[text]) for text, mine in self.index().items() if text in theirs)


# ---------------------------------------------------------------------------------------------------
# Normalisation rules
# ---------------------------------------------------------------------------------------------------


#: GPT-2's byte table inverted: the printable character each byte-level token uses → the byte.
_UNICODE_TO_BYTE: Final = {char: byte for byte, char in bytes_to_unicode().items()}
# str.translate table: byte-level characters to the Latin-1 character of their byte; every other
# character below U+0100 to U+FFFF, so that encoding the result as Latin-1 fails exactly when the
# token holds a character outside the byte-level alphabet (characters above U+00FF pass through).
_TO_LATIN1: Final = {ord(char): byte for char, byte in _UNICODE_TO_BYTE.items()} | {
    code: 0xFFFF for code in range(256) if chr(code) not in _UNICODE_TO_BYTE
}


def _escape_spaces(text: str) -> str:
    return text.replace(" ", WORD_START)


def _text_form(text: str) -> str:
    """Literal text: only the spaces change."""
    return _escape_spaces(text)


def _bytes_form(raw: bytes) -> str:
    """Decode UTF-8; each byte outside valid UTF-8 becomes ``<0xNN>`` like a SentencePiece byte piece."""
    # surrogateescape turns exactly the undecodable bytes (always >= 0x80) into U+DC80..U+DCFF.
    text = raw.decode("utf-8", "surrogateescape")
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return _escape_spaces(text)
    parts = [f"<0x{ord(ch) - 0xDC00:02X}>" if "\udc80" <= ch <= "\udcff" else ch for ch in text]
    return _escape_spaces("".join(parts))


def _byte_level_form(token: str) -> str:
    try:
        raw = token.translate(_TO_LATIN1).encode("latin-1")
    except UnicodeEncodeError:
        # Not byte-level encoded (an added token stored as plain text, e.g. "<|0.00|>" with a space).
        return _text_form(token)
    return _bytes_form(raw)


def _sentencepiece_form(token: str) -> str:
    return _escape_spaces(token)


def _word_start_form(token: str) -> str:
    return WORD_START + _escape_spaces(token)


def _prefix_form(prefix: str) -> Normaliser:
    """WordPiece-style: ``<prefix>x`` continues a word, anything else starts one."""

    def form(token: str) -> str:
        if prefix and token.startswith(prefix) and len(token) > len(prefix):
            return _escape_spaces(token[len(prefix) :])
        return _word_start_form(token)

    return form


def _suffix_form(suffix: str) -> Normaliser:
    def form(token: str) -> str:
        if token.endswith(suffix) and len(token) > len(suffix):
            token = token[: -len(suffix)]
        return _text_form(token)

    return form


_NORMALISERS: Final[Mapping[str, Normaliser]] = {
    "wordpiece": _prefix_form("##"),
    "sentencepiece": _sentencepiece_form,
    "unigram": _sentencepiece_form,
    "byte-bpe": _byte_level_form,
    "bpe": _text_form,
    "wordlevel": _word_start_form,
}


def normalise_token(token: str, kind: str) -> str:
    """The normal form of one raw token of a vocabulary of ``kind`` (see the module docstring)."""
    if kind not in _NORMALISERS:
        raise ValueError(f"unknown vocabulary kind {kind!r} (expected one of {sorted(KINDS)})")
    return _NORMALISERS[kind](token)


def _special_by_name(token: str, kind: str, typed: bool) -> bool:
    if not token or _ALWAYS_SPECIAL.fullmatch(token):
        return True
    if kind in ("wordpiece", "wordlevel") and _BRACKETED.fullmatch(token):
        return True
    return not typed and token in _CONVENTIONAL_SPECIALS


def _build(
    tokens: Sequence[str],
    kind: str,
    source: str,
    *,
    normaliser: Normaliser | None = None,
    types: Sequence[int] | None = None,
    extra_special: Iterable[int] = (),
    literal: frozenset[int] = frozenset(),
) -> Vocabulary:
    """Normalise ``tokens`` and collect the specials; ``literal`` ids are plain text (added tokens)."""
    form = normaliser or _NORMALISERS[kind]
    typed = types is not None
    special = set(extra_special)
    special.update(i for i, t in enumerate(tokens) if _special_by_name(t, kind, typed))
    if types is not None:
        special.update(i for i, t in enumerate(types) if t in _SPECIAL_TYPES)
    # Specials keep their raw spelling ("[CLS]", as llama.cpp's BERT conversion does): they are never
    # matched, and a word-start mark on them would only make equal vocabularies look different.
    normalised = tuple(
        t if i in special else _text_form(t) if i in literal else form(t) for i, t in enumerate(tokens)
    )
    return Vocabulary(kind, source, tuple(tokens), normalised, frozenset(special))


def _int_types(token_types: Iterable[SupportsInt], count: int, source: str) -> list[int]:
    try:
        types = [int(t) for t in token_types]
    except (TypeError, ValueError) as exc:
        raise ModelFileError(source, f"token types are not integers: {exc}") from None
    if len(types) != count:
        raise ModelFileError(source, f"{len(types)} token types for {count} tokens")
    return types


def vocab_from_tokens(
    tokens: Iterable[str],
    kind: str,
    token_types: Iterable[SupportsInt] | None = None,
    source: str = "",
) -> Vocabulary:
    """A vocabulary from raw token strings by id (e.g. the SentencePiece pieces a weight file carries).

    ``token_types`` (SentencePiece/GGUF numbering, any int-like sequence or numpy array) mark the
    specials when given; without them, specials are recognised by name only.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown vocabulary kind {kind!r} (expected one of {sorted(KINDS)})")
    token_list = list(tokens)
    if len(token_list) > MAX_TOKENS:
        raise ModelFileError(source, f"{len(token_list)} tokens (more than {MAX_TOKENS})")
    for token in token_list:
        if not isinstance(token, str):
            raise ModelFileError(source, f"a token is {type(token).__name__}, not str")
    types = None if token_types is None else _int_types(token_types, len(token_list), source)
    return _build(token_list, kind, source, types=types)


# ---------------------------------------------------------------------------------------------------
# Bounded file access
# ---------------------------------------------------------------------------------------------------


def _read_bounded(path: Path, limit: int) -> bytes:
    """The whole file, refusing anything that is not a regular file or is larger than ``limit``."""
    if not path.is_file():
        raise ModelFileError(path, "not a regular file")
    try:
        with path.open("rb") as handle:
            # Read one byte past the limit instead of trusting stat(): the file may grow meanwhile.
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ModelFileError(path, f"larger than the {limit // (1024 * 1024)} MiB allowed for a vocabulary")
    return data


def _load_json(path: Path, limit: int) -> Any:
    data = _read_bounded(path, limit)
    try:
        return json.loads(data)
    except RecursionError:
        raise ModelFileError(path, "JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ModelFileError(path, f"not valid JSON: {exc}") from None


def _decode_utf8(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(path, f"not UTF-8 text (byte {exc.start})") from None


def _lines(text: str) -> list[str]:
    """One token a line; only ``\\n`` ends a line (``str.splitlines`` would also split on U+2028, ...)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last token; it does not start an empty one
    return [line.removesuffix("\r") for line in lines]


# ---------------------------------------------------------------------------------------------------
# HF tokenizer.json
# ---------------------------------------------------------------------------------------------------


def _has_component(node: Any, type_name: str) -> bool:
    """Whether a pre-tokenizer/decoder/normaliser tree contains a component of ``type_name``."""
    if isinstance(node, dict):
        return node.get("type") == type_name or any(_has_component(v, type_name) for v in node.values())
    if isinstance(node, list):
        return any(_has_component(v, type_name) for v in node)
    return False


def _mentions_word_start(node: Any) -> bool:
    """Whether a component tree writes or reads ``▁`` (Llama-style ``Replace(" ", "▁")`` normalisers)."""
    if isinstance(node, dict):
        return any(_mentions_word_start(v) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_word_start(v) for v in node)
    return isinstance(node, str) and WORD_START in node


def _model_type(model: Mapping[str, Any], path: Path) -> str:
    declared = model.get("type")
    if isinstance(declared, str):
        return declared
    # Files written before the "type" tag existed: infer from the fields each model serialises.
    if isinstance(model.get("vocab"), list):
        return "Unigram"
    if "merges" in model:
        return "BPE"
    if "continuing_subword_prefix" in model or "max_input_chars_per_word" in model:
        return "WordPiece"
    if isinstance(model.get("vocab"), dict):
        return "WordLevel"
    raise ModelFileError(path, "tokenizer.json model has no type and no recognisable vocabulary")


def _checked_id(value: Any, path: Path, what: str) -> int:
    # bool is an int subclass; True must not become id 1.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < MAX_TOKENS:
        raise ModelFileError(path, f"{what} has an invalid id {value!r}")
    return value


def _model_vocab(model: Mapping[str, Any], model_type: str, path: Path) -> dict[int, str]:
    vocab = model.get("vocab")
    entries: dict[int, str] = {}
    if model_type == "Unigram":
        if not isinstance(vocab, list):
            raise ModelFileError(path, "Unigram vocab is not a list of [piece, score]")
        for token_id, entry in enumerate(vocab):
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                raise ModelFileError(path, f"Unigram vocab entry {token_id} is not [piece, score]")
            entries[token_id] = entry[0]
    else:
        if not isinstance(vocab, dict):
            raise ModelFileError(path, f"{model_type} vocab is not an object of token → id")
        for token, value in vocab.items():
            token_id = _checked_id(value, path, f"vocab token {token!r}")
            if token_id in entries:
                raise ModelFileError(
                    path, f"id {token_id} is given to both {entries[token_id]!r} and {token!r}"
                )
            entries[token_id] = token
    if len(entries) > MAX_TOKENS:
        raise ModelFileError(path, f"{len(entries)} tokens (more than {MAX_TOKENS})")
    return entries


def _added_tokens(doc: Mapping[str, Any], path: Path) -> list[tuple[int, str, bool]]:
    added = doc.get("added_tokens") or []
    if not isinstance(added, list):
        raise ModelFileError(path, "added_tokens is not a list")
    result = []
    for entry in added:
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
            raise ModelFileError(path, "an added token is not an object with a string content")
        token_id = _checked_id(entry.get("id"), path, f"added token {entry['content']!r}")
        result.append((token_id, entry["content"], bool(entry.get("special", False))))
    return result


def _bpe_kind_and_form(doc: Mapping[str, Any], model: Mapping[str, Any]) -> tuple[str, Normaliser]:
    components = [doc.get("pre_tokenizer"), doc.get("decoder")]
    if _has_component(components, "ByteLevel"):
        return "byte-bpe", _byte_level_form
    if (
        _has_component(components, "Metaspace")
        or _mentions_word_start([doc.get("normalizer"), *components])
        or model.get("byte_fallback") is True
    ):
        return "sentencepiece", _sentencepiece_form
    prefix = model.get("continuing_subword_prefix")
    if isinstance(prefix, str) and prefix:
        return "bpe", _prefix_form(prefix)
    suffix = model.get("end_of_word_suffix")
    if isinstance(suffix, str) and suffix:
        return "bpe", _suffix_form(suffix)
    return "bpe", _text_form


def _kind_and_form(
    doc: Mapping[str, Any], model: Mapping[str, Any], model_type: str, path: Path
) -> tuple[str, Normaliser]:
    if model_type == "WordPiece":
        prefix = model.get("continuing_subword_prefix", "##")
        return "wordpiece", _prefix_form(prefix if isinstance(prefix, str) else "##")
    if model_type == "BPE":
        return _bpe_kind_and_form(doc, model)
    if model_type == "Unigram":
        # A Unigram model is a SentencePiece model; a byte-level one would say so in its pre-tokenizer.
        if _has_component([doc.get("pre_tokenizer"), doc.get("decoder")], "ByteLevel"):
            return "unigram", _byte_level_form
        return "unigram", _sentencepiece_form
    if model_type == "WordLevel":
        return "wordlevel", _word_start_form
    raise UnsupportedFormatError(path, f"tokenizer.json model type {model_type!r} is not supported")


def _unknown_id(model: Mapping[str, Any], model_type: str, by_token: Mapping[str, int]) -> int | None:
    if model_type == "Unigram":
        unk = model.get("unk_id")
        return unk if isinstance(unk, int) and not isinstance(unk, bool) else None
    unk_token = model.get("unk_token")
    return by_token.get(unk_token) if isinstance(unk_token, str) else None


def _assemble_ids(
    entries: Mapping[int, str], added: Sequence[tuple[int, str, bool]], path: Path
) -> list[str]:
    """Tokens by id, holes as ``""`` (flagged special); added tokens replace the model's at their id."""
    all_ids = [*entries, *(token_id for token_id, _, _ in added)]
    if not all_ids:
        raise ModelFileError(path, "the vocabulary is empty")
    size = max(all_ids) + 1
    # Holes are legal (added tokens far out) but a few tokens claiming huge ids would waste memory.
    if size > 2 * len(set(all_ids)) + 65536:
        raise ModelFileError(path, f"ids reach {size - 1} for only {len(set(all_ids))} tokens")
    tokens = [""] * size
    for token_id, token in entries.items():
        tokens[token_id] = token
    for token_id, content, _ in added:
        tokens[token_id] = content  # the tokenizer's id_to_token consults added tokens first
    return tokens


def vocab_from_tokenizer_json(path: str | Path) -> Vocabulary:
    """The vocabulary of an HF ``tokenizer.json`` (WordPiece, BPE, Unigram, WordLevel), read with ``json``."""
    path = Path(path)
    doc = _load_json(path, MAX_TOKENIZER_JSON_BYTES)
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise ModelFileError(path, "not an HF tokenizer.json (no model object)")
    model: dict[str, Any] = doc["model"]
    model_type = _model_type(model, path)
    kind, form = _kind_and_form(doc, model, model_type, path)
    entries = _model_vocab(model, model_type, path)
    added = _added_tokens(doc, path)
    tokens = _assemble_ids(entries, added, path)
    # An added token outside the model's vocabulary is matched against raw text: it is literal text.
    literal = frozenset(i for i, content, _ in added if entries.get(i) != content)
    special = {i for i, _, is_special in added if is_special}  # id holes are "" and special by name
    unk = _unknown_id(model, model_type, {t: i for i, t in entries.items()})
    if unk is not None and 0 <= unk < len(tokens):
        special.add(unk)
    return _build(tokens, kind, str(path), normaliser=form, extra_special=special, literal=literal)


# ---------------------------------------------------------------------------------------------------
# SentencePiece tokenizer.model (protobuf)
# ---------------------------------------------------------------------------------------------------

_VARINT: Final = 0
_FIXED64: Final = 1
_LENGTH: Final = 2
_FIXED32: Final = 5


class _Wire:
    """A protobuf wire-format cursor over one message; every length is checked against what is left."""

    def __init__(self, data: memoryview, path: Path, what: str) -> None:
        self.data = data
        self.pos = 0
        self.path = path
        self.what = what

    def fail(self, problem: str) -> ModelFileError:
        return ModelFileError(
            self.path, f"malformed SentencePiece protobuf ({self.what}, byte {self.pos}): {problem}"
        )

    def varint(self) -> int:
        value = 0
        for shift in range(0, 70, 7):
            if self.pos >= len(self.data):
                raise self.fail("truncated varint")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
        raise self.fail("varint longer than 10 bytes")

    def take(self, count: int) -> memoryview:
        if count > len(self.data) - self.pos:
            raise self.fail(f"field claims {count} bytes but only {len(self.data) - self.pos} remain")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def fields(self) -> Iterator[tuple[int, int, int | memoryview]]:
        """``(field number, wire type, value)``: an int for varints, the raw bytes otherwise."""
        while self.pos < len(self.data):
            key = self.varint()
            number, wire_type = key >> 3, key & 7
            if number == 0:
                raise self.fail("field number 0")
            if wire_type == _VARINT:
                yield number, wire_type, self.varint()
            elif wire_type == _FIXED64:
                yield number, wire_type, self.take(8)
            elif wire_type == _LENGTH:
                yield number, wire_type, self.take(self.varint())
            elif wire_type == _FIXED32:
                yield number, wire_type, self.take(4)
            else:
                # Groups (3, 4) are deprecated and unused by SentencePiece; 6 and 7 do not exist.
                raise self.fail(f"unsupported wire type {wire_type}")


def _parse_piece(data: memoryview, path: Path, index: int) -> tuple[str, int]:
    """One ``SentencePiece`` message → (piece, type)."""
    wire = _Wire(data, path, f"piece {index}")
    piece: str | None = None
    piece_type = TYPE_NORMAL  # the proto2 default
    for number, wire_type, value in wire.fields():
        if number == 1:
            if not isinstance(value, memoryview) or wire_type != _LENGTH:
                raise wire.fail("piece is not a string")
            try:
                piece = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise wire.fail("piece is not UTF-8") from None
        elif number == 2 and wire_type != _FIXED32:
            raise wire.fail("score is not a float")
        elif number == 3:
            if not isinstance(value, int) or not TYPE_NORMAL <= value <= TYPE_BYTE:
                raise wire.fail(f"invalid piece type {value if isinstance(value, int) else '(not a varint)'}")
            piece_type = value
    if piece is None:
        raise wire.fail("no piece string")
    return piece, piece_type


def _looks_like_tiktoken(data: bytes) -> bool:
    """Llama 3 and others ship a tiktoken ranks file (``base64 rank`` lines) under the same name."""
    first_line = data[:512].split(b"\n", 1)[0]
    return re.fullmatch(rb"[A-Za-z0-9+/=]+ \d+\r?", first_line) is not None


def vocab_from_sentencepiece_model(path: str | Path) -> Vocabulary:
    """The pieces of a SentencePiece ``tokenizer.model`` (ModelProto), read by a bounded wire parser."""
    path = Path(path)
    data = _read_bounded(path, MAX_SENTENCEPIECE_BYTES)
    if _looks_like_tiktoken(data):
        raise UnsupportedFormatError(path, "a tiktoken BPE ranks file, not a SentencePiece model")
    pieces: list[str] = []
    types: list[int] = []
    wire = _Wire(memoryview(data), path, "ModelProto")
    for number, wire_type, value in wire.fields():
        if number != 1:
            continue  # trainer/normaliser specs and self-test data: already bounds-checked by fields()
        if wire_type != _LENGTH or not isinstance(value, memoryview):
            raise wire.fail("pieces field is not a message")
        if len(pieces) >= MAX_TOKENS:
            raise wire.fail(f"more than {MAX_TOKENS} pieces")
        piece, piece_type = _parse_piece(value, path, len(pieces))
        pieces.append(piece)
        types.append(piece_type)
    if not pieces:
        raise ModelFileError(path, "not a SentencePiece model: no pieces")
    return _build(pieces, "sentencepiece", str(path), types=types)


# ---------------------------------------------------------------------------------------------------
# Plain-text and JSON-list vocabularies
# ---------------------------------------------------------------------------------------------------


def vocab_from_vocab_txt(path: str | Path) -> Vocabulary:
    """A WordPiece ``vocab.txt``: one token a line, the line number is the id."""
    path = Path(path)
    tokens = _lines(_decode_utf8(_read_bounded(path, MAX_VOCAB_FILE_BYTES), path))
    if not tokens:
        raise ModelFileError(path, "the vocabulary is empty")
    return _build(tokens, "wordpiece", str(path))


def _guess_kind(tokens: Sequence[str]) -> str:
    """The family of an untyped token list, from its word-boundary markers (CTranslate2 vocabularies)."""
    marks = {
        "byte-bpe": sum(t.startswith("Ġ") for t in tokens),
        "sentencepiece": sum(t.startswith(WORD_START) for t in tokens),
        "wordpiece": sum(t.startswith("##") for t in tokens),
    }
    kind, count = max(marks.items(), key=lambda item: item[1])
    return kind if count else "bpe"


def vocab_from_ctranslate2_vocabulary(path: str | Path) -> Vocabulary:
    """A CTranslate2 ``vocabulary.txt`` (one token a line) or ``vocabulary.json`` (a list of tokens).

    The family is guessed from the word-boundary markers (``Ġ`` for Whisper's byte-level BPE, ``▁`` for
    SentencePiece models such as Marian or NLLB, ``##`` for WordPiece).
    """
    path = Path(path)
    if path.suffix == ".json":
        doc = _load_json(path, MAX_VOCAB_FILE_BYTES)
        if not isinstance(doc, list) or not all(isinstance(t, str) for t in doc):
            raise ModelFileError(path, "vocabulary.json is not a list of strings")
        tokens: list[str] = doc
    else:
        tokens = _lines(_decode_utf8(_read_bounded(path, MAX_VOCAB_FILE_BYTES), path))
    if not tokens:
        raise ModelFileError(path, "the vocabulary is empty")
    if len(tokens) > MAX_TOKENS:
        raise ModelFileError(path, f"{len(tokens)} tokens (more than {MAX_TOKENS})")
    return _build(tokens, _guess_kind(tokens), str(path))


# ---------------------------------------------------------------------------------------------------
# GGUF metadata
# ---------------------------------------------------------------------------------------------------

#: ``tokenizer.ggml.model`` → (kind, normaliser). llama.cpp's ``bert`` tokens are already in normal form.
_GGUF_MODELS: Final[Mapping[str, tuple[str, Normaliser]]] = {
    "gpt2": ("byte-bpe", _byte_level_form),
    "llama": ("sentencepiece", _sentencepiece_form),
    "t5": ("unigram", _sentencepiece_form),
    "bert": ("wordpiece", _sentencepiece_form),
}


def _gguf_string(value: Any, source: str, what: str) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError(source, f"{what} is not UTF-8") from None
    if not isinstance(value, str):
        raise ModelFileError(source, f"{what} is {type(value).__name__}, not a string")
    return value


def vocab_from_gguf_metadata(meta: Mapping[str, Any], source: str) -> Vocabulary:
    """The vocabulary in a GGUF file's metadata (``tokenizer.ggml.model``, ``.tokens``, ``.token_type``)."""
    if "tokenizer.ggml.model" not in meta or "tokenizer.ggml.tokens" not in meta:
        raise ModelFileError(source, "GGUF metadata holds no tokenizer.ggml.model / tokenizer.ggml.tokens")
    model = _gguf_string(meta["tokenizer.ggml.model"], source, "tokenizer.ggml.model")
    if model not in _GGUF_MODELS:
        raise UnsupportedFormatError(source, f"GGUF tokenizer model {model!r} is not supported")
    kind, form = _GGUF_MODELS[model]
    raw_tokens = meta["tokenizer.ggml.tokens"]
    if isinstance(raw_tokens, str | bytes) or not isinstance(raw_tokens, Iterable):
        raise ModelFileError(source, "tokenizer.ggml.tokens is not a list")
    tokens = [_gguf_string(t, source, "a token") for t in raw_tokens]
    if not tokens or len(tokens) > MAX_TOKENS:
        raise ModelFileError(source, f"tokenizer.ggml.tokens holds {len(tokens)} tokens")
    raw_types = meta.get("tokenizer.ggml.token_type")
    types = None if raw_types is None else _int_types(raw_types, len(tokens), source)
    return _build(tokens, kind, source, normaliser=form, types=types)


# ---------------------------------------------------------------------------------------------------
# Model folders
# ---------------------------------------------------------------------------------------------------

#: Where a model folder keeps its vocabulary, most informative first.
_FOLDER_FILES: Final[tuple[tuple[str, Callable[[Path], Vocabulary]], ...]] = (
    ("tokenizer.json", vocab_from_tokenizer_json),
    ("tokenizer.model", vocab_from_sentencepiece_model),
    ("vocab.txt", vocab_from_vocab_txt),
    ("vocabulary.txt", vocab_from_ctranslate2_vocabulary),
    ("vocabulary.json", vocab_from_ctranslate2_vocabulary),
)


def load_vocabulary(folder: Path) -> Vocabulary | None:
    """The vocabulary of a model folder (a file stands for its folder), or None if it holds none.

    Looks for ``tokenizer.json``, then ``tokenizer.model``, then ``vocab.txt``, then CTranslate2's
    ``vocabulary.txt`` / ``vocabulary.json``. GGUF files carry their own vocabulary in their metadata
    (:func:`vocab_from_gguf_metadata`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        folder = folder.parent
    for name, reader in _FOLDER_FILES:
        candidate = folder / name
        if candidate.is_file():
            return reader(candidate)
    return None
