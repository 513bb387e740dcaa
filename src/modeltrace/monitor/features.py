"""Per-request features shared by the detectors: nonces, prompt skeletons, hashed character n-grams.

Everything here is a pure function of one event's fields, cheap enough for every request.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib

# A cache-busting nonce: a 6–16 character hex token holding at least one digit and one letter, the
# shape harvesting scripts prepend or append so the provider's cache never answers (``#a18336 |``,
# ``[ref:16b195]``). Unique per request for a harvester; a CI suite's run id repeats all night.
NONCE = re.compile(r"(?<![0-9a-z])(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{6,16}(?![0-9a-z])")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+", re.UNICODE)
_SPLIT = re.compile(r"[.?!\n|:;]+|(?<=[。？！])")


def nonce(text: str | None) -> str | None:
    """The first hex nonce in ``text``, if any."""
    if not text:
        return None
    match = NONCE.search(text.lower())
    return match.group(0) if match else None


def mask_nonces(lower: str) -> str:
    """``lower`` (already lower-cased) with every nonce replaced by ``#``: the prompt's template."""
    return NONCE.sub("#", lower)


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
    tokens = _WORD.findall(_DIGITS.sub("0", masked))
    if len(tokens) < 2 * words:
        return None
    return " ".join(tokens[-words:])


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
    return {w for w in _WORD.findall(lower) if len(w) >= 4 and w not in _STOPWORDS and not w.isdigit()}


def stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def padded_words(text: str) -> str:
    """Lower-cased words joined by single spaces, with a space at each end (the n-gram source)."""
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def gram_list(text: str, n: int = 4) -> list[str]:
    """Character n-grams of :func:`padded_words`, as strings (exact, where :func:`char_ngrams` hashes)."""
    padded = padded_words(text)
    return [padded[i : i + n] for i in range(len(padded) - n + 1)]


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
    for piece in _SPLIT.split(text):
        words = piece.split()
        for i in range(0, len(words), max_words):
            if words[i : i + max_words]:
                out.append(" ".join(words[i : i + max_words]))
    return out


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
