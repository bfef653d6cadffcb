import pytest
import torch

from tools.certainty.similarity import agreement, agreement_from_embeddings


def test_identical_samples_are_certain():
    result = agreement(["The square moves from left to right."] * 4)
    assert result.certainty == pytest.approx(1.0, abs=1e-4)


def test_agreeing_samples_beat_disagreeing_ones():
    agree = agreement(["The shape moves from left to right.", "The object moves to the right.",
                       "The sprite shifts horizontally, left to right."])
    disagree = agreement(["The shape moves from left to right.", "The image gets darker.",
                          "The heart turns into a square."])
    assert agree.certainty > disagree.certainty + 0.15


def test_medoid_is_the_most_central_sample():
    e = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.3], [0.0, 1.0]]), dim=1)
    result = agreement_from_embeddings(e)
    assert result.medoid in (1, 2)
    assert result.per_sample[3] < result.per_sample[result.medoid]


def test_mean_pairwise_formula():
    e = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), dim=1)
    sims = [0.0, 2**-0.5, 2**-0.5]
    assert agreement_from_embeddings(e).certainty == pytest.approx(sum(sims) / 3, abs=1e-6)


def test_samples_without_an_explanation_agree_with_nothing():
    texts = ["No clear change."] * 4
    assert agreement(texts, explains=[False] * 4).certainty == 0.0
    mixed = agreement(["The shape moves left.", "The shape moves left.", "No clear change."], [True, True, False])
    assert mixed.certainty == pytest.approx(1 / 3, abs=1e-3)  # one agreeing pair of three
    assert mixed.medoid in (0, 1)
