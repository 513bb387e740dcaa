"""Serve a local llama-family checkpoint as an OpenAI-compatible ``/v1/completions`` and
``/v1/chat/completions`` endpoint (for references and tests).

Supported request fields: ``prompt`` (string or list of strings) / ``messages``, ``max_tokens``,
``temperature`` (0 = greedy), ``top_p``, ``seed`` (the same seed and request give the same answer),
``n``, ``stop`` (strings), ``logprobs`` (completions: top-k count; chat: bool with ``top_logprobs``).
Responses carry ``usage`` (prompt/completion/total tokens). Other fields are accepted and ignored.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from modeltrace.blackbox.lm import LlamaLM
from modeltrace.errors import ModeltraceError
from modeltrace.weights.bpe import ByteLevelBPE, TokenizerError

__all__ = ["LocalModel", "create_app", "load_local_model", "running_server", "serve"]

MAX_TOKENS, MAX_N, MAX_TOP_LOGPROBS = 1024, 32, 20


@dataclass
class LocalModel:
    """A servable model: decoder, tokenizer, name."""

    lm: LlamaLM
    tokenizer: ByteLevelBPE
    name: str

    def stop_ids(self, chat: bool) -> list[int]:
        ids = [self.tokenizer.eos_id] if self.tokenizer.eos_id is not None else []
        if chat and "<|im_end|>" in self.tokenizer.special:
            ids.append(self.tokenizer.special["<|im_end|>"])
        return ids


def load_local_model(checkpoint: str | Path, name: str | None = None) -> LocalModel:
    """Open a GGUF file or HF folder (safetensors + ``tokenizer.json``) with :func:`open_model`."""
    from modeltrace.lineage.forward import LLAMA, canonical_tensors, spec_from_model
    from modeltrace.weights import open_model

    path = Path(checkpoint)
    model = open_model(path)
    try:
        spec = spec_from_model(model)
    except ValueError as exc:
        raise ModeltraceError(str(exc)) from None
    if spec.family != LLAMA:
        raise ModeltraceError(f"{path}: serve-model serves llama-family causal LMs only")
    meta = model.source.facts.metadata
    if "tokenizer.ggml.tokens" in meta:
        tok = ByteLevelBPE.from_gguf_metadata(meta)
    else:
        folder = model.folder or (path if path.is_dir() else path.parent)
        tj = folder / "tokenizer.json"
        if not tj.is_file():
            raise TokenizerError(f"{path}: no GGUF tokenizer metadata and no tokenizer.json beside it")
        tok = ByteLevelBPE.from_tokenizer_json(tj)
    tensors = canonical_tensors(model)
    max_pos = min(model.config.max_positions or 4096, 8192)
    model.close()
    return LocalModel(LlamaLM(tensors, spec, max_pos), tok, name or path.name)


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS)
    temperature: float = Field(default=1.0, ge=0.0, le=5.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=MAX_N)
    stop: str | list[str] | None = None


class CompletionRequest(_Common):
    prompt: str | list[str]
    logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool = False


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str


class ChatRequest(_Common):
    messages: list[Message] = Field(min_length=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)


def _cut_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    cut = min((i for s in stops if s and (i := text.find(s)) >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed if seed is None else seed % (2**63))


class _Engine:
    def __init__(self, model: LocalModel) -> None:
        self.m = model
        self.lock = threading.Lock()  # one generation at a time: CPU-bound, and the cache is per call

    def run(
        self, prompt: str, req: _Common, chat: bool, top: int, rng: np.random.Generator
    ) -> tuple[list[dict[str, Any]], int, int]:
        tok = self.m.tokenizer
        ids = tok.encode(prompt)
        if not ids:
            ids = [tok.bos_id if tok.bos_id is not None else (tok.eos_id or 0)]
        if len(ids) >= self.m.lm.max_positions:
            raise ValueError(f"prompt of {len(ids)} tokens exceeds the context of {self.m.lm.max_positions}")
        max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        max_tokens = (16 if not chat else 256) if max_tokens is None else max_tokens
        stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        outs: list[dict[str, Any]] = []
        completion_tokens = 0
        with self.lock:
            gens = self.m.lm.sample_many(
                ids,
                req.n,
                max_tokens,
                temperature=req.temperature,
                top_p=req.top_p,
                rng=rng,
                stop_ids=self.m.stop_ids(chat),
                top_logprobs=top,
            )
        for gen in gens:
            gen_ids, reason = gen.ids, gen.finish_reason
            if reason == "stop":
                gen_ids = gen_ids[:-1]  # the stop token is not part of the text
            text, stopped = _cut_stop(tok.decode(gen_ids), stops)
            completion_tokens += len(gen.ids)
            outs.append({"text": text, "reason": "stop" if stopped else reason, "gen": gen, "n_ids": gen_ids})
        return outs, len(ids), completion_tokens


def _piece(tok: ByteLevelBPE, i: int) -> str:
    """A token's text; a token that is not valid UTF-8 alone is written ``bytes:\\xNN…`` (as OpenAI does)."""
    raw = tok.token_bytes(i)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in raw)


