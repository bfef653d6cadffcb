"""DCI and SAP disentanglement scores of a model's codes, from an encoded labelled sample.

Inputs everywhere: codes (N, D) real (posterior means of q(z|x)), factors (N, K) integer factor
indices (for dSprites in tools.data.dsprites.FACTOR_NAMES order). Both scores split the sample once
into a training and a test part (a seeded permutation, `train_fraction` for training). The
MIG lives in tools/evaluation/ground_truth.py.

DCI (Eastwood & Williams 2018, "A framework for the quantitative evaluation of disentangled
representations"), `dci`:
1. Per factor k, a random-forest classifier predicts v_k from all D codes (training part).
2. Importance R_ik of code i for factor k: the mean drop of the classifier's test accuracy when
   column i of the test codes is shuffled (permutation importance, Breiman 2001), 3 shuffles,
   clipped at 0. (The paper used the forest's impurity importance; that credits pure-noise codes,
   such as a collapsed latent's, with a share of every factor, which the permutation drop does
   not.)
3. Disentanglement: P_ik = R_ik / sum_k' R_ik'; D_i = 1 - H_K(P_i.), the entropy in base K;
   D = sum_i rho_i D_i with rho_i = sum_k R_ik / sum_ik R_ik (codes that matter weigh more).
4. Completeness: P~_ik = R_ik / sum_i' R_i'k; C_k = 1 - H_D(P~_.k), base D; C = mean_k C_k.
5. Informativeness: test accuracy of the classifier, per factor and its mean (the paper reports
   the prediction error instead; accuracy is 1 - that error for classification).
A code or factor with no importance at all scores 0 (and weighs 0 in D).

SAP (Kumar et al. 2018, "Variational inference of disentangled latent concepts from unlabeled
observations", section 3), `sap`:
1. Score matrix S (D, K) from single codes: for a continuous factor, the R^2 on the test part of
   the least-squares line v_k ~ a z_i + b fitted on the training part (clipped to [0, 1]); for a
   categorical factor, the balanced accuracy on the test part of thresholds on z_i fitted on the
   training part (a depth ceil(log2 K_k) decision tree on the one code, classes weighted
   equally).
2. SAP = mean over factors of the gap between the largest and the second largest S_ik.
A linear fit cannot follow a circular factor (dSprites orientation): its column is near 0 for
every code whatever the model, which lowers SAP for all models alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_TRAIN_FRACTION = 0.8
PERMUTATION_REPEATS = 3
FOREST_TREES = 20
FOREST_MIN_LEAF = 20


@dataclass(frozen=True)
class DCIScores:
    """disentanglement, completeness, informativeness in [0, 1]; importance (D, K) as nested
    lists; informativeness_per_factor (K,) test accuracies."""

    disentanglement: float
    completeness: float
    informativeness: float
    importance: list[list[float]]
    informativeness_per_factor: list[float]


@dataclass(frozen=True)
class SAPScore:
    """score: SAP in [0, 1]; matrix: S (D, K) as nested lists (module docstring)."""

    score: float
    matrix: list[list[float]]


def _check(codes: np.ndarray, factors: np.ndarray, train_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or codes.shape[0] != factors.shape[0]:
        raise ValueError(f"need codes (N, D) and factors (N, K) with the same N; got {codes.shape} and {factors.shape}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1); got {train_fraction}")
    if not np.isfinite(codes).all():
        raise ValueError("codes hold non-finite values")
    constant = [k for k in range(factors.shape[1]) if np.unique(factors[:, k]).size < 2]
    if constant:
        raise ValueError(f"factors {constant} take a single value in this sample; nothing to predict")
    return codes, factors.astype(np.int64)


def split_indices(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) index arrays of a seeded permutation of range(n); both non-empty."""
    order = np.random.default_rng(seed).permutation(n)
    cut = min(max(int(round(train_fraction * n)), 1), n - 1)
    return order[:cut], order[cut:]


