"""Loopback servers for the black-box tests: the toy models, and a server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from modeltrace.blackbox.serve import LocalModel, create_app, running_server
from modeltrace.blackbox.toyzoo import CASES, build_zoo, proxy_app
from modeltrace.zoo import cache_dir

from .toy import MERGES_B, noised, toy_model, toy_tensors, toy_tokenizer

GOOD = {"choices": [{"text": "ok", "index": 0}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


class Script:
    """What the flaky server answers next: a queue of actions, then ``GOOD``."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, Any]] = []
        self.hits = 0
        self.headers: list[dict[str, str]] = []


def flaky_app(script: Script) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Response:
        script.hits += 1
        script.headers.append(dict(request.headers))
        body = await request.json()
        action, arg = script.actions.pop(0) if script.actions else ("ok", 0)
        if action == "status":
            status, retry_after = cast(tuple[int, Any], arg)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return PlainTextResponse("busy", status_code=status, headers=headers)
        if action == "garbage":
            return PlainTextResponse("{not json", media_type="application/json")
        if action == "json":
            return JSONResponse(arg)
        if action == "slow":
            await asyncio.sleep(float(arg))  # the client times out first
        return JSONResponse({**GOOD, "echo": body.get("prompt")})

    return app


@pytest.fixture
def flaky() -> Iterator[tuple[str, Script]]:
    script = Script()
    with running_server(flaky_app(script)) as url:
        yield url, script


@pytest.fixture(scope="session")
def toy_servers() -> Iterator[dict[str, str]]:
    """URLs of: base, base again (another process would be the same), a lightly perturbed copy (1 %),
    a heavily noised copy (30 %), an independent model (other seed), and one with another tokenizer."""
    tok = toy_tokenizer()
    base = toy_tensors(len(tok), seed=0)
    models = {
        "base": toy_model(tensors=base, name="base"),
        "light": toy_model(tensors=noised(base, 0.01, seed=11), name="light"),
        "heavy": toy_model(tensors=noised(base, 0.3, seed=12), name="heavy"),
        "other": toy_model(seed=1, name="other"),
        "othertok": toy_model(seed=0, merges=MERGES_B, name="othertok"),
    }
    with (
        running_server(create_app(models["base"])) as u0,
        running_server(create_app(models["light"])) as u1,
        running_server(create_app(models["heavy"])) as u2,
        running_server(create_app(models["other"])) as u3,
        running_server(create_app(models["othertok"])) as u4,
    ):
        yield {"base": u0, "light": u1, "heavy": u2, "other": u3, "othertok": u4}


@pytest.fixture(scope="session")
def toy_zoo_models() -> dict[str, LocalModel]:
    """The trained toy zoo (:mod:`modeltrace.blackbox.toyzoo`), cached under the modeltrace cache."""
    return build_zoo(cache_dir() / "toyzoo")


@pytest.fixture(scope="session")
def toy_zoo(toy_zoo_models: dict[str, LocalModel]) -> Iterator[dict[str, str]]:
    """URLs of every zoo model served on loopback, and of every wrapper of :data:`toyzoo.CASES` as
    ``model+wrapper`` (a proxy in front of that model's server)."""
    with contextlib.ExitStack() as stack:
        urls = {n: stack.enter_context(running_server(create_app(m))) for n, m in toy_zoo_models.items()}
        for case in CASES:
            key = f"{case.model}+{case.wrapper}"
            if case.wrapper and key not in urls:
                urls[key] = stack.enter_context(running_server(proxy_app(urls[case.model], case.wrapper)))
        yield urls


class Gate:
    """Lets ``open_for`` more requests through to the upstream model, then answers 503 to every one."""

    def __init__(self, open_for: int) -> None:
        self.open_for = open_for
        self.passed = 0


def gate_app(upstream: str, gate: Gate) -> FastAPI:
    """A proxy that fails for good after ``gate.open_for`` requests (an API that goes down mid-run)."""
    import httpx

    app = FastAPI()
    client = httpx.Client(base_url=upstream.rstrip("/") + "/", timeout=60)

    @app.post("/v1/completions", response_model=None)
    def completions(body: dict[str, Any]) -> Response:
        if gate.passed >= gate.open_for:
            return PlainTextResponse("down", status_code=503)
        gate.passed += 1
        r = client.post("completions", json=body)
        return Response(r.content, r.status_code, media_type="application/json")

    return app
