"""Per-request features shared by the detectors: nonces, prompt skeletons, hashed character n-grams.

Everything here is a pure function of one event's fields, cheap enough for every request.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Callable, Sequence
from operator import itemgetter

# A cache-busting nonce: a 6–16 character hex token holding at least one digit and one letter, the
# shape harvesting scripts prepend or append so the provider's cache never answers (``#a18336 |``,
# ``[ref:16b195]``). Unique per request for a harvester; a CI suite's run id repeats all night.
NONCE = re.compile(r"(?<![0-9a-z])(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{6,16}(?![0-9a-z])")
_ASCII_DIGIT = re.compile(r"[0-9]")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+", re.UNICODE)
_SPLIT = re.compile(r"[.?!\n|:;]+|(?<=[。？！])")
# _SPLIT for text without 。？！ (chunks() checks): the zero-width look-behind is tried at every position
# and makes the split 2.5 times slower, for text that rarely holds a CJK full stop
_SPLIT_ASCII = re.compile(r"[.?!\n|:;]+")


def nonce(text: str | None) -> str | None:
    """The first hex nonce in ``text``, if any."""
    if not text:
        return None
    match = _first_nonce(text.lower())
    return match.group(0) if match else None


def mask_nonces(lower: str) -> str:
    """``lower`` (already lower-cased) with every nonce replaced by ``#``: the prompt's template."""
    return find_nonces(lower)[1]


def find_nonces(lower: str) -> tuple[str | None, str]:
    """(:func:`nonce`, :func:`mask_nonces`) of lower-cased text, reading what precedes the nonce once."""
    match = _first_nonce(lower)
    if match is None:
        return None, lower
    # the rest is masked from the first nonce's end: no nonce starts right after another (the character
    # there is not [0-9a-z]), so the look-behind decides nothing differently in the slice
    start, end = match.span()
    return match.group(0), lower[:start] + "#" + NONCE.sub("#", lower[end:])


def _first_nonce(lower: str) -> re.Match[str] | None:
    # NONCE tries its look-around at every position; finding the first ASCII digit is several times
    # cheaper and half of all prompts have none. A nonce holds a digit and is at most 16 long, so it starts
    # at most 15 before the first digit (the look-behind still reads the text before ``pos``).
    digit = _ASCII_DIGIT.search(lower)
    if digit is None:
        return None
    return NONCE.search(lower, max(0, digit.start() - 15))


def skeleton(text: str | None, words: int = 4) -> str | None:
    """A prompt template key: nonces and numbers masked, case folded, the last few words.

    Templated traffic (a sweep's ``[topic] Task: … Provide an expert, exhaustive answer.``, a wrapper
    around natural questions) shares its tail while the middle changes.
    """
    if not text:
        return None
    return skeleton_of_masked(mask_nonces(text.lower()), words)


def skeleton_of_masked(masked: str, words: int = 4) -> str | None:
    """:func:`skeleton` of text that is already lower-cased with its nonces masked."""
    return skeleton_of_tokens(word_tokens(masked), words)


def word_tokens(lower: str) -> list[str]:
    """The ``\\w+`` words of lower-cased text (what :func:`skeleton_of_tokens`, :func:`topic_tokens` read)."""
    return _WORD.findall(lower)


def skeleton_of_tokens(tokens: list[str], words: int = 4) -> str | None:
    """:func:`skeleton_of_masked` from the masked text's :func:`word_tokens`."""
    if len(tokens) < 2 * words:
        return None
    return skeleton_tail(tokens[-words:])


def skeleton_tail(tail: Sequence[str]) -> str:
    """The skeleton made of its last words (numbers masked).

    Numbers are masked in the kept words only: a digit is a word character, so masking digit runs never
    moves a word boundary, and one ``sub`` over four words is cheaper than one over the whole prompt.
    """
    return _DIGITS.sub("0", " ".join(tail))


