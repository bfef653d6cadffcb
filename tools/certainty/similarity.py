"""Certainty of a set of explanation samples (LatentExplainer, Zhu et al. 2024, section 3.4).

certainty = mean pairwise cosine similarity of the n samples' sentence embeddings; the
explanation kept is the medoid, the sample most similar to the others. The workshop paper
(arXiv 2402.01858) found embedding similarity separates "clear pattern" from "no pattern" far
better than lexical overlap (AUC 0.97 against 0.69), which is why embeddings are used here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SIMILARITY_MEASURE = "cosine/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Agreement:
    """certainty: mean of the off-diagonal cosine similarities, in [-1, 1] (1 for n = 1).
    medoid: index of the sample with the highest mean similarity to the others.
    per_sample: that mean similarity for every sample."""

    certainty: float
    medoid: int
    per_sample: list[float]


def agreement_from_embeddings(embeddings: torch.Tensor, explains: list[bool] | None = None) -> Agreement:
    """embeddings: (n, E), unit length. explains: per sample, whether it offers an explanation;
    a sample that reports no visible change agrees with nothing, so every pair it is part of
    scores 0 (with all True this is exactly the paper's mean pairwise similarity), and it is
    never the medoid unless no sample explains anything."""
    n = embeddings.shape[0]
    if n == 0:
        raise ValueError("no samples to compare")
    mask = torch.ones(n) if explains is None else torch.tensor([float(e) for e in explains])
    if n == 1:
        return Agreement(float(mask[0]), 0, [float(mask[0])])
    sims = (embeddings @ embeddings.T) * mask[:, None] * mask[None, :]
    off_diagonal = sims.sum(1) - sims.diagonal()
    per_sample = off_diagonal / (n - 1)
    certainty = off_diagonal.sum() / (n * (n - 1))
    ranking = per_sample + (mask - 1) * 10  # samples that explain nothing rank last
    return Agreement(float(certainty), int(ranking.argmax()), [round(float(s), 4) for s in per_sample])


def agreement(samples: list[str], explains: list[bool] | None = None) -> Agreement:
    """Embed the samples with all-MiniLM-L6-v2 and measure their agreement (see
    agreement_from_embeddings for `explains`)."""
    from tools.certainty.sentence_encoder import default_encoder

    return agreement_from_embeddings(default_encoder().encode(samples), explains)
