"""Loopback servers for the black-box tests: the toy models, and a server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from modeltrace.blackbox.serve import create_app, running_server

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
