"""Certainty from meaning: the n explanation samples grouped by what they claim.

The paper's certainty (mean pairwise cosine of sentence embeddings, tools/certainty/similarity.py)
scores "drifts to the right" x 3 + "drifts to the left" x 2 at 0.985: embeddings see topic, not
direction. Here two samples agree only when they claim the same property changing the same
way. This is the idea of semantic entropy (Kuhn, Gal & Farquhar 2023, "Semantic uncertainty";
Farquhar et al. 2024, Nature, "Detecting hallucinations in large language models using semantic
entropy"), which clusters sampled answers by bidirectional entailment and scores the
distribution over clusters; compare Lin, Trivedi & Sun 2024 ("Generating with confidence"),
whose degree and eigenvalue measures also come from a pairwise agreement graph. Entailment
between two explanations of an image change reduces to comparing their claims
(tools/certainty/claims.py), which the offline describer emits directly and an MLLM is asked
for (or tools/certainty/claim_parser.py reads from its text).

Steps (`group_samples`):
1. Claims per sample (given, or parsed from the text when none are given). A sample with no claim (no visible
   change, or nothing this reader can place) agrees with nothing: it is its own group.
2. Two claims are about the same property when their property names are equal; two free-text
   (non-canonical) names are also the same when the cosine of their MiniLM embeddings is at
   least SAME_PROPERTY_COSINE ("hue of the floor" and "floor colour"). Embeddings are used
   for nothing else.
3. Two changes of one property are compatible when equal; or when one of them is VAGUE
   ("changes": a direction not given); or both end in the same state ("to green", "from red
   to green" and "from blue to green": the floor turns green; the start differs with the
   anchor, most of all in a conditional traversal, which starts from images without the
   attribute). Opposite directions are never compatible, nor different end states.
4. Every specific claim made by some sample is a candidate meaning (a vague one only when its
   property has no specific claim). Its support: the samples with a compatible claim of that
   property. The largest support is the best-supported group (ties: the candidate named by
   more samples verbatim, then the earlier one); it is removed and step 4 repeats on the
   rest, which gives a partition of the samples into groups.
5. certainty = |largest group| / n ("share"). The normalised semantic entropy of the
   partition, H = -sum p_g log p_g / log n, is reported too (1 - H is the other score the
   literature uses; see docs/certainty.md for why the share is the default).
6. The explanation kept is the group's representative: the member whose claims are, on
   average, supported by the most members of its group (ties: the earlier sample).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tools.certainty.claims import CANONICAL_PROPERTIES, Claim

SEMANTIC_MEASURE = "semantic-groups/claims"
"""The name this measure is saved under in calibration files and results.json."""
VAGUE = "changes"
SAME_PROPERTY_COSINE = 0.8


@dataclass(frozen=True)
class Grouping:
    """certainty: share of the largest group, in [0, 1]. groups: sample indices per group,
    largest first (every sample in exactly one). representative: index of the kept sample.
    meaning: the best-supported group's claim (None when no sample claims anything).
    entropy: normalised semantic entropy of the partition, in [0, 1]. claims: per sample."""

    certainty: float
    groups: list[list[int]]
    representative: int
    meaning: Claim | None
    entropy: float
    claims: list[list[Claim]] = field(default_factory=list)


def _end_state(change: str) -> str | None:
    """"from red to green" / "to green" -> "green"; None for other changes."""
    if change.startswith("to "):
        return change[3:]
    if change.startswith("from ") and " to " in change and " and back" not in change:
        return change.rsplit(" to ", 1)[1]
    return None


def compatible(a: str, b: str) -> bool:
    """Whether two changes of one property say the same (step 3)."""
    if a == b or VAGUE in (a, b):
        return True
    end_a = _end_state(a)
    return end_a is not None and end_a == _end_state(b)


class _PropertyMatcher:
    """Step 2, with the embeddings of free-text properties computed once, when first needed."""

    def __init__(self, embed: Callable[[list[str]], object] | None):
        self.embed = embed
        self.cache: dict[tuple[str, str], bool] = {}

    def same(self, a: str, b: str) -> bool:
        if a == b:
            return True
        if a in CANONICAL_PROPERTIES or b in CANONICAL_PROPERTIES:
            return False
        key = (min(a, b), max(a, b))
        if key not in self.cache:
            embed = self.embed or _default_embed
            vectors = embed([a, b])
            self.cache[key] = float(vectors[0] @ vectors[1]) >= SAME_PROPERTY_COSINE
        return self.cache[key]


def _default_embed(texts: list[str]):
    from tools.certainty.sentence_encoder import default_encoder

    return default_encoder().encode(texts)


def _supports(claim: Claim, sample: list[Claim], same: Callable[[str, str], bool]) -> bool:
    """The sample claims this property with a compatible change, and no incompatible one."""
    relevant = [c for c in sample if same(c.property, claim.property)]
    return bool(relevant) and all(compatible(c.change, claim.change) for c in relevant)


def group_claims(claims: Sequence[Sequence[Claim]],
                 embed: Callable[[list[str]], object] | None = None) -> Grouping:
    """Steps 2-6 on the claims of n samples (n >= 1). embed: texts -> unit vectors (n, E),
    for free-text properties only (default all-MiniLM-L6-v2, loaded when first needed)."""
    n = len(claims)
    if n == 0:
        raise ValueError("no samples to group")
    claims = [list(c) for c in claims]
    same = _PropertyMatcher(embed).same
    left = list(range(n))
    groups: list[list[int]] = []
    meanings: list[Claim | None] = []
    while left:
        candidates = [c for i in left for c in claims[i]]
        specific = [c for c in candidates if c.change != VAGUE]
        vague_only = [c for c in candidates if c.change == VAGUE
                      and not any(same(c.property, s.property) for s in specific)]
        best, best_key = None, None
        for order, candidate in enumerate(dict.fromkeys(specific + vague_only)):
            members = [i for i in left if _supports(candidate, claims[i], same)]
            verbatim = sum(candidate in claims[i] for i in left)
            key = (len(members), verbatim, -order)
            if best_key is None or key > best_key:
                best, best_key = (candidate, members), key
        if best is None or not best[1]:
            groups += [[i] for i in left]
            meanings += [None] * len(left)
            break
        groups.append(best[1])
        meanings.append(best[0])
        left = [i for i in left if i not in best[1]]
    order = sorted(range(len(groups)), key=lambda g: (-len(groups[g]) if meanings[g] else 1, groups[g][0]))
    groups = [groups[g] for g in order]
    meanings = [meanings[g] for g in order]
    top = groups[0]
    certainty = len(top) / n if meanings[0] is not None else 0.0
    representative = _representative(top, claims, same) if meanings[0] is not None else 0
    shares = [len(g) / n for g in groups]
    entropy = -sum(p * math.log(p) for p in shares) / math.log(n) if n > 1 else 0.0
    return Grouping(certainty=certainty, groups=groups, representative=representative, meaning=meanings[0],
                    entropy=round(entropy, 6), claims=claims)


def _representative(group: list[int], claims: list[list[Claim]], same: Callable[[str, str], bool]) -> int:
    """Step 6: the member whose claims the most members support, on average."""
    def score(i: int) -> float:
        return sum(sum(_supports(c, claims[j], same) for j in group) for c in claims[i]) / len(claims[i])

    return max(group, key=lambda i: (score(i), -i))


def group_samples(samples: Sequence[str], claims: Sequence[Sequence[Claim | dict]] | None = None,
                  embed: Callable[[list[str]], object] | None = None) -> Grouping:
    """Group n explanation samples by meaning (module docstring). claims: per sample, its
    claims (Claim or their JSON dicts) when the vision backend gave them; a sample whose
    claims are None, missing or empty has them parsed from its text (an MLLM answer in free
    text comes with no claims; the describer's "No clear change." parses to none either)."""
    from tools.certainty.claim_parser import parse_claims

    per_sample: list[list[Claim]] = []
    for i, text in enumerate(samples):
        given = claims[i] if claims is not None and i < len(claims) else None
        if not given:
            per_sample.append(parse_claims(text))
        else:
            per_sample.append([c if isinstance(c, Claim) else Claim.from_dict(c) for c in given])
    return group_claims(per_sample, embed)
