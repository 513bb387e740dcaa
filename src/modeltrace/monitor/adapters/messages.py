"""Prompt, system prompt and completion text out of chat message lists, in the shapes APIs log them.

Handles OpenAI chat messages (``content`` as a string or a list of ``{"type": "text", "text": …}``
parts), Anthropic content blocks, and OpenTelemetry GenAI messages (``parts`` with ``content``).
The *prompt* is the last user message: what this request asks, as opposed to the conversation history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from modeltrace.monitor.adapters.fields import clean, plain_digest, sha256_hex

_SYSTEM_ROLES = ("system", "developer")
# json.loads(text) is this decoder's scanner plus a check that only whitespace follows: called directly,
# it skips the two Python layers json.loads adds to each attribute (the OTel spans carry several).
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def content_text(content: Any) -> str | None:
    """Text of one message's content: a string, or the text parts of a list (joined by newlines)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return None
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            value = part.get("text", part.get("content"))
            if isinstance(value, str):
                parts.append(value)
    return "\n".join(parts) if parts else None


def message_text(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    if "parts" in message:
        return content_text(message["parts"])
    return content_text(message.get("content"))


def last_user_text(messages: list[Any]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return None


def system_text(messages: list[Any]) -> str | None:
    texts = [
        text
        for message in messages
        if isinstance(message, dict) and message.get("role") in _SYSTEM_ROLES
        for text in (message_text(message),)
        if text is not None
    ]
    return "\n".join(texts) if texts else None


def maybe_json(value: Any) -> Any:
    """OTel allows structured attributes to be recorded as JSON text; decode those (bounded by the record)."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            decoded, end = _SCAN(value, 0)
        except (StopIteration, ValueError, RecursionError):
            return value
        if end == len(value) or _WHITESPACE.match(value, end).end() == len(value):  # type: ignore[union-attr]
            return decoded
    return value


def bounded(text: str, max_chars: int) -> tuple[str, str, int]:
    """(kept text, SHA-256 of the whole text, its length): hash first, then truncate."""
    whole = clean(text)
    return whole[:max_chars], sha256_hex(whole), len(whole)


def plain_bounded(
    text: str | None, max_chars: int, logged_digest: Any
) -> tuple[str | None, str | None, int | None]:
    """The fast paths' text field: :func:`bounded` of the text when the log has it, else only the digest
    the log carries instead (``fields.plain_digest``: AtypicalError for anything it would report)."""
    if text is not None:
        return bounded(text, max_chars)
    return None, plain_digest(logged_digest), None


def tools_digest(tools: Any) -> str:
    return sha256_hex(json.dumps(tools, sort_keys=True, ensure_ascii=True, default=str))
