"""Shared fixtures: zoo models fetched by the project's own code into the cache outside the repo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modeltrace.zoo import MODELS, fetch


@pytest.fixture(scope="session")
def zoo_folder() -> Callable[[str], Path]:
    """``zoo_folder("smollm2")`` → the verified model folder (fetched on first use)."""
    return fetch


@pytest.fixture(scope="session")
def zoo_file() -> Callable[[str], Path]:
    """``zoo_file("smollm2")`` → the verified weight file."""

    def get(model_id: str) -> Path:
        return fetch(model_id) / MODELS[model_id].main

    return get
