"""A request as a short list of integers (to keep in detector rows) and as a dense vector (to test).

What a window test compares is *what was asked and how*: the prompt's topic (hashed content-word
buckets, :data:`~.featurize.TOPIC_BUCKETS`), how strongly it asks for the model's reasoning (the
elicitation score), and the harvesting parameters (log-probabilities or several choices, a nonce, and
the joint ``max_tokens`` × ``temperature`` class: one client's fixed settings are one cell, where a
crowd of users spreads over many). Each block of the dense vector has norm ≤ 1 so that no block drowns
the others in a Gaussian kernel.

Code layout: ``[elicitation × 100, flags, max_tokens class, temperature class, *topic buckets]``.
"""

from __future__ import annotations

import math

import numpy as np

from modeltrace.monitor.events import ApiRequest
from modeltrace.monitor.featurize import TOPIC_BUCKETS, RequestFeatures

_MAX_TOKENS_EDGES = (512, 1024, 2048, 4096)  # classes: unset, ≤512, ≤1024, ≤2048, ≤4096, more
_TEMPERATURE_EDGES = (0.0, 0.5, 0.8, 1.0)  # classes: unset, 0, ≤0.5, ≤0.8, ≤1.0, more
_CLASSES = 6
WIDTH = TOPIC_BUCKETS + 3 + _CLASSES * _CLASSES


def _bucket(value: float | None, edges: tuple[float, ...]) -> int:
    if value is None:
        return 0
    for index, edge in enumerate(edges):
        if value <= edge:
            return index + 1
    return len(edges) + 1


def request_code(event: ApiRequest, features: RequestFeatures) -> list[int]:
    flags = int(features.harvest) | int(features.nonce is not None) << 1
    return [
        round(features.prompt.elicitation * 100),
        flags,
        _bucket(event.max_tokens, _MAX_TOKENS_EDGES),
        _bucket(event.temperature, _TEMPERATURE_EDGES),
        *features.prompt.buckets,
    ]


def dense(codes: list[list[int]]) -> np.ndarray:
    """Rows of width :data:`WIDTH` for a list of codes."""
    out = np.zeros((len(codes), WIDTH))
    for row, code in enumerate(codes):
        elicitation, flags, max_tokens, temperature, *buckets = code
        if buckets:
            weight = 1.0 / math.sqrt(len(buckets))
            for bucket in buckets:
                out[row, bucket] = weight
        base = TOPIC_BUCKETS
        out[row, base] = elicitation / 100.0
        out[row, base + 1] = flags & 1
        out[row, base + 2] = (flags >> 1) & 1
        out[row, base + 3 + max_tokens * _CLASSES + temperature] = 1.0
    return out
