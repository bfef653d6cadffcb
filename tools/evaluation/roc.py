"""ROC analysis of a score against binary labels, threshold selection, and a ROC plot.

Used to judge the certainty gate (a latent is accepted when certainty >= threshold) against the
ground truth "this latent controls a factor", and to calibrate its threshold.

Steps (`roc_curve`):
1. Sort the distinct scores from high to low: s_1 > s_2 > ... > s_m. Cut c accepts every item
   with score >= s_c (cut 0 accepts nothing).
2. At each cut: TP, FP (accepted positives / negatives), TPR = TP / P, FPR = FP / N.
3. AUC: trapezoidal area under (FPR, TPR) from (0, 0) to (1, 1). Tied scores form one cut, so
   the area equals the probability that a random positive scores above a random negative, ties
   counted half (the Mann-Whitney U statistic / (P N)). Undefined (NaN) without both classes.

Threshold selection (`select_threshold`), over cuts 1..m:
- "max-jaccard": maximise Jaccard = TP / (TP + FP + FN), the agreement of "accepted" with
  "positive" (the criterion of LatentExplainer, Zhu et al. 2024, for its threshold 0.2617).
- "youden": maximise Youden's J = TPR - FPR (Youden 1950), the ROC point farthest above the
  chance diagonal.
- "bounded-fpr": maximise TPR among the cuts with FPR <= MAX_FALSE_ACCEPTS (a Neyman-Pearson
  criterion: the false-accept rate is the constraint, as the product promises "no clear
  explanation" rather than a wrong one); when no cut meets the bound, the cut with the lowest
  FPR. Max-Jaccard weighs a false accept like a missed explanation and, on models with many
  entangled latents, buys recall with false accepts.
Ties are broken by the widest gap s_c - s_{c+1} (the most room on both sides). The threshold
returned is the midpoint (s_c + s_{c+1}) / 2, so that scores near the cut on either side keep
their side; at the last cut it is s_m itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.errors import UserError

METHODS: tuple[str, ...] = ("max-jaccard", "youden", "bounded-fpr")
MAX_FALSE_ACCEPTS = 0.05
"""The false-accept rate "bounded-fpr" allows (the target of issue 15)."""


@dataclass(frozen=True)
class RocCurve:
    """Points from (0, 0) to (1, 1): fpr, tpr (each length m + 1) and thresholds (length m + 1;
    thresholds[c] = s_c, thresholds[0] = +inf: accept nothing). auc in [0, 1], NaN with one
    class only. positives, negatives: P and N."""

    fpr: list[float]
    tpr: list[float]
    thresholds: list[float]
    auc: float
    positives: int
    negatives: int


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold, how it was chosen, and the operating point it gives (accept when
    score >= threshold): tpr, fpr, jaccard, youden_j, f1 of accepted vs positive."""

    threshold: float
    method: str
    tpr: float
    fpr: float
    jaccard: float
    youden_j: float
    f1: float


def _as_arrays(scores: Sequence[float], labels: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=bool).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"need one label per score; got {s.size} scores and {y.size} labels")
    if not np.isfinite(s).all():
        raise ValueError(f"scores must be finite; got {s[~np.isfinite(s)][:5].tolist()}")
    return s, y


