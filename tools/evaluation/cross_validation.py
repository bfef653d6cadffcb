"""Choosing the certainty threshold out of sample: leave one model out.

A threshold fitted and scored on the same latents says little about the next model. Here every
model is held out in turn (Stone 1974; Hastie, Tibshirani & Friedman, "The Elements of
Statistical Learning", 7.10):

1. Items: (model, certainty, label) per latent, label = "controls a factor"
   (tools/evaluation/scoring.py "active"; a hard negative, tools/evaluation/hard_negatives.py,
   is labelled False: its frames change, but without one meaning).
2. For each model m: choose the threshold on the other models' items
   (tools/evaluation/roc.py select_threshold: bounded-fpr, max-Jaccard or Youden) and decide
   m's items with it. A fold whose training items lack a class chooses nothing and is left out (named in
   `skipped`).
3. Out-of-sample figures over all decided items: F1 and Jaccard of acceptance against the
   label, the false-accept rate (accepted negatives / negatives) and the true-accept rate;
   the AUC of the certainty (the AUC needs no threshold, so it is out of sample as it is).
4. 95% intervals by the percentile bootstrap (Efron & Tibshirani 1993): BOOTSTRAP resamples of
   the decided items with replacement, seeded; a resample without both classes is skipped
   for the AUC.
5. The threshold to ship: the median of the fold thresholds (each chosen without one model),
   with the all-model fit recorded beside it for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from tools.errors import UserError
from tools.evaluation.roc import roc_auc, select_threshold

BOOTSTRAP = 1000


@dataclass(frozen=True)
class Fold:
    """held_out: the model left out; threshold: chosen on the others; n: its items."""

    held_out: str
    threshold: float
    n: int


@dataclass(frozen=True)
class CrossValidation:
    """threshold: the one to ship (step 5); all_models_threshold: fitted on every item.
    f1, jaccard, false_accept_rate, true_accept_rate, auc: out of sample (step 3), each with
    its 95% bootstrap interval in `intervals` ([low, high]). folds, skipped: step 2."""

    threshold: float
    all_models_threshold: float
    method: str
    f1: float
    jaccard: float
    false_accept_rate: float
    true_accept_rate: float
    auc: float
    n_items: int
    n_positive: int
    folds: list[Fold]
    skipped: list[str] = field(default_factory=list)
    intervals: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _rates(accepted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    tp = float((accepted & labels).sum())
    fp = float((accepted & ~labels).sum())
    fn = float((~accepted & labels).sum())
    negatives, positives = float((~labels).sum()), float(labels.sum())
    nan = math.nan
    return {
        "f1": 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else nan,
        "jaccard": tp / (tp + fp + fn) if (tp + fp + fn) else nan,
        "false_accept_rate": fp / negatives if negatives else nan,
        "true_accept_rate": tp / positives if positives else nan,
    }


def leave_one_model_out(models: Sequence[str], certainties: Sequence[float], labels: Sequence[bool],
                        method: str = "bounded-fpr", seed: int = 0, bootstrap: int = BOOTSTRAP) -> CrossValidation:
    """Steps 1-5 over items given as three parallel sequences (one entry per latent)."""
    models_ = np.asarray(list(models))
    scores = np.asarray(list(certainties), dtype=np.float64)
    truth = np.asarray(list(labels), dtype=bool)
    if not (len(models_) == len(scores) == len(truth)) or len(scores) == 0:
        raise UserError("cross-validation needs one model, certainty and label per latent, and at least one latent")
    names = list(dict.fromkeys(models_.tolist()))
    if len(names) < 2:
        raise UserError(f"leave-one-model-out needs at least two models; got {names}")
    folds, skipped = [], []
    decided = np.zeros(len(scores), dtype=bool)
    accepted = np.zeros(len(scores), dtype=bool)
    for name in names:
        test = models_ == name
        train = ~test
        if truth[train].all() or not truth[train].any():
            skipped.append(name)
            continue
        choice = select_threshold(scores[train].tolist(), truth[train].tolist(), method)
        folds.append(Fold(held_out=name, threshold=float(choice.threshold), n=int(test.sum())))
        decided |= test
        accepted[test] = scores[test] >= choice.threshold
    if not folds:
        raise UserError("no fold could choose a threshold: every training set lacked a positive or a negative latent")
    whole = select_threshold(scores.tolist(), truth.tolist(), method)
    s, y, a = scores[decided], truth[decided], accepted[decided]
    point = _rates(a, y) | {"auc": roc_auc(s.tolist(), y.tolist())}
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {key: [] for key in point}
    for _ in range(bootstrap):
        pick = rng.integers(0, len(s), len(s))
        rates = _rates(a[pick], y[pick])
        if y[pick].all() or not y[pick].any():
            rates["auc"] = math.nan
        else:
            rates["auc"] = roc_auc(s[pick].tolist(), y[pick].tolist())
        for key, value in rates.items():
            if not math.isnan(value):
                samples[key].append(value)
    intervals = {key: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v else [math.nan, math.nan]
                 for key, v in samples.items()}
    return CrossValidation(
        threshold=float(np.median([f.threshold for f in folds])),
        all_models_threshold=float(whole.threshold),
        method=method,
        f1=point["f1"], jaccard=point["jaccard"], false_accept_rate=point["false_accept_rate"],
        true_accept_rate=point["true_accept_rate"], auc=point["auc"],
        n_items=int(decided.sum()), n_positive=int(y.sum()), folds=folds, skipped=skipped, intervals=intervals,
    )
