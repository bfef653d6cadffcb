"""Tests for tools/certainty/calibration.py: a threshold is found only under the backend and measure it
was saved with, the search order is path, environment, shipped default, and a broken file is a
one-line user error."""

from __future__ import annotations

import json

import pytest

import tools.certainty.calibration as calibration
from agent.errors import UserError
from tools.certainty.calibration import ENV_VAR, load_threshold, save_calibration

BACKEND, MEASURE = "offline-analytic", "cosine/test-measure"


@pytest.fixture(autouse=True)
def no_shipped_default(tmp_path, monkeypatch):
    """Tests see a shipped default only when they write one."""
    monkeypatch.setattr(calibration, "DEFAULT_PATH", tmp_path / "shipped" / "calibration.json")


def test_round_trip_with_the_statistics(tmp_path):
    path = save_calibration(tmp_path / "cal.json", 0.61, MEASURE, BACKEND, "max-jaccard", {"auc": 0.97, "latents": 10})
    assert load_threshold(BACKEND, MEASURE, path, env={}) == (0.61, f"calibration file {path} (max-jaccard)")
    entry = json.loads(path.read_text())["entries"][0]
    assert entry["stats"] == {"auc": 0.97, "latents": 10} and entry["created"].endswith("Z")


def test_a_threshold_never_serves_another_measure_or_backend(tmp_path):
    path = save_calibration(tmp_path / "cal.json", 0.61, MEASURE, BACKEND, "youden", {})
    assert load_threshold(BACKEND, "cosine/bag-of-words", path, env={}) is None
    assert load_threshold("openai:gpt-4o", MEASURE, path, env={}) is None


def test_saving_replaces_the_same_pair_and_keeps_the_others(tmp_path):
    path = tmp_path / "cal.json"
    save_calibration(path, 0.5, MEASURE, BACKEND, "max-jaccard", {})
    save_calibration(path, 0.3, MEASURE, "openai:gpt-4o", "max-jaccard", {})
    save_calibration(path, 0.7, MEASURE, BACKEND, "youden", {})
    entries = json.loads(path.read_text())["entries"]
    assert sorted((e["backend"], e["threshold"]) for e in entries) == [("offline-analytic", 0.7), ("openai:gpt-4o", 0.3)]
    assert load_threshold(BACKEND, MEASURE, path, env={})[0] == 0.7


def test_search_order_path_then_environment_then_shipped_default(tmp_path):
    explicit = save_calibration(tmp_path / "a.json", 0.1, MEASURE, BACKEND, "max-jaccard", {})
    from_env = save_calibration(tmp_path / "b.json", 0.2, MEASURE, BACKEND, "max-jaccard", {})
    env = {ENV_VAR: str(from_env)}
    assert load_threshold(BACKEND, MEASURE, explicit, env=env)[0] == 0.1
    value, source = load_threshold(BACKEND, MEASURE, env=env)
    assert value == 0.2 and source.startswith(f"${ENV_VAR}={from_env}")
    assert load_threshold(BACKEND, MEASURE, env={}) is None
    save_calibration(calibration.DEFAULT_PATH, 0.3, MEASURE, BACKEND, "youden", {})
    assert load_threshold(BACKEND, MEASURE, env={}) == (0.3, "shipped default tools/certainty/calibration.json (youden)")


def test_a_file_without_the_pair_passes_the_search_on(tmp_path):
    other = save_calibration(tmp_path / "other.json", 0.9, "cosine/other", BACKEND, "max-jaccard", {})
    from_env = save_calibration(tmp_path / "env.json", 0.2, MEASURE, BACKEND, "max-jaccard", {})
    assert load_threshold(BACKEND, MEASURE, other, env={ENV_VAR: str(from_env)})[0] == 0.2


def test_broken_or_missing_named_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_threshold(BACKEND, MEASURE, tmp_path / "missing.json", env={})
    with pytest.raises(UserError, match="does not exist"):
        load_threshold(BACKEND, MEASURE, env={ENV_VAR: str(tmp_path / "nope.json")})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="is not readable JSON"):
        load_threshold(BACKEND, MEASURE, bad, env={})
    bad.write_text(json.dumps({"threshold": 0.5}))
    with pytest.raises(UserError, match="has no 'entries' list"):
        load_threshold(BACKEND, MEASURE, bad, env={})
    bad.write_text(json.dumps({"entries": [{"backend": BACKEND, "measure": MEASURE, "threshold": 7}]}))
    with pytest.raises(UserError, match=r"threshold 7 in .* must be a number in \[-1, 1\]"):
        load_threshold(BACKEND, MEASURE, bad, env={})


def test_bad_values_are_refused_when_saving(tmp_path):
    with pytest.raises(UserError, match=r"threshold 1.5 .* \[-1, 1\]"):
        save_calibration(tmp_path / "c.json", 1.5, MEASURE, BACKEND, "max-jaccard", {})
    with pytest.raises(UserError, match="method 'median' is unknown"):
        save_calibration(tmp_path / "c.json", 0.5, MEASURE, BACKEND, "median", {})
    with pytest.raises(UserError, match="needs a similarity measure and a backend"):
        save_calibration(tmp_path / "c.json", 0.5, "", BACKEND, "youden", {})
    assert not (tmp_path / "c.json").exists()
