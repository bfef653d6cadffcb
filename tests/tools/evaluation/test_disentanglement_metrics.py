"""Tests for tools/evaluation/disentanglement_metrics.py: DCI's entropy arithmetic on hand-made importance
matrices, and DCI / SAP on synthetic codes whose structure is known (axis-aligned, mixed,
duplicated)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tools.evaluation.disentanglement_metrics import (
    dci,
    dci_from_importance,
    normalized_entropy,
    sap,
    sap_from_matrix,
    split_indices,
)

N = 600
LEVELS = (4, 5, 3)  # three factors; the last is categorical in the SAP tests


def synthetic(seed: int = 0, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """factors (N, 3) uniform indices; codes (N, 4): each factor scaled to [-1, 1] plus a little
    noise in codes 0-2, code 3 pure noise."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, k, N) for k in LEVELS], axis=1)
    scaled = factors / (np.array(LEVELS) - 1) * 2 - 1
    codes = np.concatenate([scaled + noise * rng.normal(size=scaled.shape), rng.normal(size=(N, 1))], axis=1)
    return codes, factors


def test_normalized_entropy():
    assert normalized_entropy(np.array([1.0, 0.0, 0.0])) == 0.0
    assert normalized_entropy(np.full(4, 0.25)) == pytest.approx(1.0)
    assert normalized_entropy(np.array([0.5, 0.5, 0.0, 0.0])) == pytest.approx(0.5)  # ln 2 / ln 4
    assert normalized_entropy(np.array([1.0])) == 0.0


def test_dci_of_hand_made_importances():
    assert dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))
    assert dci_from_importance(np.ones((3, 3))) == pytest.approx((0.0, 0.0), abs=1e-12)
    # code 0 splits evenly between factors 0 and 1 (D_0 = 1 - ln2/ln3); code 1 is all factor 2;
    # code 2 is unused. Each factor relies on one code: C = 1.
    r = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    d, c = dci_from_importance(r)
    assert d == pytest.approx(0.5 * (1 - math.log(2) / math.log(3)) + 0.5 * 1.0)
    assert c == pytest.approx(1.0)
    assert dci_from_importance(np.zeros((2, 2))) == (0.0, 0.0)


def test_dci_rewards_axis_aligned_codes_over_mixed_ones():
    codes, factors = synthetic()
    aligned = dci(codes, factors)
    assert aligned.disentanglement > 0.8 and aligned.completeness > 0.8
    assert aligned.informativeness > 0.9
    importance = np.array(aligned.importance)
    assert importance.shape == (4, 3)
    assert list(importance[:3].argmax(axis=0)) == [0, 1, 2]  # factor k read from code k
    assert importance[3].sum() < 0.05  # the noise code matters for nothing
    rotation = np.array([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=float).T  # mixes all three
    mixed = dci(np.concatenate([codes[:, :3] @ rotation, codes[:, 3:]], axis=1), factors)
    assert mixed.disentanglement < aligned.disentanglement - 0.3
    assert mixed.completeness < aligned.completeness - 0.3


def test_sap_is_high_for_single_informative_codes_and_zero_for_duplicates():
    codes, factors = synthetic()
    categorical = [False, False, True]
    aligned = sap(codes, factors, categorical)
    matrix = np.array(aligned.matrix)
    assert aligned.score > 0.8
    assert matrix[0, 0] > 0.95 and matrix[1, 1] > 0.95  # R^2 of a near-linear code
    assert matrix[2, 2] > 0.95  # balanced accuracy of thresholds on the categorical code
    duplicated = np.concatenate([codes[:, :3], codes[:, :3]], axis=1)
    assert sap(duplicated, factors, categorical).score == pytest.approx(0.0, abs=0.02)


def test_sap_from_matrix_is_the_mean_top_two_gap():
    assert sap_from_matrix(np.array([[0.9, 0.1], [0.2, 0.7], [0.1, 0.6]])) == pytest.approx((0.7 + 0.1) / 2)
    assert sap_from_matrix(np.array([[0.4, 0.3]])) == pytest.approx(0.35)


def test_split_is_a_seeded_partition():
    train, test = split_indices(10, 0.8, seed=3)
    assert sorted([*train, *test]) == list(range(10)) and len(train) == 8
    assert list(split_indices(10, 0.8, seed=3)[0]) == list(train)


def test_bad_inputs_raise():
    codes, factors = synthetic()
    with pytest.raises(ValueError, match="same N"):
        sap(codes[:10], factors, [False] * 3)
    with pytest.raises(ValueError, match="3 flags for 2 factors"):
        sap(codes, factors[:, :2], [False] * 3)
    constant = factors.copy()
    constant[:, 1] = 2
    with pytest.raises(ValueError, match=r"factors \[1\] take a single value"):
        dci(codes, constant)
