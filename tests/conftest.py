"""Shared fixtures: deterministic seeds, offline hub, tiny models."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def seed_everything():
    """Seed Python, NumPy and torch before every test."""
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def private_llm_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own LLM response cache folder, so no test answers from another's (or
    the user's) cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
