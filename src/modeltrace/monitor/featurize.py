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
from modeltrace.monitor.features import NONCE, mask_nonces, skeleton_of_masked, subnet, topic_words

# a request whose best chunk is this close to an elicitation prototype counts as one (cot.py's τ)
ELICITATION_THRESHOLD = 0.4
PROXY_NETWORKS = frozenset({"residential", "mobile", "hosting"})
# hashed content-word buckets: the coarse "what is it about" that coverage and window tests read
TOPIC_BUCKETS = 64


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
    # the fingerprint as a campaign link, when it is specific enough to name one script (≥ 3 sampling
    # parameters set explicitly); SDK defaults are shared by thousands of unrelated customers
    campaign_link: str | None
    elicits: bool
    harvest: bool  # log-probabilities or several choices requested
    proxy: bool  # residential, mobile or hosting exit


_NO_PROMPT = PromptFeatures(None, 0.0, None, (), ())


class Featurizer:
    """``features(event)`` for every API request; memoises template features (cleared when full)."""

    def __init__(self, cache_size: int = 1 << 17) -> None:
        self._cache: dict[str, PromptFeatures] = {}
        self._cache_size = cache_size

    def prompt(self, text: str | None) -> tuple[PromptFeatures, str | None]:
        """(template features, the first nonce) of a prompt."""
        if not text:
            return _NO_PROMPT, None
        lower = text.lower()
        found = NONCE.search(lower)
        masked = mask_nonces(lower) if found else lower
        cached = self._cache.get(masked)
        if cached is None:
            score, family = SCORER.score(masked)
            words = sorted(topic_words(masked))
            buckets = sorted({zlib.crc32(w.encode()) % TOPIC_BUCKETS for w in words})
            cached = PromptFeatures(skeleton_of_masked(masked), score, family, tuple(buckets), tuple(words))
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[masked] = cached
        return cached, found.group(0) if found else None

    def features(self, event: ApiRequest) -> RequestFeatures:
        prompt, nonce = self.prompt(event.prompt_text)
        fingerprint = (
            f"{event.user_agent}|{event.max_tokens}|{event.temperature}|{event.n}|"
            f"{event.logprobs}|{event.top_logprobs}"
        )
        explicit = (event.max_tokens, event.temperature, event.n, event.logprobs, event.top_logprobs)
        specific = sum(value is not None for value in explicit) >= 3
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
