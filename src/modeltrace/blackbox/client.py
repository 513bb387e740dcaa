"""An OpenAI-compatible HTTP client for probing endpoints: retries, backoff, a concurrency limit,
validated responses and a hash-chained transcript that makes runs resumable.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from modeltrace.blackbox.transcript import Transcript
from modeltrace.errors import ModeltraceError

__all__ = [
    "Client",
    "Endpoint",
    "EndpointError",
    "MalformedResponseError",
    "RetriesExhaustedError",
]


class EndpointError(ModeltraceError):
    """An endpoint refused a request (4xx other than 429) or could not be used."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class MalformedResponseError(EndpointError):
    """An endpoint answered something that is not a valid OpenAI-compatible response."""


class RetriesExhaustedError(EndpointError):
    """Every retry of a request failed (429, 5xx, timeouts or connection errors)."""


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible API, ``base_url`` like ``https://host/v1``; key read from ``api_key_env``."""

    base_url: str
    model: str = "default"
    api_key_env: str | None = None

    def ident(self) -> dict[str, str]:
        return {"base_url": self.base_url.rstrip("/"), "model": self.model}


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _need(cond: bool, what: str, url: str) -> None:
    if not cond:
        raise MalformedResponseError(f"{url}: malformed response: {what}")


def validate_response(body: Any, chat: bool, url: str) -> dict[str, Any]:
    """Check the parts of a (chat) completion response that probes read; raise on anything else."""
    _need(isinstance(body, dict), "top level is not a JSON object", url)
    choices = body.get("choices")
    _need(isinstance(choices, list) and len(choices) > 0, "no 'choices' list", url)
    for i, choice in enumerate(choices):
        _need(isinstance(choice, dict), f"choices[{i}] is not an object", url)
        if chat:
            msg = choice.get("message")
            _need(isinstance(msg, dict), f"choices[{i}].message missing", url)
            _need(
                isinstance(msg.get("content"), str | None), f"choices[{i}].message.content not a string", url
            )
        else:
            _need(isinstance(choice.get("text"), str), f"choices[{i}].text missing or not a string", url)
    usage = body.get("usage")
    if usage is not None:
        _need(isinstance(usage, dict), "'usage' is not an object", url)
        for key in ("prompt_tokens", "completion_tokens"):
            value = usage.get(key)
            _need(value is None or (isinstance(value, int) and value >= 0), f"usage.{key} not a count", url)
    return body  # type: ignore[no-any-return]


class Client:
    """Sends completion requests to one endpoint.

    Retries 429/5xx, timeouts and connection errors up to ``max_retries`` times with exponential backoff
    (``backoff * 2**attempt``, capped at ``max_backoff``), waiting at least ``Retry-After`` when the
    server sends it (a wait above ``max_backoff`` fails at once: the caller should come back later).
    At most ``concurrency`` requests are in flight. With a transcript, recorded responses are reused.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        transcript: Transcript | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.transcript = transcript
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.concurrency = max(1, concurrency)
        self._sleep = sleep
        self._slots = threading.Semaphore(self.concurrency)
        self._count_lock = threading.Lock()
        self.sent = 0  #: HTTP requests sent (retries included)
        self.reused = 0  #: answers taken from the transcript
        self.answered = 0  #: successful answers (fresh or reused)
        headers = {"Content-Type": "application/json"}
        if endpoint.api_key_env:
            key = os.environ.get(endpoint.api_key_env)
            if not key:
                raise EndpointError(f"environment variable {endpoint.api_key_env} (API key) is not set")
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(
            base_url=endpoint.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=self.concurrency),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public calls ---------------------------------------------------------------------------------
    def complete(self, prompt: str, **params: Any) -> dict[str, Any]:
        """``POST /completions``; returns the validated response body."""
        return self.request("completions", {"model": self.endpoint.model, "prompt": prompt, **params})

    def chat(self, messages: Sequence[dict[str, str]], **params: Any) -> dict[str, Any]:
        """``POST /chat/completions``; returns the validated response body."""
        body = {"model": self.endpoint.model, "messages": list(messages), **params}
        return self.request("chat/completions", body)

    def map_complete(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Many ``complete(**r)`` calls, up to ``concurrency`` at a time, answers in order."""
        if self.concurrency == 1 or len(requests) <= 1:
            return [self.complete(**r) for r in requests]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda r: self.complete(**r), requests))

    # --- machinery ------------------------------------------------------------------------------------
    def request(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        ident = self.endpoint.ident()
        url = f"{ident['base_url']}/{path}"
        chat = path.startswith("chat")
        if self.transcript is not None:
            old = self.transcript.recorded(ident, path, body)
            if old is not None:
                with self._count_lock:
                    self.reused += 1
                    self.answered += 1
                return old
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            wait = min(self.max_backoff, self.backoff * 2**attempt)
            status: int | None = None
            with self._slots:
                with self._count_lock:
                    self.sent += 1
                try:
                    resp = self._http.post(path, json=body)
                except httpx.TransportError as exc:
                    last_problem = f"{type(exc).__name__}: {exc}"
                    self._log(ident, path, body, None, last_problem)
                    if attempt < self.max_retries:
                        self._sleep(wait)
                    continue
            status = resp.status_code
            if status == 429 or status >= 500:
                last_problem = f"HTTP {status}"
                self._log(ident, path, body, status, f"{last_problem}: {resp.text[:200]}")
                after = _retry_after(resp.headers.get("Retry-After"))
                if after is not None:
                    if after > self.max_backoff:
                        raise RetriesExhaustedError(
                            f"{url}: HTTP {status} with Retry-After {after:.0f}s (more than the "
                            f"{self.max_backoff:.0f}s allowed); re-run later to resume",
                            status,
                        )
                    wait = max(wait, after)
                if attempt < self.max_retries:
                    self._sleep(wait)
                continue
            if status >= 400:
                self._log(ident, path, body, status, resp.text[:500])
                raise EndpointError(f"{url}: HTTP {status}: {resp.text[:300]}", status)
            try:
                data = resp.json()
            except ValueError:
                self._log(ident, path, body, status, f"not JSON: {resp.text[:200]}")
                raise MalformedResponseError(f"{url}: malformed response: body is not JSON", status) from None
            try:
                valid = validate_response(data, chat, url)
            except MalformedResponseError as exc:
                self._log(ident, path, body, status, str(exc))
                raise
            if self.transcript is not None:
                self.transcript.append(ident, path, body, status=status, response=valid)
            with self._count_lock:
                self.answered += 1
            return valid
        raise RetriesExhaustedError(
            f"{url}: gave up after {self.max_retries + 1} attempts (last: {last_problem}); "
            "a re-run with the same transcript resumes without repeating answered queries"
        )

    def _log(
        self, ident: dict[str, str], path: str, body: dict[str, Any], status: int | None, err: str
    ) -> None:
        if self.transcript is not None:
            self.transcript.append(ident, path, body, status=status, error=err)
