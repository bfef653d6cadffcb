"""Tests for tools/evaluation/scoring.py on hand-made results and a hand-made ground truth, every number
worked out by hand."""

from __future__ import annotations

import json
import math

import pytest

from agent.errors import UserError
from tools.evaluation.ground_truth import GroundTruth, LatentTruth
from tools.evaluation.scoring import INACTIVE, UNINFORMATIVE, entry_truth, evaluate_results, json_ready

FACTORS = ["shape", "scale", "orientation", "posX", "posY"]


def latent(index: int, factors: list[str], active: bool = True, **mi: float) -> LatentTruth:
    return LatentTruth(index=index, factors=factors, active=active, kl=1.0 if active else 0.01,
                       normalized_mi={name: mi.get(name, 0.0) for name in FACTORS})


TRUTH = GroundTruth(
    latents=[
        latent(0, ["posX"], posX=0.8),
        latent(1, ["scale"], scale=0.7),
        latent(2, ["posY", "posX"], posY=0.6, posX=0.4),
        latent(3, [], active=False),
        latent(4, [], active=True),  # carries information, but about no labelled factor
    ],
    mig=0.3,
    mi_matrix=[[0.0] * 5 for _ in range(5)],
    factor_names=FACTORS,
)


def entry(i: int, status: str, certainty: float, explanation: str | None = None) -> dict:
    return {"id": f"z{i}", "indices": [i], "status": status, "certainty": certainty, "explanation": explanation,
            "threshold": 0.8}


RESULTS = {
    "settings": {"threshold": 0.8},
    "latents": [
        entry(0, "explained", 0.95, "The object moves from left to right."),  # right factor
        entry(1, "explained", 0.90, "The object rotates clockwise."),  # wrong factor
        entry(2, "unclear", 0.50),  # missed
        entry(3, "explained", 0.85, "The object gets brighter."),  # false acceptance
        entry(4, "unclear", 0.20),
    ],
}


def test_rows_show_truth_named_factors_and_status():
    rows = evaluate_results(RESULTS, TRUTH).rows
    assert [r.latent for r in rows] == ["z0", "z1", "z2", "z3", "z4"]
    assert [r.truth_label for r in rows] == ["posX", "scale", "posY, posX", INACTIVE, UNINFORMATIVE]
    assert [r.active for r in rows] == [True, True, True, False, False]
    assert rows[0].named == ["posX"] and rows[0].named_true
    assert rows[1].named == ["orientation"] and not rows[1].named_true
    assert rows[2].explanation is None and rows[2].named == [] and not rows[2].named_true
    assert rows[3].named == [] and rows[3].status == "explained"


def test_factor_accuracy_and_gating_quality():
    evaluation = evaluate_results(RESULTS, TRUTH)
    assert evaluation.factor_accuracy == pytest.approx(1 / 3)  # z0 of z0, z1, z2
    # accepted = {z0, z1, z3}, active = {z0, z1, z2}: TP 2, FP 1, FN 1
    assert evaluation.gating_f1 == pytest.approx(4 / 6)
    assert evaluation.gating_jaccard == pytest.approx(2 / 4)
    # positives 0.95, 0.90, 0.50 against negatives 0.85, 0.20: 5 of 6 pairs ordered right
    assert evaluation.gating_auc == pytest.approx(5 / 6)
    assert (evaluation.n_active, evaluation.n_explained, evaluation.threshold) == (3, 3, 0.8)


def test_a_group_entry_gets_the_union_of_its_latents_factors_strongest_first():
    assert entry_truth([1, 2], TRUTH) == (["scale", "posY", "posX"], "scale, posY, posX")
    assert entry_truth([3, 4], TRUTH) == ([], UNINFORMATIVE)
    assert entry_truth([3], TRUTH) == ([], INACTIVE)
    group = {"latents": [{"id": "size+y", "indices": [1, 2], "status": "explained", "certainty": 0.9,
                          "explanation": "The object moves up and gets bigger."}]}
    row = evaluate_results(group, TRUTH).rows[0]
    assert row.named == ["posY", "scale"] and row.named_true


def test_without_active_latents_the_ratios_are_undefined_and_json_has_null():
    results = {"latents": [entry(3, "unclear", 0.1), entry(4, "unclear", 0.0)]}
    evaluation = evaluate_results(results, TRUTH)
    assert math.isnan(evaluation.factor_accuracy) and math.isnan(evaluation.gating_auc)
    assert math.isnan(evaluation.gating_f1)
    assert evaluation.threshold == 0.8  # from the entries when the settings do not say
    data = evaluation.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["factor_accuracy"] is None and data["rows"][0]["truth_label"] == INACTIVE


def test_json_ready_replaces_non_finite_numbers_everywhere():
    assert json_ready({"a": [1.0, math.inf, (math.nan, "x")], "b": -math.inf}) == {"a": [1.0, None, [None, "x"]], "b": None}


def test_results_of_another_model_are_a_user_error():
    with pytest.raises(UserError, match=r"latent indices \[7\] does not fit .*5 latents"):
        evaluate_results({"latents": [entry(7, "explained", 0.9, "moves left")]}, TRUTH)
    with pytest.raises(UserError, match="no latents"):
        evaluate_results({"latents": []}, TRUTH)
    with pytest.raises(UserError, match="lacks a valid 'certainty'"):
        evaluate_results({"latents": [{"id": "z0", "indices": [0], "status": "unclear"}]}, TRUTH)
