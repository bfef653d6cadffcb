"""Tests for tools/evaluation/text_metrics.py: hand-worked METEOR and ROUGE-L values, METEOR against nltk's
own implementation with synonyms switched off, and the ordering the measures must give (same
text > paraphrase > unrelated text)."""

from __future__ import annotations

import pytest

from agent.errors import UserError
from tools.evaluation.text_metrics import (
    REFERENCE_EXPLANATIONS,
    bleu4,
    embedding_similarity,
    mean_text_scores,
    meteor,
    reference_explanations,
    rouge_l,
    text_scores,
    words,
)

REFERENCE = "The object moves horizontally from left to right."
PARAPHRASE = "The sprite slides from left to right."
UNRELATED = "Colours get brighter near the border."


class NoSynonyms:
    """A WordNet reader with no entries: nltk's METEOR then matches exact words and stems only."""

    def synsets(self, *args, **kwargs) -> list:
        return []


def test_words_are_lower_case_alphanumeric_runs():
    assert words("The X-position moves RIGHT, fast!") == ["the", "x", "position", "moves", "right", "fast"]


def test_meteor_by_hand():
    # 3 exact matches; P = 1, R = 3/6; chunks "object moves" + "left" = 2
    f_mean = 1 * 0.5 / (0.9 * 1 + 0.1 * 0.5)
    expected = f_mean * (1 - 0.5 * (2 / 3) ** 3)
    assert meteor("object moves left", ["the object moves to the left"]) == pytest.approx(expected)


def test_meteor_matches_stems():
    assert meteor("it rotates", ["it rotating"]) == meteor("it rotates", ["it rotates"])
    assert meteor("it rotates", ["it spins"]) < meteor("it rotates", ["it rotating"])


@pytest.mark.parametrize(
    ("candidate", "reference"),
    [
        ("the object moves from left to right", REFERENCE),
        ("a heart turns into an ellipse while shrinking", "the shape changes from a heart to an ellipse"),
        ("it rotates clockwise and grows", "the object grows larger and rotates"),
        ("nothing changes here", "the object gets bigger"),
    ],
)
def test_meteor_agrees_with_nltk_without_synonyms(candidate, reference):
    from nltk.translate.meteor_score import single_meteor_score

    ours = meteor(candidate, [reference])
    theirs = single_meteor_score(words(reference), words(candidate), wordnet=NoSynonyms())
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_rouge_l_by_hand():
    # LCS "the object moves right" = 4 of 4 candidate words and 7 reference words
    assert rouge_l("the object moves right", ["the object moves from left to right"]) == pytest.approx(8 / 11)


def test_identical_text_scores_one_and_order_is_kept():
    same = text_scores(REFERENCE, [REFERENCE])
    assert same.bleu4 == pytest.approx(1.0) and same.rouge_l == pytest.approx(1.0)
    assert same.meteor == pytest.approx(1 - 0.5 * (1 / 8) ** 3) and same.embedding == pytest.approx(1.0, abs=1e-5)
    close, far = text_scores(PARAPHRASE, [REFERENCE]), text_scores(UNRELATED, [REFERENCE])
    for name in ("bleu4", "rouge_l", "meteor", "embedding"):
        assert getattr(same, name) > getattr(close, name) > getattr(far, name), name
    assert far.bleu4 < 0.05


def test_the_best_reference_counts():
    references = reference_explanations(["posX"])
    assert bleu4("The shape shifts horizontally to the left.", references) == pytest.approx(1.0)
    assert embedding_similarity("The shape shifts horizontally to the left.", references) == pytest.approx(
        1.0, abs=1e-5
    )


def test_references_are_not_the_describers_templates():
    """A paraphrase scores about as well as the describer's own wording (both were unseen)."""
    references = reference_explanations(["scale"])
    template, paraphrase = "The object gets bigger.", "The sprite becomes larger."
    assert template not in references
    assert bleu4(template, references) < 0.5 and bleu4(paraphrase, references) < 0.5


def test_references_cover_both_directions_and_combinations():
    assert reference_explanations(["scale"]) == list(REFERENCE_EXPLANATIONS["scale"])
    both = reference_explanations(["posX", "scale"])
    n_x, n_scale = len(REFERENCE_EXPLANATIONS["posX"]), len(REFERENCE_EXPLANATIONS["scale"])
    assert len(both) == n_x * n_scale + n_x + n_scale  # combinations, then each factor's own
    assert "The shape shifts horizontally to the left. The figure shrinks." in both
    assert "The shape grows in size." in both
    with pytest.raises(UserError, match=r"no reference explanation for factors \['colour'\]"):
        reference_explanations(["colour"])
    with pytest.raises(UserError, match="at least one factor"):
        reference_explanations([])


def test_references_belong_to_the_dataset():
    floor = reference_explanations(["floor_hue"], "shapes3d")
    assert all("floor" in sentence or "ground" in sentence for sentence in floor)
    assert "cube" in reference_explanations(["shape"], "shapes3d")[0]
    assert "square" in reference_explanations(["shape"])[0]  # dSprites' shapes by default
    assert rouge_l("The floor turns from blue to cyan.", floor) > rouge_l("The wall turns from blue to cyan.", floor)
    with pytest.raises(UserError, match=r"no reference explanation for factors \['posX'\]"):
        reference_explanations(["posX"], "shapes3d")
    with pytest.raises(UserError, match="no reference explanations for dataset 'faces'"):
        reference_explanations(["scale"], "faces")


def test_mean_scores():
    a, b = text_scores(REFERENCE, [REFERENCE]), text_scores(UNRELATED, [REFERENCE])
    mean = mean_text_scores([a, b])
    assert mean["n"] == 2 and mean["rouge_l"] == pytest.approx((a.rouge_l + b.rouge_l) / 2)
    assert mean_text_scores([]) == {"bleu4": None, "rouge_l": None, "meteor": None, "embedding": None, "n": 0}