# Words that say nothing about a prompt's subject: the frames every persona and template wraps around
# the task. Kept short on purpose; the hashed buckets average the rest out.
_STOPWORD_TEXT = """
about above after again against also answer because been before being below between both could does
doing down during each explain from further give have having help here into just like make more most
need only other over please provide same should show some such tell than that their them then there
these they this those through under until very want what when where which while will with would write
your
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def topic_words(lower: str) -> set[str]:
    """Content words of lower-cased text (four letters or more, not a frame word): what it is about."""
    return topic_tokens(_WORD.findall(lower))


def topic_tokens(tokens: list[str]) -> set[str]:
    """:func:`topic_words` from the text's :func:`word_tokens`."""
    return {w for w in tokens if len(w) >= 4 and w not in _STOPWORDS and not w.isdigit()}


def stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def padded_words(text: str) -> str:
    """Lower-cased words joined by single spaces, with a space at each end (the n-gram source)."""
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def gram_list(text: str, n: int = 4) -> list[str]:
    """Character n-grams of :func:`padded_words`, as strings (exact, where :func:`char_ngrams` hashes)."""
    return list(windows(padded_words(text), n))


def windows(text: str, n: int = 4) -> Sequence[str]:
    """Every ``n`` characters long substring of ``text``, in order (:func:`gram_list` of padded text)."""
    count = len(text) - n + 1
    if n != 4 or not 1 < count < _MAX_GETTER:
        return [text[i : i + n] for i in range(count)]
    # one itemgetter of all the slices cuts them in C, ~1.7x faster than a comprehension of slices
    getter = _GETTERS[count]
    if getter is None:
        getter = _GETTERS[count] = itemgetter(*[slice(i, i + 4) for i in range(count)])
    grams: tuple[str, ...] = getter(text)
    return grams


# windows()' itemgetters of 4-grams by window count, made on first use (a chunk of 40 words is about 300)
_MAX_GETTER = 1024
_GETTERS: list[Callable[[str], tuple[str, ...]] | None] = [None] * _MAX_GETTER


def char_ngrams(text: str, n: int = 4) -> dict[int, float]:
    """L2-normalised counts of hashed character n-grams (words padded with spaces), as a sparse dict."""
    padded = padded_words(text)
    counts: dict[int, float] = {}
    for i in range(max(0, len(padded) - n + 1)):
        key = zlib.crc32(padded[i : i + n].encode("utf-8", "surrogatepass")) & 0xFFFFF
        counts[key] = counts.get(key, 0.0) + 1.0
    norm = math.sqrt(sum(v * v for v in counts.values())) or 1.0
    return {k: v / norm for k, v in counts.items()}


def chunks(text: str, max_words: int = 40) -> list[str]:
    """Sentence-like pieces of at most ``max_words`` words (the unit the CoT scorer reads)."""
    out: list[str] = []
    for piece in pieces(text):
        out += piece_chunks(piece, max_words)
    return out


def pieces(text: str) -> list[str]:
    """``text`` cut at sentence ends and separators: :func:`chunks` before the whitespace and length cut.

    Every ``\\w+`` word of ``text`` lies inside one piece (the cuts are at non-word characters).
    """
    cjk = "。" in text or "？" in text or "！" in text
    return (_SPLIT if cjk else _SPLIT_ASCII).split(text)


def piece_chunks(piece: str, max_words: int = 40) -> list[str]:
    """The :func:`chunks` of one of :func:`pieces`: its words, single-spaced, in runs of ``max_words``."""
    words = piece.split()
    if 0 < len(words) <= max_words:  # the usual piece, one chunk
        return [" ".join(words)]
    # empty, long, or a max_words < 1 (left to range(), which rejects 0 and makes nothing of < 0)
    return [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]


def subnet(ip: str | None) -> str | None:
    """The /24 (IPv4) or /64 (IPv6, one household or host) of an address, as text."""
    if not ip:
        return None
    if ":" in ip:
        return ":".join(ip.split(":")[:4]) + "::/64"
    parts = ip.split(".")
    return ".".join(parts[:3]) + ".0/24" if len(parts) == 4 else None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