def create_app(model: LocalModel) -> FastAPI:
    """The FastAPI app serving ``model`` under ``/v1``."""
    app = FastAPI(title=f"modeltrace serve-model: {model.name}")
    engine = _Engine(model)
    tok = model.tokenizer

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model.name, "object": "model", "owned_by": "modeltrace"}]}

    @app.post("/v1/completions", response_model=None)
    def completions(req: CompletionRequest) -> dict[str, Any] | JSONResponse:
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if not prompts or len(prompts) * req.n > MAX_N:
            return error(f"between 1 and {MAX_N} completions per request")
        rng = _rng(req.seed)
        choices: list[dict[str, Any]] = []
        p_tokens = c_tokens = 0
        try:
            for prompt in prompts:
                outs, pt, ct = engine.run(prompt, req, False, req.logprobs or 0, rng)
                p_tokens, c_tokens = p_tokens + pt, c_tokens + ct
                for out in outs:
                    choice: dict[str, Any] = {
                        "index": len(choices),
                        "text": (prompt if req.echo else "") + out["text"],
                        "finish_reason": out["reason"],
                        "logprobs": None,
                    }
                    gen = out["gen"]
                    if req.logprobs is not None:
                        n_ids = out["n_ids"]
                        pieces = [_piece(tok, i) for i in n_ids]
                        offsets, pos = [], 0
                        for p in pieces:
                            offsets.append(pos)
                            pos += len(p)
                        choice["logprobs"] = {
                            "tokens": pieces,
                            "token_logprobs": gen.logprobs[: len(n_ids)],
                            "top_logprobs": [
                                {_piece(tok, i): lp for i, lp in top} for top in gen.top[: len(n_ids)]
                            ],
                            "text_offset": offsets,
                        }
                    choices.append(choice)
        except ValueError as exc:
            return error(str(exc))
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model.name,
            "choices": choices,
            "usage": {
                "prompt_tokens": p_tokens,
                "completion_tokens": c_tokens,
                "total_tokens": p_tokens + c_tokens,
            },
        }

    @app.post("/v1/chat/completions", response_model=None)
    def chat(req: ChatRequest) -> dict[str, Any] | JSONResponse:
        prompt = tok.chat_prompt([{"role": m.role, "content": m.content} for m in req.messages])
        top = (req.top_logprobs or 0) if req.logprobs else 0
        try:
            outs, pt, ct = engine.run(prompt, req, True, top, _rng(req.seed))
        except ValueError as exc:
            return error(str(exc))
        choices = []
        for k, out in enumerate(outs):
            choice: dict[str, Any] = {
                "index": k,
                "message": {"role": "assistant", "content": out["text"]},
                "finish_reason": out["reason"],
                "logprobs": None,
            }
            gen = out["gen"]
            if req.logprobs:
                choice["logprobs"] = {
                    "content": [
                        {
                            "token": _piece(tok, i),
                            "logprob": lp,
                            "bytes": list(tok.token_bytes(i)),
                            "top_logprobs": [{"token": _piece(tok, j), "logprob": v} for j, v in top_k],
                        }
                        for i, lp, top_k in zip(
                            out["n_ids"], gen.logprobs, gen.top or [[]] * len(gen.ids), strict=False
                        )
                    ]
                }
            choices.append(choice)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model.name,
            "choices": choices,
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }

    return app


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(app: Any, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a background thread; yields its ``http://host:port/v1`` URL."""
    import uvicorn

    port = port or _free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ModeltraceError(f"could not start a server on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


def serve(checkpoint: str | Path, host: str = "127.0.0.1", port: int = 8000, name: str | None = None) -> None:
    """Blocking: serve ``checkpoint`` until interrupted."""
    import uvicorn

    uvicorn.run(create_app(load_local_model(checkpoint, name)), host=host, port=port, log_level="info")
