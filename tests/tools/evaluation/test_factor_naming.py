"""Tests for tools/evaluation/factor_naming.py: a table of sentences and the factors they name,
including the traps (substrings, other senses of a word, negation, shape nouns as subjects)."""

from __future__ import annotations

import pytest

from agent.errors import UserError
from tools.data.dsprites import FACTOR_NAMES
from tools.evaluation.factor_naming import FACTOR_VOCABULARY, KNOWN_FACTORS, named_factors, names_factor

TABLE: list[tuple[str, set[str]]] = [
    # plain statements
    ("The object moves from left to right.", {"posX"}),
    ("The sprite moves upward.", {"posY"}),
    ("The object moves up.", {"posY"}),
    ("The object's x-position increases.", {"posX"}),
    ("It moves diagonally toward the bottom right.", {"posX", "posY"}),
    ("The sprite grows larger.", {"scale"}),
    ("The image goes from small to large.", {"scale"}),
    ("The sprite tilts and shrinks.", {"orientation", "scale"}),
    ("The sprite turns counter-clockwise.", {"orientation"}),
    ("The shape changes.", {"shape"}),
    ("The ellipse becomes rounder.", {"shape"}),
    ("The object shifts down and becomes bigger.", {"posY", "scale"}),
    ("The shape moves toward the upper left corner.", {"posX", "posY"}),
    # substrings and other senses of a word
    ("The sprite gets brighter.", set()),
    ("The cup becomes brighter.", set()),
    ("The brightness grows brighter.", set()),
    ("The largest change is in horizontal position.", {"posX"}),
    ("The sprite is left unchanged.", set()),
    ("The image turns from grayscale to colour.", set()),
    ("It scales up.", {"scale"}),
    ("The value goes up.", set()),
    # shape nouns: the object's name, or a change of shape
    ("The heart-shaped sprite rotates clockwise.", {"orientation"}),
    ("A heart moves down.", {"posY"}),
    ("The object turns into a heart.", {"shape"}),
    ("The object changes from a square to an ellipse.", {"shape"}),
    ("It becomes an oval.", {"shape"}),
    # negation
    ("The square moves right while its size, shape and orientation remain constant.", {"posX"}),
    ("No change in size; the ellipse slides up and down.", {"posY"}),
    ("The object doesn't rotate; it moves to the left.", {"posX"}),
    ("It moves upward without changing size.", {"posY"}),
    ("The object moves left and its size stays the same.", {"posX"}),
    ("Its horizontal position remains constant while it spins.", {"orientation"}),
    ("The figure does not move left or right but gets smaller.", {"scale"}),
    ("It moves right at the same size and orientation.", {"posX"}),
    ("The size does not change, but the sprite rotates.", {"orientation"}),
    ("Without rotating, the object moves to the left.", {"posX"}),
    ("There is no clear change.", set()),
    ("Nothing changes; size, shape, position and orientation are unaffected.", set()),
]


@pytest.mark.parametrize(("sentence", "expected"), TABLE)
def test_named_factors(sentence, expected):
    assert named_factors(sentence) == expected


def test_names_factor_agrees_with_named_factors():
    sentence = "The heart slides to the right and grows."
    assert [names_factor(sentence, f) for f in FACTOR_NAMES] == [False, True, False, True, False]


def test_vocabulary_covers_exactly_the_dsprites_factors():
    assert set(FACTOR_VOCABULARY) == set(FACTOR_NAMES)


def test_unknown_factor_is_a_user_error():
    with pytest.raises(UserError, match="'colour'"):
        names_factor("it gets red", "colour")


SHAPES3D_TABLE: list[tuple[str, set[str]]] = [
    # hues: a colour cue names the hue of its subject
    ("The floor turns from red to green and back.", {"floor_hue"}),
    ("The wall turns blue.", {"wall_hue"}),
    ("The floor and the wall turn from green to purple.", {"floor_hue", "wall_hue"}),
    ("The object turns from red to pink.", {"object_hue"}),
    ("The top of the object turns from red to blue.", {"object_hue"}),
    ("The colour of the floor changes.", {"floor_hue"}),
    ("The wall behind the object becomes yellow.", {"wall_hue"}),
    ("The cube changes colour and gets bigger.", {"object_hue", "scale"}),
    ("The object changes shape and turns from red to blue and back.", {"object_hue", "shape"}),
    # colour words without a subject, or not about hue
    ("The lower background turns from blue to cyan.", set()),
    ("The image turns from grayscale to colour.", set()),
    ("The object gets more colourful.", set()),
    ("The floor gets darker.", set()),
    # negation of a hue
    ("The wall colour stays the same while the object grows.", {"scale"}),
    ("The floor colour does not change, but the wall becomes green.", {"wall_hue"}),
    # 3D shapes and the orbiting view
    ("The object changes from a cube to a sphere.", {"shape"}),
    ("The cylinder turns into a capsule.", {"shape"}),
    ("The sphere moves to the left.", {"posX"}),
    ("The view turns around the object.", {"orientation"}),
    ("The floor tilts.", {"orientation"}),
]


@pytest.mark.parametrize(("sentence", "expected"), SHAPES3D_TABLE)
def test_named_shapes3d_factors(sentence, expected):
    assert named_factors(sentence) == expected


def test_every_labelled_datasets_factor_can_be_named_and_has_references():
    from tools.data.labelled import LABELLED_DATASETS, labelled_dataset
    from tools.evaluation.text_metrics import REFERENCES_BY_DATASET

    for name in LABELLED_DATASETS:
        factors = set(labelled_dataset(name).factor_names)
        assert factors <= set(KNOWN_FACTORS)
        assert set(REFERENCES_BY_DATASET[name]) == factors
        for factor, references in REFERENCES_BY_DATASET[name].items():
            assert all(factor in named_factors(text) for text in references), (name, factor)
    assert names_factor("The floor turns blue.", "floor_hue")
