"""Fidelity end to end: a run on a tiny model writes per latent `fidelity` into results.json,
scored on fresh anchors the explanations never saw."""

import json
from pathlib import Path

import pytest

from agent.cli import main

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"
FAST = ["--n-samples", "3", "--frames", "5", "--max-attempts", "1", "--quiet"]


@pytest.mark.slow
def test_results_carry_fidelity_on_fresh_anchors(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["explain", "--model", f"{FIXTURE}:build", "--out", str(out), "--fidelity-trials", "6", *FAST]) == 0
    results = json.loads((out / "results.json").read_text())
    by_id = {entry["id"]: entry for entry in results["latents"]}
    assert by_id["z2"]["status"] == "unclear" and by_id["z2"]["fidelity"] is None
    for latent in ("z0", "z1"):
        entry = by_id[latent]
        fidelity = entry["fidelity"]
        assert entry["status"] == "explained"
        assert fidelity["simulator"] == "offline-measurements" and fidelity["trials"] == 6
        assert fidelity["chance"] == {"detection": round(1 / 3, 4), "direction": 0.5}
        assert fidelity["seed"] == results["settings"]["seed"] + 1000  # anchors no attempt used
        assert fidelity["detection"] == 1.0 and fidelity["direction"] >= 5 / 6, fidelity
        assert set(fidelity["distractor_ids"]) == {"z0", "z1", "z2"} - {latent}
    assert len(list((out / "fidelity").glob("*.npz"))) == 3  # each latent decoded once, shared as distractor
    html = (out / "report.html").read_text()
    assert "Fidelity: detection, direction" in html and "offline-measurements" in html
    capsys.readouterr()
    assert main(["trace", str(out), "--latent", "z0"]) == 0
    printed = capsys.readouterr().out
    assert "fidelity detection 1.0" in printed and "fidelity (offline-measurements, 6 trials on fresh anchors" in printed


@pytest.mark.slow
def test_min_fidelity_keeps_explanations_that_predict(tmp_path):
    """With the gate on, explanations that predict their fresh traversals stay accepted (the
    refusal path is tested on hand-made states in tests/agent/test_fidelity_node.py)."""
    out = tmp_path / "run"
    args = ["explain", "--model", f"{FIXTURE}:build", "--out", str(out), "--fidelity-trials", "4",
            "--min-fidelity", "0.75", *FAST]
    assert main(args) == 0
    by_id = {e["id"]: e for e in json.loads((out / "results.json").read_text())["latents"]}
    assert by_id["z0"]["status"] == by_id["z1"]["status"] == "explained"
    assert by_id["z0"]["fidelity"]["detection"] >= 0.75
