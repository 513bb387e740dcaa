"""Serve the zoo's SmolLM2-135M-Instruct (GGUF) and ask it for a short greedy completion."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modeltrace.blackbox import Client, Endpoint
from modeltrace.blackbox.serve import create_app, load_local_model, running_server


@pytest.mark.real_model
def test_smollm2_greedy_completion(zoo_file: Callable[[str], Path]) -> None:
    model = load_local_model(zoo_file("smollm2"))
    assert len(model.tokenizer) == 49152
    with running_server(create_app(model)) as url, Client(Endpoint(url, "smollm2"), timeout=120) as client:
        start = time.perf_counter()
        answer = client.complete("The capital of France is", max_tokens=6, temperature=0)
        latency = time.perf_counter() - start
        chat = client.chat(
            [{"role": "user", "content": "What is the capital of France?"}], max_tokens=12, temperature=0
        )
    print(f"SmolLM2 greedy 6 tokens: {latency:.2f} s; text={answer['choices'][0]['text']!r}")
    assert "Paris" in answer["choices"][0]["text"]
    assert answer["usage"]["prompt_tokens"] == 5
    assert "Paris" in chat["choices"][0]["message"]["content"]
