"""The quality benchmark's pooling and gate-corpus scoring (benchmarks/quality.py), without
running the models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from agent.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("quality", ROOT / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(active, status, named, truth, certainty, strict=False):
    return {"active": active, "status": status, "named": named, "truth": truth, "certainty": certainty,
            "named_true": bool(set(named) & set(truth)), "strict_correct": strict}


def test_pooling_counts_strict_lenient_and_false_accepts(quality):
    summaries = [{"latents": [
        _row(True, "explained", ["posX"], ["posX"], 1.0, strict=True),
        _row(True, "explained", ["posX", "scale"], ["posX"], 0.9),  # lenient only: a false factor named
        _row(True, "unclear", [], ["scale"], 0.6),
        _row(False, "explained", ["scale"], [], 0.9),  # a false accept
        _row(False, "unclear", [], [], 0.0),
    ]}]
    pooled = quality.pooled(summaries)
    assert pooled["strict"] == pytest.approx(1 / 3) and pooled["lenient"] == pytest.approx(2 / 3)
    assert pooled["false_accepts"] == 0.5 and pooled["precision"] == pytest.approx(2 / 4)
    assert pooled["recall"] == pytest.approx(2 / 3)


def test_gate_corpus_is_scored_per_split_and_measure(quality):
    corpus = quality.gate_corpus(Settings.resolve(env={}))
    assert set(corpus) == {"groups", "cosine"}
    for measure in corpus.values():
        assert measure["tuning"]["consistent"] == measure["tuning"]["contradictory"] == 8
        assert measure["held_out"]["consistent"] == measure["held_out"]["contradictory"] == 8
    given = quality.gate_corpus(Settings.resolve({"threshold": 0.5}, env={}))
    assert given["cosine"]["threshold"] == given["groups"]["threshold"] == 0.5
