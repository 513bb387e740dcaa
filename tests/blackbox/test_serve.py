"""serve-model on a TINY SYNTHETIC llama (random weights, toy byte-level BPE) over loopback HTTP."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from modeltrace.blackbox.lm import KVCache
from modeltrace.blackbox.serve import create_app, load_local_model, running_server
from modeltrace.weights.bpe import ByteLevelBPE

from .toy import MERGES_A, toy_model, toy_tensors, toy_tokenizer, write_hf_folder


def post(url: str, path: str, body: dict[str, object]) -> dict[str, object]:
    r = httpx.post(f"{url}/{path}", json=body, timeout=30)
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


def texts(resp: dict[str, object]) -> list[str]:
    return [str(c["text"]) for c in resp["choices"]]  # type: ignore[attr-defined]


def test_bpe_roundtrip_and_merges() -> None:
    tok = toy_tokenizer()
    s = "the other one, 42 héllo 世界 🙂<|im_start|>x"
    ids = tok.encode(s)
    assert tok.decode(ids) == s
    assert tok.encode(" the") == [tok.index["Ġthe"]]
    assert tok.special["<|im_start|>"] in ids
    # digits split one by one when asked (smollm pre-tokenizer)
    digits = ByteLevelBPE(tok.tokens, ["1 2"], split_digits=True)
    assert digits.encode("12") == [tok.index["1"], tok.index["2"]]


def test_numpy_forward_matches_reference_forward() -> None:
    torch = pytest.importorskip("torch")
    from modeltrace.lineage.forward import llama_forward

    model = toy_model(0)
    ids = model.tokenizer.encode("the cat sat on the mat")
    ref = llama_forward(model.lm.t, model.lm.spec, torch.tensor([ids]))[0].numpy()
    cache = KVCache()
    first = model.lm.forward(ids[:3], cache)
    rest = [model.lm.forward([i], cache) for i in ids[3:]]
    assert np.abs(first - ref[2]).max() < 1e-4
    assert max(float(np.abs(r - ref[3 + k]).max()) for k, r in enumerate(rest)) < 1e-4


def test_completions_seed_n_logprobs_usage(toy_servers: dict[str, str]) -> None:
    url = toy_servers["base"]
    body = {"prompt": "the river", "max_tokens": 12, "temperature": 1.0, "seed": 7, "n": 3, "logprobs": 3}
    a, b = post(url, "completions", body), post(url, "completions", body)
    assert texts(a) == texts(b)  # same seed, same answers
    c = post(url, "completions", {**body, "seed": 8})
    assert texts(c) != texts(a)
    assert len(texts(a)) == 3 and len(set(texts(a))) > 1  # n independent samples
    usage = a["usage"]
    n_prompt = len(toy_tokenizer().encode("the river"))
    assert usage["prompt_tokens"] == n_prompt  # type: ignore[index]
    choices = a["choices"]
    lp = choices[0]["logprobs"]  # type: ignore[index]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"])
    assert all(v <= 0 for v in lp["token_logprobs"])
    assert all(len(t) == 3 for t in lp["top_logprobs"])
    completion_tokens = usage["completion_tokens"]  # type: ignore[index]
    assert 3 <= completion_tokens <= 36
    assert usage["total_tokens"] == n_prompt + completion_tokens  # type: ignore[index]


def test_greedy_is_top_logprob_and_deterministic(toy_servers: dict[str, str]) -> None:
    url = toy_servers["base"]
    body = {"prompt": "on the", "max_tokens": 6, "temperature": 0, "logprobs": 2}
    a, b = post(url, "completions", body), post(url, "completions", {**body, "seed": 123})
    assert texts(a) == texts(b)
    lp = a["choices"][0]["logprobs"]  # type: ignore[index]
    for chosen, top in zip(lp["token_logprobs"], lp["top_logprobs"], strict=True):
        assert math.isclose(chosen, max(top.values()), abs_tol=1e-9)
        probs = sorted(top.values(), reverse=True)
        assert list(top.values()) == probs


def test_top_p_restricts_support(toy_servers: dict[str, str]) -> None:
    url = toy_servers["base"]
    tiny = post(url, "completions", {"prompt": "at", "max_tokens": 1, "top_p": 1e-6, "n": 8, "seed": 1})
    greedy = post(url, "completions", {"prompt": "at", "max_tokens": 1, "temperature": 0})
    assert set(texts(tiny)) == set(texts(greedy))


def test_chat_endpoint_and_errors(toy_servers: dict[str, str]) -> None:
    url = toy_servers["base"]
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "seed": 3,
        "logprobs": True,
        "top_logprobs": 2,
    }
    a: Any = post(url, "chat/completions", body)
    msg = a["choices"][0]["message"]
    assert msg["role"] == "assistant" and isinstance(msg["content"], str)
    messages = [{"role": "user", "content": "hi"}]
    assert a["usage"]["prompt_tokens"] == len(toy_tokenizer().encode(toy_tokenizer().chat_prompt(messages)))
    content = a["choices"][0]["logprobs"]["content"]
    assert all(len(c["top_logprobs"]) == 2 for c in content)
    bad = httpx.post(f"{url}/completions", json={"prompt": "x", "n": 1000}, timeout=10)
    assert bad.status_code == 422
    models = httpx.get(f"{url}/models", timeout=10).json()
    assert models["data"][0]["id"] == "base"


def test_hf_folder_checkpoint_serves_like_in_memory(tmp_path: Path) -> None:
    tok = toy_tokenizer(MERGES_A)
    tensors = toy_tensors(len(tok), seed=0)
    folder = write_hf_folder(tmp_path / "hf", tensors, tok)
    served = load_local_model(folder)
    assert served.tokenizer.encode("the cat") == tok.encode("the cat")
    body = {"prompt": "the cat", "max_tokens": 8, "temperature": 0.8, "seed": 5, "n": 2}
    with (
        running_server(create_app(served)) as u1,
        running_server(create_app(toy_model(tensors=tensors))) as u2,
    ):
        assert texts(post(u1, "completions", body)) == texts(post(u2, "completions", body))


def test_batched_sampling_matches_single_sequence_decoding() -> None:
    model = toy_model(0)
    ids = model.tokenizer.encode("the cat")
    single = model.lm.generate(ids, 8, temperature=0)
    batch = model.lm.sample_many(ids, 3, 8, temperature=0)
    assert all(g.ids == single.ids for g in batch)
    assert np.allclose(batch[2].logprobs, single.logprobs, atol=1e-5)
