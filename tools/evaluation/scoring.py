"""Scoring a run's explanations against the label-derived ground truth.

Inputs: a results.json object (docs/results.md) and a tools.evaluation.ground_truth.GroundTruth of the
same model. Nothing here looks at images or at the describer's measurements.

Steps (`evaluate_results`):
1. Truth of a results entry: the union, strongest first, of the factors its latent indices
   control (one index for a disentanglement bias, a group for a combination bias). An index
   outside the model's latents is a UserError: the results belong to another model.
2. The entry is *active* when that union is not empty: the labels say it controls a factor.
   Its truth reads as the factor names, "inactive" when every index has a mean KL under the
   floor, or "uninformative" when a latent carries information (KL over the floor) about none
   of the labelled factors. An uninformative latent counts as inactive for scoring: no
   explanation of it can be checked, and the product should call it unclear.
3. Named factors: tools.evaluation.factor_naming.named_factors of the explanation (vocabulary per factor,
   negations and steadiness handled there); an entry without an explanation names nothing.
   named? = the explanation names at least one true factor.
4. Lenient and strict factor accuracy, over active entries (NaN without any):
   factor_accuracy (lenient, the old figure) = (explained and named?) / active;
   strict_factor_accuracy = (explained, named? and no false factor named: named is a subset
   of the truth) / active. An explanation naming four factors is no longer right for any one
   of them.
   factor_precision = sum |named & truth| / sum |named| over explained entries (an explained
   inactive or uninformative latent names only false factors); factor_recall =
   sum |named & truth| / sum |truth| over active entries (an active latent left unclear names
   none of its factors). Both micro-averaged, NaN when the denominator is 0.
5. Gating quality over all entries, against "active":
   gating_auc = ROC AUC of the recorded certainty (tools/evaluation/roc.py; NaN with one class only);
   gating_f1 = 2 TP / (2 TP + FP + FN) and gating_jaccard = TP / (TP + FP + FN) of
   (status == "explained"); NaN when there is neither a positive nor an acceptance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tools.errors import UserError
from tools.evaluation.factor_naming import named_factors
from tools.evaluation.ground_truth import GroundTruth
from tools.evaluation.roc import roc_auc

INACTIVE = "inactive"
UNINFORMATIVE = "uninformative"


@dataclass(frozen=True)
class LatentScore:
    """One results entry judged against the truth.

    latent: the entry's id ("z3"). indices: its latent indices. truth: factors it controls,
    strongest first ([] when not active). truth_label: ", ".join(truth), or INACTIVE /
    UNINFORMATIVE (module docstring, step 2). active: truth is not empty. explanation: the
    accepted explanation or None. named: the factors the explanation names, sorted.
    named_true: it names at least one true factor. certainty: the recorded certainty.
    status: explained | unclear | failed. named_false: the named factors that are not true.
    strict_correct: active, explained, a true factor named and no false one."""

    latent: str
    indices: list[int]
    truth: list[str]
    truth_label: str
    active: bool
    explanation: str | None
    named: list[str]
    named_true: bool
    certainty: float
    status: str
    named_false: list[str] = field(default_factory=list)
    strict_correct: bool = False


@dataclass(frozen=True)
class Evaluation:
    """rows: one per results entry, in results order. factor_accuracy (lenient),
    strict_factor_accuracy, factor_precision, factor_recall, gating_auc, gating_f1,
    gating_jaccard: module docstring, steps 4-5 (each in [0, 1] or NaN). threshold_source:
    where the run's threshold came from (settings.threshold_source; None when not recorded). n_active,
    n_explained: counts over rows. threshold: the certainty threshold the run used (None when
    the results do not say)."""

    rows: list[LatentScore]
    factor_accuracy: float
    gating_auc: float
    gating_f1: float
    gating_jaccard: float
    n_active: int
    n_explained: int
    threshold: float | None
    strict_factor_accuracy: float = math.nan
    factor_precision: float = math.nan
    factor_recall: float = math.nan
    threshold_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; NaN becomes None."""
        return json_ready(asdict(self))