def _cuts(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores high to low (m,), and TP, FP at each cut 1..m (m,) (step 2)."""
    distinct = np.unique(s)[::-1]
    tp = np.array([(y & (s >= t)).sum() for t in distinct], dtype=np.int64)
    fp = np.array([(~y & (s >= t)).sum() for t in distinct], dtype=np.int64)
    return distinct, tp, fp


def roc_curve(scores: Sequence[float], labels: Sequence[bool]) -> RocCurve:
    """ROC of scores (n,) against labels (n,) (True = positive); module docstring, steps 1-3."""
    s, y = _as_arrays(scores, labels)
    positives, negatives = int(y.sum()), int((~y).sum())
    distinct, tp, fp = _cuts(s, y)
    tpr = np.concatenate([[0.0], tp / positives]) if positives else np.zeros(distinct.size + 1)
    fpr = np.concatenate([[0.0], fp / negatives]) if negatives else np.zeros(distinct.size + 1)
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)) if positives and negatives else math.nan
    return RocCurve(
        fpr=fpr.tolist(),
        tpr=tpr.tolist(),
        thresholds=[math.inf, *distinct.tolist()],
        auc=auc,
        positives=positives,
        negatives=negatives,
    )


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve in [0, 1]; NaN when the labels hold only one class."""
    return roc_curve(scores, labels).auc


def operating_point(scores: Sequence[float], labels: Sequence[bool], threshold: float, method: str = "given") -> ThresholdChoice:
    """What accepting score >= threshold gives against the labels. Ratios with a zero
    denominator are NaN."""
    s, y = _as_arrays(scores, labels)
    accepted = s >= threshold
    tp, fp = int((accepted & y).sum()), int((accepted & ~y).sum())
    fn = int((~accepted & y).sum())
    positives, negatives = int(y.sum()), int((~y).sum())

    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    tpr, fpr = ratio(tp, positives), ratio(fp, negatives)
    return ThresholdChoice(
        threshold=float(threshold),
        method=method,
        tpr=tpr,
        fpr=fpr,
        jaccard=ratio(tp, tp + fp + fn),
        youden_j=tpr - fpr,
        f1=ratio(2 * tp, 2 * tp + fp + fn),
    )


def select_threshold(scores: Sequence[float], labels: Sequence[bool], method: str = "max-jaccard") -> ThresholdChoice:
    """The threshold that maximises the method's criterion (module docstring).

    Raises UserError for an unknown method or when the labels do not hold both classes (no
    threshold separates anything then)."""
    if method not in METHODS:
        raise UserError(f"unknown threshold method {method!r}; use one of {', '.join(METHODS)}")
    s, y = _as_arrays(scores, labels)
    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        raise UserError(
            f"choosing a threshold needs both positive and negative items; got {positives} positive and "
            f"{negatives} negative of {y.size}"
        )
    distinct, tp, fp = _cuts(s, y)
    fn = positives - tp
    if method == "max-jaccard":
        criterion = tp / (tp + fp + fn)
    elif method == "youden":
        criterion = tp / positives - fp / negatives
    else:
        fpr = fp / negatives
        within = fpr <= MAX_FALSE_ACCEPTS + 1e-12
        criterion = np.where(within, tp / positives, -fpr) if within.any() else -fpr
    gaps = np.append(distinct[:-1] - distinct[1:], 0.0)
    best = max(range(distinct.size), key=lambda c: (round(float(criterion[c]), 12), gaps[c]))
    threshold = (distinct[best] + distinct[best + 1]) / 2 if best + 1 < distinct.size else distinct[best]
    return operating_point(s, y, float(threshold), method)


@dataclass(frozen=True)
class PlotArea:
    """Where the unit square [0, 1]^2 of (FPR, TPR) lies in a size x size image: left, top,
    right, bottom pixel edges. to_pixel maps (fpr, tpr) to (column, row); TPR grows upward."""

    size: int
    margin: int

    @property
    def left(self) -> int:
        return self.margin

    @property
    def right(self) -> int:
        return self.size - self.margin // 2

    @property
    def top(self) -> int:
        return self.margin // 2

    @property
    def bottom(self) -> int:
        return self.size - self.margin

    def to_pixel(self, fpr: float, tpr: float) -> tuple[float, float]:
        return self.left + fpr * (self.right - self.left), self.bottom - tpr * (self.bottom - self.top)


CURVE_COLOUR = (31, 94, 200)
MARK_COLOUR = (214, 60, 40)
DIAGONAL_COLOUR = (170, 170, 170)


def plot_area(size: int = 480) -> PlotArea:
    """The layout `write_roc_png` uses for an image of size x size pixels."""
    return PlotArea(size=size, margin=max(size // 8, 40))


def write_roc_png(
    curve: RocCurve,
    path: str | Path,
    title: str = "ROC",
    marked: ThresholdChoice | None = None,
    size: int = 480,
) -> Path:
    """Draw the ROC curve as a size x size RGB PNG with Pillow: axes with ticks at 0, 0.5, 1,
    the chance diagonal (grey), the curve (blue, CURVE_COLOUR), the AUC in the title, and the
    operating point of `marked` (red dot with its threshold). Returns the path."""
    from PIL import Image, ImageDraw, ImageFont

    if size < 160:
        raise UserError(f"ROC plot size {size} is too small; use at least 160 pixels")
    area = plot_area(size)
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(size // 40, 10))
    draw.rectangle((area.left, area.top, area.right, area.bottom), outline="black")
    draw.line([area.to_pixel(0, 0), area.to_pixel(1, 1)], fill=DIAGONAL_COLOUR, width=1)
    for value in (0.0, 0.5, 1.0):
        x, _ = area.to_pixel(value, 0)
        _, y = area.to_pixel(0, value)
        draw.line([(x, area.bottom), (x, area.bottom + 4)], fill="black")
        draw.line([(area.left - 4, y), (area.left, y)], fill="black")
        draw.text((x, area.bottom + 6), f"{value:g}", fill="black", font=font, anchor="mt")
        draw.text((area.left - 6, y), f"{value:g}", fill="black", font=font, anchor="rm")
    draw.text(((area.left + area.right) / 2, size - 4), "false positive rate", fill="black", font=font, anchor="md")
    label = Image.new("RGB", (area.bottom - area.top, font.size + 4), "white")
    ImageDraw.Draw(label).text((label.width / 2, 0), "true positive rate", fill="black", font=font, anchor="mt")
    image.paste(label.rotate(90, expand=True), (2, area.top))
    points = [area.to_pixel(f, t) for f, t in zip(curve.fpr, curve.tpr, strict=True)]
    if len(points) > 1:
        draw.line(points, fill=CURVE_COLOUR, width=3, joint="curve")
    auc = "n/a" if math.isnan(curve.auc) else f"{curve.auc:.3f}"
    header = f"{title}  AUC {auc}  (P={curve.positives}, N={curve.negatives})"
    draw.text((area.left, area.top - 4), header, fill="black", font=font, anchor="lb")
    if marked is not None and not (math.isnan(marked.tpr) or math.isnan(marked.fpr)):
        x, y = area.to_pixel(marked.fpr, marked.tpr)
        draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=MARK_COLOUR)
        draw.text((x + 8, y + 8), f"threshold {marked.threshold:.3f}", fill=MARK_COLOUR, font=font, anchor="lt")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path
