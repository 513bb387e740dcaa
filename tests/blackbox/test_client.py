"""The client against a real local server that misbehaves on purpose."""

from __future__ import annotations

import pytest

from modeltrace.blackbox import (
    Client,
    Endpoint,
    EndpointError,
    MalformedResponseError,
    RetriesExhaustedError,
    Transcript,
    verify_transcript,
)
from modeltrace.blackbox.client import _retry_after
from modeltrace.errors import ModeltraceError

from .conftest import Script


def client(url: str, sleeps: list[float], **kw: object) -> Client:
    opts = {"backoff": 0.01, "max_backoff": 1.0, "max_retries": 3, "timeout": 2.0, **kw}
    return Client(Endpoint(url, "m"), sleep=lambda s: sleeps.append(s), **opts)  # type: ignore[arg-type]


def test_retries_429_and_500_with_backoff_and_retry_after(flaky: tuple[str, Script]) -> None:
    url, script = flaky
    script.actions = [("status", (429, "0.05")), ("status", (500, None)), ("status", (503, None))]
    sleeps: list[float] = []
    with client(url, sleeps) as c:
        answer = c.complete("hi", max_tokens=1)
    assert answer["choices"][0]["text"] == "ok"
    assert script.hits == 4 and c.sent == 4
    # Retry-After 0.05 beats the 0.01 backoff; then exponential 0.02, 0.04 without it.
    assert sleeps == pytest.approx([0.05, 0.02, 0.04])


def test_retry_after_too_long_fails_at_once(flaky: tuple[str, Script]) -> None:
    url, script = flaky
    script.actions = [("status", (429, "3600"))]
    with client(url, []) as c, pytest.raises(RetriesExhaustedError, match="Retry-After 3600"):
        c.complete("hi")
    assert script.hits == 1


def test_gives_up_after_max_retries(flaky: tuple[str, Script]) -> None:
    url, script = flaky
    script.actions = [("status", (500, None))] * 10
    sleeps: list[float] = []
    with client(url, sleeps) as c, pytest.raises(RetriesExhaustedError, match="4 attempts"):
        c.complete("hi")
    assert script.hits == 4 and len(sleeps) == 3


def test_client_error_is_not_retried(flaky: tuple[str, Script]) -> None:
    url, script = flaky
    script.actions = [("status", (400, None))]
    with client(url, []) as c, pytest.raises(EndpointError, match="HTTP 400") as info:
        c.complete("hi")
    assert info.value.status == 400 and script.hits == 1
    assert isinstance(info.value, ModeltraceError)


@pytest.mark.parametrize(
    "action",
    [
        ("garbage", None),
        ("json", {"choices": []}),
        ("json", {"nothing": 1}),
        ("json", {"choices": [{"txt": "x"}]}),
        ("json", {"choices": [{"text": "x"}], "usage": {"prompt_tokens": "3"}}),
        ("json", [1, 2]),
    ],
)
def test_malformed_responses_raise_clear_error(flaky: tuple[str, Script], action: tuple[str, object]) -> None:
    url, script = flaky
    script.actions = [action]
    with client(url, []) as c, pytest.raises(MalformedResponseError, match="malformed response"):
        c.complete("hi")
    assert script.hits == 1  # not retried: a broken API does not heal


def test_timeout_is_retried(flaky: tuple[str, Script]) -> None:
    url, script = flaky
    script.actions = [("slow", 0.6)]
    sleeps: list[float] = []
    with client(url, sleeps, timeout=0.2) as c:
        assert c.complete("hi")["choices"][0]["text"] == "ok"
    assert len(sleeps) == 1 and c.sent == 2


def test_api_key_from_environment(flaky: tuple[str, Script], monkeypatch: pytest.MonkeyPatch) -> None:
    url, script = flaky
    monkeypatch.setenv("MT_TEST_KEY", "sk-secret")
    with Client(Endpoint(url, "m", "MT_TEST_KEY")) as c:
        c.complete("hi")
    assert script.headers[-1]["authorization"] == "Bearer sk-secret"
    monkeypatch.delenv("MT_TEST_KEY")
    with pytest.raises(EndpointError, match="MT_TEST_KEY"):
        Client(Endpoint(url, "m", "MT_TEST_KEY"))


def test_concurrency_limit_and_order(flaky: tuple[str, Script]) -> None:
    url, script = flaky
    with client(url, [], concurrency=3) as c:
        answers = c.map_complete([{"prompt": f"p{i}"} for i in range(9)])
    assert [a["echo"] for a in answers] == [f"p{i}" for i in range(9)]
    assert script.hits == 9


def test_server_dies_mid_run_then_rerun_resumes(tmp_path: object) -> None:
    from pathlib import Path

    from modeltrace.blackbox.serve import running_server

    from .conftest import flaky_app

    path = Path(str(tmp_path)) / "t.jsonl"
    script = Script()
    with running_server(flaky_app(script)) as url:
        port_url = url
        with client(url, [], transcript=Transcript(path)) as c:
            for i in range(3):
                c.complete(f"q{i}")
    # the server is gone: the run stops with a clear error, the answers so far are kept
    with client(port_url, [], transcript=Transcript(path), max_retries=1) as c:
        for i in range(3):
            c.complete(f"q{i}")  # reused from the transcript, no network
        assert c.reused == 3
        with pytest.raises(RetriesExhaustedError, match="resumes"):
            c.complete("q3")
    assert script.hits == 3
    assert verify_transcript(path) == 5  # 3 answers + 2 failed attempts, chained


def test_retry_after_http_date() -> None:
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert _retry_after("2.5") == 2.5
    assert _retry_after("soon") is None
