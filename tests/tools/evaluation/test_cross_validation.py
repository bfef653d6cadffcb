"""Leave-one-model-out threshold selection."""

import math

import pytest

from tools.errors import UserError
from tools.evaluation.cross_validation import leave_one_model_out


def test_each_model_is_decided_by_a_threshold_chosen_without_it():
    models = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    scores = [0.9, 0.8, 0.2, 0.1, 0.95, 0.7, 0.3, 0.0, 0.6, 0.85, 0.5, 0.65]
    labels = [True, True, False, False] * 2 + [True, True, False, False]
    cv = leave_one_model_out(models, scores, labels, bootstrap=200)
    assert [f.held_out for f in cv.folds] == ["a", "b", "c"] and not cv.skipped
    assert cv.n_items == 12 and cv.n_positive == 6
    # c's negative at 0.65 sits above its positive at 0.6: out of sample it is a false accept
    assert cv.false_accept_rate > 0 and cv.f1 < 1
    low, high = cv.intervals["f1"]
    assert low <= cv.f1 <= high and not math.isnan(cv.auc)
    assert cv.threshold == sorted(f.threshold for f in cv.folds)[1]


def test_a_fold_without_both_classes_is_skipped():
    cv = leave_one_model_out(["a", "a", "b", "c"], [0.9, 0.1, 0.8, 0.2], [True, False, True, False], bootstrap=10)
    assert cv.skipped == [] and len(cv.folds) == 3
    cv = leave_one_model_out(["a", "a", "b"], [0.9, 0.1, 0.8], [True, False, True], bootstrap=10)
    assert cv.skipped == ["a"] and [f.held_out for f in cv.folds] == ["b"]


def test_one_model_is_not_cross_validation():
    with pytest.raises(UserError, match="at least two models"):
        leave_one_model_out(["a", "a"], [0.1, 0.9], [False, True])
