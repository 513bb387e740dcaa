"""Per-request features, computed once per event and shared by every detector.

Why a stage of its own: several detectors read the same things off a request (the reasoning-elicitation
score, the nonce, the prompt template, its content words, the /24, the request fingerprint); computed
per detector, the chunk scorer alone ran twice per event and was most of the run time. Text features
depend only on the prompt with its nonce masked, so they are memoised per such *template* (bounded): a
harvester's prompts differ only in the nonce, an eval harness repeats its items, a RAG app wraps few
questions in one frame.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from modeltrace.monitor.elicitation import SCORER
from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.features import (
    find_nonces,
    piece_chunks,
    pieces,
    skeleton_tail,
    subnet,
    topic_tokens,
    word_tokens,
)

# a request whose best chunk is this close to an elicitation prototype counts as one (cot.py's τ)
ELICITATION_THRESHOLD = 0.4
PROXY_NETWORKS = frozenset({"residential", "mobile", "hosting"})
# hashed content-word buckets: the coarse "what is it about" that coverage and window tests read
TOPIC_BUCKETS = 64
SKELETON_WORDS = 4  # the template key: the prompt's last four words
# sampling parameters (of max_tokens, temperature, n, logprobs, top_logprobs) a request must set
# explicitly for its fingerprint to name one script; SDK defaults are shared by thousands of customers
SCRIPT_PARAMETERS = 3


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    """What a prompt template says, whatever nonce it carried."""

    skeleton: str | None
    elicitation: float
    family: str | None
    buckets: tuple[int, ...]  # distinct content-word buckets, sorted
    words: tuple[str, ...]  # distinct content words, sorted (what the coverage detector reads)


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    prompt: PromptFeatures
    nonce: str | None
    subnet: str | None
    fingerprint: str
    # the fingerprint as a campaign link, when it is specific enough to name one script (≥
    # SCRIPT_PARAMETERS sampling parameters set explicitly, :func:`names_one_script`)
    campaign_link: str | None
    elicits: bool
    harvest: bool  # log-probabilities or several choices requested
    proxy: bool  # residential, mobile or hosting exit


_NO_PROMPT = PromptFeatures(None, 0.0, None, (), ())


@dataclass(slots=True)  # not frozen: private, and a frozen dataclass costs 1 µs more to build
class _Piece:
    """What one of a template's :func:`~.features.pieces` adds to its :class:`PromptFeatures`."""

    elicitation: float  # best chunk score of the piece
    prototype: int  # that chunk's prototype index, -1 if none
    count: int  # its words (the skeleton needs ≥ 2 × SKELETON_WORDS in the whole template)
    tail: tuple[str, ...]  # its last SKELETON_WORDS words
    skeleton: str | None  # the skeleton of those, if it has SKELETON_WORDS words
    words: frozenset[str]  # its content words
    buckets: frozenset[int]  # their topic buckets


def names_one_script(link: str) -> bool:
    """Whether a link key is a request fingerprint specific enough to name one script (what
    :attr:`RequestFeatures.campaign_link` holds): ``fp:<user agent>|max_tokens|temperature|n|logprobs|
    top_logprobs`` with at least ``SCRIPT_PARAMETERS`` of the five set. Read from the right, so a user
    agent holding ``|`` cannot pass for parameters."""
    if not link.startswith("fp:"):
        return False
    parts = link.rsplit("|", 5)
    return len(parts) == 6 and sum(part != "None" for part in parts[1:]) >= SCRIPT_PARAMETERS


def _skeleton(parts: list[_Piece], count: int) -> str | None:
    """:func:`~.features.skeleton_of_masked` of a template from its pieces and its word count."""
    if count < 2 * SKELETON_WORDS:
        return None
    tail: tuple[str, ...] = ()
    for part in reversed(parts):  # the last words may span pieces that hold fewer than four
        if not tail and part.skeleton is not None:  # the usual case: the last piece with words has four
            return part.skeleton
        tail = part.tail + tail
        if len(tail) >= SKELETON_WORDS:
            break
    return skeleton_tail(tail[-SKELETON_WORDS:])


def _piece_features(piece: str) -> _Piece:
    """A piece's features (its chunk scores come from the scorer's memo where it has them)."""
    best, pid = SCORER.best_of(piece_chunks(piece))
    tokens = word_tokens(piece)
    tail = tuple(tokens[-SKELETON_WORDS:])
    skeleton = skeleton_tail(tail) if len(tail) == SKELETON_WORDS else None
    words = frozenset(topic_tokens(tokens))
    buckets = frozenset([zlib.crc32(w.encode()) % TOPIC_BUCKETS for w in words])
    return _Piece(best, pid, len(tokens), tail, skeleton, words, buckets)


class Featurizer:
    """``features(event)`` for every API request; memoises template features (cleared when full)."""

    def __init__(self, cache_size: int = 1 << 17) -> None:
        self._cache: dict[str, PromptFeatures] = {}
        self._pieces: dict[str, _Piece] = {}
        self._cache_size = cache_size

    def prompt(self, text: str | None) -> tuple[PromptFeatures, str | None]:
        """(template features, the first nonce) of a prompt."""
        if not text:
            return _NO_PROMPT, None
        found, masked = find_nonces(text.lower())
        cached = self._cache.get(masked)
        if cached is None:
            cached = self._template(masked)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[masked] = cached
        return cached, found

    def _template(self, masked: str) -> PromptFeatures:
        """Features of a template not in the memo (lower-cased, nonces masked), from those of its pieces.

        Equal to scoring the whole text: the best chunk is the first of the best piece, and the words of
        the text are those of its pieces in order (pieces are cut at non-word characters).
        """
        best, best_pid, count = 0.0, -1, 0
        words: set[str] = set()
        buckets: set[int] = set()
        parts = [self._piece(piece) for piece in pieces(masked)]
        for part in parts:
            if not part.count:  # no words (blank, or between two stops): no score, no content
                continue
            if part.elicitation > best:
                best, best_pid = part.elicitation, part.prototype
            count += part.count
            words |= part.words
            buckets |= part.buckets
        family = SCORER.family(best_pid)
        return PromptFeatures(
            _skeleton(parts, count), best, family, tuple(sorted(buckets)), tuple(sorted(words))
        )

    def _piece(self, piece: str) -> _Piece:
        """A piece's features, memoised: templates that differ in one sentence share all the others."""
        part = self._pieces.get(piece)
        if part is None:
            part = _piece_features(piece)
            if len(self._pieces) >= self._cache_size:
                self._pieces.clear()
            self._pieces[piece] = part
        return part

    def features(self, event: ApiRequest) -> RequestFeatures:
        prompt, nonce = self.prompt(event.prompt_text)
        fingerprint = (
            f"{event.user_agent}|{event.max_tokens}|{event.temperature}|{event.n}|"
            f"{event.logprobs}|{event.top_logprobs}"
        )
        explicit = (event.max_tokens, event.temperature, event.n, event.logprobs, event.top_logprobs)
        specific = len(explicit) - explicit.count(None) >= SCRIPT_PARAMETERS
        return RequestFeatures(
            prompt=prompt,
            nonce=nonce,
            subnet=subnet(event.source_ip),
            fingerprint=fingerprint,
            campaign_link="fp:" + fingerprint if specific else None,
            elicits=prompt.elicitation >= ELICITATION_THRESHOLD,
            harvest=bool(event.logprobs) or (event.n or 1) > 1,
            proxy=event.network_type in PROXY_NETWORKS,
        )