def normalized_entropy(p: np.ndarray) -> float:
    """Entropy of a distribution p (n,) (non-negative, sums to 1) in base n, in [0, 1]; 0 for
    n <= 1."""
    if p.size <= 1:
        return 0.0
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(p.size))


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (D, K), R >= 0 (module
    docstring, steps 3-4)."""
    r = np.asarray(importance, dtype=np.float64)
    total = r.sum()
    if total <= 0:
        return 0.0, 0.0
    row_sums, col_sums = r.sum(axis=1), r.sum(axis=0)
    d_i = np.array([1 - normalized_entropy(r[i] / s) if s > 0 else 0.0 for i, s in enumerate(row_sums)])
    c_k = np.array([1 - normalized_entropy(r[:, k] / s) if s > 0 else 0.0 for k, s in enumerate(col_sums)])
    return float((row_sums / total * d_i).sum()), float(c_k.mean())


def dci(
    codes: np.ndarray, factors: np.ndarray, train_fraction: float = DEFAULT_TRAIN_FRACTION, seed: int = 0
) -> DCIScores:
    """DCI of codes (N, D) against factor indices (N, K) (module docstring, DCI steps 1-5)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.inspection import permutation_importance

    codes, factors = _check(codes, factors, train_fraction)
    train, test = split_indices(codes.shape[0], train_fraction, seed)
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    accuracy = []
    for k in range(factors.shape[1]):
        forest = RandomForestClassifier(
            n_estimators=FOREST_TREES, min_samples_leaf=FOREST_MIN_LEAF, random_state=seed, n_jobs=1
        ).fit(codes[train], factors[train, k])
        accuracy.append(float(forest.score(codes[test], factors[test, k])))
        drop = permutation_importance(
            forest, codes[test], factors[test, k], n_repeats=PERMUTATION_REPEATS, random_state=seed
        ).importances_mean
        importance[:, k] = np.clip(drop, 0.0, None)
    disentanglement, completeness = dci_from_importance(importance)
    return DCIScores(
        disentanglement=disentanglement,
        completeness=completeness,
        informativeness=float(np.mean(accuracy)),
        importance=importance.tolist(),
        informativeness_per_factor=accuracy,
    )


def _r_squared(z_train: np.ndarray, v_train: np.ndarray, z_test: np.ndarray, v_test: np.ndarray) -> float:
    """R^2 on the test part of the least-squares line fitted on the training part, in [0, 1]."""
    spread = z_train.var()
    slope = float(np.cov(z_train, v_train, bias=True)[0, 1] / spread) if spread > 0 else 0.0
    intercept = v_train.mean() - slope * z_train.mean()
    residual = ((v_test - (slope * z_test + intercept)) ** 2).sum()
    total = ((v_test - v_test.mean()) ** 2).sum()
    return float(np.clip(1 - residual / total, 0.0, 1.0)) if total > 0 else 0.0


def _threshold_accuracy(z_train: np.ndarray, v_train: np.ndarray, z_test: np.ndarray, v_test: np.ndarray, seed: int) -> float:
    """Balanced test accuracy of thresholds on one code (a shallow decision tree)."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.tree import DecisionTreeClassifier

    n_classes = np.unique(v_train).size
    depth = max(1, math.ceil(math.log2(n_classes)))
    tree = DecisionTreeClassifier(max_depth=depth, class_weight="balanced", random_state=seed)
    tree.fit(z_train[:, None], v_train)
    return float(balanced_accuracy_score(v_test, tree.predict(z_test[:, None])))


def sap_from_matrix(matrix: np.ndarray) -> float:
    """SAP of a score matrix S (D, K): mean over columns of the top-two gap (0 when D = 1 gives
    the top score itself)."""
    ordered = -np.sort(-np.asarray(matrix, dtype=np.float64), axis=0)
    second = ordered[1] if ordered.shape[0] > 1 else np.zeros(ordered.shape[1])
    return float((ordered[0] - second).mean())


def sap(
    codes: np.ndarray,
    factors: np.ndarray,
    categorical: Sequence[bool],
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    seed: int = 0,
) -> SAPScore:
    """SAP of codes (N, D) against factor indices (N, K); categorical (K,) marks the factors
    scored by classification (dSprites: shape) rather than regression (module docstring)."""
    codes, factors = _check(codes, factors, train_fraction)
    if len(categorical) != factors.shape[1]:
        raise ValueError(f"categorical has {len(categorical)} flags for {factors.shape[1]} factors")
    train, test = split_indices(codes.shape[0], train_fraction, seed)
    matrix = np.zeros((codes.shape[1], factors.shape[1]))
    for k, is_categorical in enumerate(categorical):
        v = factors[:, k]
        for i in range(codes.shape[1]):
            z = codes[:, i]
            if is_categorical:
                matrix[i, k] = _threshold_accuracy(z[train], v[train], z[test], v[test], seed)
            else:
                matrix[i, k] = _r_squared(z[train], v[train].astype(np.float64), z[test], v[test].astype(np.float64))
    return SAPScore(score=sap_from_matrix(matrix), matrix=matrix.tolist())
