"""Bounds on everything ingestion reads, so a hostile log costs bounded memory and time per record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Every length ingestion reads is bounded by one of these.

    ``max_record_chars`` bounds one JSON record: a line, or one element of a ``Records``/``items``/
    ``resourceSpans`` array (a whole CloudTrail file may be larger; its array is streamed element by
    element). A longer record is skipped without being held in memory and reported as
    ``record_too_large``. Text fields are truncated to their bound after hashing the whole text.
    """

    max_record_chars: int = 8 * 1024 * 1024
    max_prompt_chars: int = 8192
    max_completion_chars: int = 2048
    max_field_chars: int = 1024
    max_context_keys: int = 64
    chunk_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if self.max_record_chars < 1024 or self.chunk_bytes < 4096:
            raise ValueError("max_record_chars must be ≥ 1024 and chunk_bytes ≥ 4096")


DEFAULT_LIMITS = IngestLimits()
