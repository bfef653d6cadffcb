"""Tests for tools/evaluation/roc.py: the ROC and its AUC against the pair-counting definition and
scikit-learn, threshold selection by Jaccard and Youden on hand-worked cases, and the plot's
pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from agent.errors import UserError
from tools.evaluation.roc import (
    CURVE_COLOUR,
    operating_point,
    plot_area,
    roc_auc,
    roc_curve,
    select_threshold,
    write_roc_png,
)

SCORES = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2]
LABELS = [True, True, False, True, False, False]


def pair_count_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a random positive > that of a random negative), ties counted half."""
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (pos.size * neg.size))


def test_hand_worked_curve():
    curve = roc_curve(SCORES, LABELS)
    assert curve.positives == 3 and curve.negatives == 3
    assert curve.tpr == pytest.approx([0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    assert curve.fpr == pytest.approx([0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    assert curve.thresholds[0] == math.inf and curve.thresholds[1:] == SCORES
    assert curve.auc == pytest.approx(8 / 9)


@pytest.mark.parametrize("seed", range(5))
def test_auc_is_the_pair_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(40) < 0.4
    scores = np.round(rng.random(40) + 0.4 * labels, 1)  # rounding makes ties
    from sklearn.metrics import roc_auc_score

    assert roc_auc(scores, labels) == pytest.approx(pair_count_auc(scores, labels))
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))


def test_auc_extremes_and_one_class():
    assert roc_auc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert roc_auc([0.1, 0.2, 0.9], [True, True, False]) == 0.0
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5
    assert math.isnan(roc_auc([0.2, 0.9], [True, True]))


def test_max_jaccard_takes_the_midpoint_below_the_best_cut():
    choice = select_threshold(SCORES, LABELS, "max-jaccard")
    # cut at 0.6 accepts 3 positives and 1 negative: Jaccard 3/4, the best
    assert choice.threshold == pytest.approx(0.45)
    assert (choice.jaccard, choice.tpr, choice.fpr) == pytest.approx((0.75, 1.0, 1 / 3))
    assert choice.f1 == pytest.approx(6 / 7) and choice.method == "max-jaccard"


def test_youden_breaks_ties_by_the_widest_gap():
    # cuts at 0.8 and at 0.6 both give J = 2/3; the gap below 0.6 (0.3) is wider than below 0.8 (0.1)
    choice = select_threshold(SCORES, LABELS, "youden")
    assert choice.youden_j == pytest.approx(2 / 3)
    assert choice.threshold == pytest.approx(0.45)


def test_jaccard_and_youden_disagree_when_the_classes_are_unbalanced():
    scores = [0.9, 0.85, 0.8, 0.75, 0.3, 0.7, 0.2]
    labels = [True, True, True, True, True, False, False]
    jaccard, youden = select_threshold(scores, labels, "max-jaccard"), select_threshold(scores, labels, "youden")
    assert jaccard.threshold == pytest.approx(0.25) and jaccard.jaccard == pytest.approx(5 / 6)
    assert youden.threshold == pytest.approx(0.725) and youden.youden_j == pytest.approx(0.8)


def test_separable_scores_get_a_threshold_between_the_classes():
    choice = select_threshold([0.95, 0.9, 0.4, 0.1], [True, True, False, False])
    assert choice.threshold == pytest.approx(0.65)
    assert (choice.jaccard, choice.f1, choice.youden_j) == (1.0, 1.0, 1.0)


def test_operating_point_counts():
    point = operating_point(SCORES, LABELS, 0.75)
    assert (point.tpr, point.fpr, point.jaccard) == pytest.approx((2 / 3, 0.0, 2 / 3))
    assert point.f1 == pytest.approx(0.8)


def test_selection_errors_are_user_errors():
    with pytest.raises(UserError, match="unknown threshold method 'median'"):
        select_threshold(SCORES, LABELS, "median")
    with pytest.raises(UserError, match="got 2 positive and 0 negative"):
        select_threshold([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="one label per score"):
        roc_curve([0.1, 0.2], [True])


def _pixel(image: Image.Image, fpr: float, tpr: float) -> tuple[int, int, int]:
    x, y = plot_area(image.width).to_pixel(fpr, tpr)
    return image.getpixel((round(x), round(y)))


def test_plot_draws_the_curve_where_it_lies(tmp_path):
    perfect = write_roc_png(roc_curve([0.9, 0.8, 0.2, 0.1], [True, True, False, False]), tmp_path / "perfect.png")
    chance = write_roc_png(roc_curve([0.5, 0.5], [True, False]), tmp_path / "chance.png")
    with Image.open(perfect) as image:
        assert image.size == (480, 480) and image.format == "PNG"
        assert _pixel(image, 0.5, 1.0) == CURVE_COLOUR  # along the top edge
        assert _pixel(image, 0.5, 0.5) != CURVE_COLOUR
    with Image.open(chance) as image:
        assert _pixel(image, 0.5, 0.5) == CURVE_COLOUR  # along the diagonal
        assert _pixel(image, 0.5, 1.0) != CURVE_COLOUR


def test_bounded_fpr_keeps_false_accepts_under_five_percent():
    """Twenty negatives, one of them at 0.8 (5% may pass), six positives at 0.6 that max-Jaccard
    buys with two more false accepts at 0.6."""
    scores = [1.0] * 10 + [0.6] * 6 + [0.8] + [0.6] * 2 + [0.0] * 17
    labels = [True] * 16 + [False] * 20
    bounded = select_threshold(scores, labels, "bounded-fpr")
    assert bounded.threshold == pytest.approx(0.7) and bounded.fpr <= 0.05 and bounded.tpr == pytest.approx(10 / 16)
    jaccard = select_threshold(scores, labels, "max-jaccard")
    assert jaccard.threshold == pytest.approx(0.3) and jaccard.fpr == pytest.approx(3 / 20)
    strict = select_threshold(scores + [0.8], labels + [False], "bounded-fpr")  # two of 21 at 0.8: 9.5% > 5%
    assert strict.threshold == pytest.approx(0.9) and strict.fpr == 0.0
