"""The gate corpus (tests/data/gate_corpus.json) at the shipped settings: the threshold the
offline backend uses with the default measure, looked up as `explain` does. Contradictory sets
are rejected, paraphrase sets accepted, in both halves (the held-out half was never used to
change a rule; see the corpus's provenance)."""

import json
from pathlib import Path

import pytest

from agent.settings import Settings
from tools.certainty.measures import measure_certainty

CORPUS = json.loads((Path(__file__).parents[2] / "data" / "gate_corpus.json").read_text())


@pytest.fixture(scope="module")
def shipped():
    settings = Settings.resolve(env={})
    assert settings.certainty_measure == "groups"
    return settings


def test_the_corpus_is_split_and_labelled():
    splits = {(s["split"], s["label"]) for s in CORPUS["sets"]}
    assert splits == {(split, label) for split in ("tuning", "held_out") for label in ("consistent", "contradictory")}
    assert "held_out" in CORPUS["provenance"]["split"] and CORPUS["provenance"]["written_on"]


@pytest.mark.parametrize("sample_set", CORPUS["sets"], ids=[s["id"] for s in CORPUS["sets"]])
def test_gate_decides_each_set(sample_set, shipped):
    result = measure_certainty(sample_set["samples"], shipped.certainty_measure)
    accepted = result.certainty >= shipped.threshold
    assert accepted == (sample_set["label"] == "consistent"), (result.certainty, shipped.threshold, result.groups)
