"""The certainty measures a run can use, behind one function.

- "groups" (the default): samples grouped by meaning, certainty = share of the largest group
  (tools/certainty/semantic_groups.py; saved as SEMANTIC_MEASURE).
- "cosine": the paper's mean pairwise cosine of MiniLM sentence embeddings, medoid kept
  (tools/certainty/similarity.py; saved as SIMILARITY_MEASURE), kept for comparison.

A threshold belongs to one measure (and one vision backend): tools/certainty/calibration.py
stores and looks thresholds up by the measure's saved name, `measure_id(name)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tools.certainty.claims import Claim
from tools.errors import UserError

MEASURES = ("groups", "cosine")
DEFAULT_MEASURE = "groups"


def measure_id(name: str) -> str:
    """The saved name of a measure ("groups" -> "semantic-groups/claims")."""
    from tools.certainty.semantic_groups import SEMANTIC_MEASURE
    from tools.certainty.similarity import SIMILARITY_MEASURE

    if name not in MEASURES:
        raise UserError(f"certainty measure {name!r} is unknown; use one of {', '.join(MEASURES)}")
    return SEMANTIC_MEASURE if name == "groups" else SIMILARITY_MEASURE


@dataclass(frozen=True)
class Certainty:
    """certainty: the measure's score. representative: index of the sample kept as the
    explanation. groups: sample indices per group, largest first (cosine: one group of the
    samples that saw a change, then each other alone). measure: the saved name (measure_id).
    claims: per sample, its claims as JSON dicts (given or parsed from the text)."""

    certainty: float
    representative: int
    groups: list[list[int]]
    measure: str
    claims: list[list[dict]]


def measure_certainty(samples: Sequence[str], measure: str = DEFAULT_MEASURE,
                      claims: Sequence[Sequence[Claim | dict] | None] | None = None,
                      visible: Sequence[bool] | None = None) -> Certainty:
    """The certainty of n explanation samples under `measure` (one of MEASURES). claims: per
    sample, its structured claims when the vision backend gave them (else parsed from the
    text). visible: per sample, whether it saw a change (a sample that saw none claims
    nothing, whatever its text)."""
    from tools.certainty.semantic_groups import group_samples

    if not samples:
        raise UserError("no explanation samples to measure")
    given = list(claims) if claims is not None else [None] * len(samples)
    texts = list(samples)
    if visible is not None:  # a sample that saw no change claims nothing: no claims, no text to read
        given = [c if seen else [] for c, seen in zip(given, visible, strict=True)]
        texts = [t if seen else "" for t, seen in zip(texts, visible, strict=True)]
    grouping = group_samples(texts, given)
    claim_dicts = [[c.to_dict() for c in sample] for sample in grouping.claims]
    if measure == "groups":
        return Certainty(grouping.certainty, grouping.representative, grouping.groups, measure_id(measure),
                         claim_dicts)
    from tools.certainty.similarity import agreement

    result = agreement(list(samples), None if visible is None else list(visible))
    seen = [i for i in range(len(samples)) if visible is None or visible[i]]
    groups = ([seen] if seen else []) + [[i] for i in range(len(samples)) if i not in seen]
    return Certainty(result.certainty, result.medoid, groups, measure_id(measure), claim_dicts)