def json_ready(value: Any) -> Any:
    """A copy of value with every non-finite float (NaN, inf) replaced by None, recursively
    through dicts, lists and tuples: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def entry_truth(indices: list[int], truth: GroundTruth) -> tuple[list[str], str]:
    """(factors, truth_label) of a results entry covering latent `indices` (steps 1-2)."""
    n = len(truth.latents)
    bad = [i for i in indices if not (isinstance(i, int) and 0 <= i < n)]
    if bad or not indices:
        raise UserError(
            f"results entry with latent indices {indices} does not fit the model's ground truth "
            f"({n} latents, indices 0..{n - 1}); are the results from another model?"
        )
    strength: dict[str, float] = {}
    for i in indices:
        latent = truth.latents[i]
        for name in latent.factors:
            strength[name] = max(strength.get(name, 0.0), latent.normalized_mi.get(name, 0.0))
    factors = sorted(strength, key=lambda name: -strength[name])
    if factors:
        return factors, ", ".join(factors)
    any_active = any(truth.latents[i].active for i in indices)
    return [], UNINFORMATIVE if any_active else INACTIVE


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


def score_entry(entry: Mapping[str, Any], truth: GroundTruth) -> LatentScore:
    """One results entry (needs id, indices, status, certainty; explanation may be None)."""
    try:
        indices = [int(i) for i in entry["indices"]]
        latent_id, status, certainty = str(entry["id"]), str(entry["status"]), float(entry["certainty"])
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"results entry {dict(entry).get('id', '?')!r} lacks a valid {error}; is this a results.json?") from None
    factors, label = entry_truth(indices, truth)
    explanation = entry.get("explanation")
    named = sorted(named_factors(explanation)) if explanation else []
    named_false = [name for name in named if name not in factors]
    named_true = bool(set(named) & set(factors))
    return LatentScore(
        latent=latent_id,
        indices=indices,
        truth=factors,
        truth_label=label,
        active=bool(factors),
        explanation=explanation,
        named=named,
        named_true=named_true,
        certainty=certainty,
        status=status,
        named_false=named_false,
        strict_correct=bool(factors) and status == "explained" and named_true and not named_false,
    )


def _threshold(results: Mapping[str, Any]) -> float | None:
    settings = results.get("settings") or {}
    if isinstance(settings.get("threshold"), int | float):
        return float(settings["threshold"])
    for entry in results.get("latents") or []:
        if isinstance(entry.get("threshold"), int | float):
            return float(entry["threshold"])
    return None


def evaluate_results(results: Mapping[str, Any], truth: GroundTruth) -> Evaluation:
    """Score every latent entry of `results` (the results.json object) against `truth`
    (module docstring). Raises UserError when the results hold no latents or do not fit."""
    entries = results.get("latents") or []
    if not entries:
        raise UserError("the results hold no latents to evaluate; did the run finish?")
    rows = [score_entry(entry, truth) for entry in entries]
    active = [row.active for row in rows]
    accepted = [row.status == "explained" for row in rows]
    tp = sum(a and b for a, b in zip(active, accepted, strict=True))
    fp = sum(b and not a for a, b in zip(active, accepted, strict=True))
    fn = sum(a and not b for a, b in zip(active, accepted, strict=True))
    correct = sum(row.active and row.status == "explained" and row.named_true for row in rows)
    explained = [row for row in rows if row.status == "explained"]
    hits = sum(len(set(row.named) & set(row.truth)) for row in explained)
    recall_hits = sum(len(set(row.named) & set(row.truth)) for row in rows if row.active and row.status == "explained")
    settings = results.get("settings") or {}
    source = settings.get("threshold_source")
    return Evaluation(
        rows=rows,
        factor_accuracy=_ratio(correct, sum(active)),
        gating_auc=roc_auc([row.certainty for row in rows], active),
        gating_f1=_ratio(2 * tp, 2 * tp + fp + fn),
        gating_jaccard=_ratio(tp, tp + fp + fn),
        n_active=sum(active),
        n_explained=sum(accepted),
        threshold=_threshold(results),
        strict_factor_accuracy=_ratio(sum(row.strict_correct for row in rows), sum(active)),
        factor_precision=_ratio(hits, sum(len(row.named) for row in explained)),
        factor_recall=_ratio(recall_hits, sum(len(row.truth) for row in rows if row.active)),
        threshold_source=str(source) if source is not None else None,
    )
