"""Dataset-specific knowledge of the offline describer, as named data packs.

The describer's code is generic: it measures frames, finds trends and words them. What it
knows about particular datasets lives here, one frozen pack per dataset, so it is visible
and replaceable:

- DSPRITES_FLAT (FlatShapes): the flat forms a uniform-background frame is named by
  (tools/describe/measurements.py name_shapes): dSprites' square, ellipse and heart and the
  ideal disc, with the articles their names take and the forms no solid's outline makes.
- SHAPES3D_ROOM (Room): a wall above a floor (tools/describe/scene_layout.py): the words for
  the background regions, the view turning as 3DShapes' camera orbits the object, and
  3DShapes' solids (tools/describe/solid_shapes.py names them from these prototypes).

A Vocabulary bundles the packs the describer reads (tools/describe/describer.py
describe_traversal); DEFAULT_VOCABULARY holds all of them, a room being detected from the frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FlatShapes:
    """Flat forms named from the form vector (tools/describe/measurements.py FORM_FEATURES).

    prototypes: name -> unscaled form vector (6,); match_radius: scaled form distance within
    which the nearest prototype names the shape; flat_only: names no solid's outline makes
    (a flat shape over a wall and a floor keeps its flat name when one of them is seen);
    articles: the indefinite article phrase of a name when it is not "a NAME"."""

    name: str
    prototypes: dict[str, np.ndarray]
    match_radius: float
    flat_only: tuple[str, ...]
    articles: dict[str, str]


@dataclass(frozen=True)
class Room:
    """A scene of an object standing in a room (a wall above a floor).

    subjects: quantity -> the words for the background regions (the upper and lower
    background are the wall and the floor); view_words: (increasing, decreasing, back and
    forth) for the floor-wall edge's slant; view_noise: degrees of slant the edge's fit moves
    by itself; solid_names, solid_prototypes, solid_spreads, solid_match_radius, solid_margin:
    the solids and their silhouette prototypes (tools/describe/solid_shapes.py SOLID_FEATURES)."""

    name: str
    subjects: dict[str, str]
    view_words: tuple[str, str, str]
    view_noise: float
    solid_names: tuple[str, ...]
    solid_prototypes: dict[str, np.ndarray]
    solid_spreads: dict[str, np.ndarray]
    solid_match_radius: float
    solid_margin: float


# Prototype form vectors (unscaled feature values): medians over dSprites renders of each shape
# at all six scales and ten orientations, sharp and blurred (Gaussian, sigma 1.2 pixels); the
# circle is the ideal disc.
DSPRITES_FLAT = FlatShapes(
    name="dsprites-flat",
    prototypes={
        "square": np.array([0.012, 0.91, 0.955, 0.003, 0.017, 0.37], dtype=np.float32),
        "ellipse": np.array([0.66, 0.945, 0.80, 0.008, 0.027, 0.42], dtype=np.float32),
        "heart": np.array([0.085, 0.94, 0.96, 0.018, 0.28, 0.044], dtype=np.float32),
        "circle": np.array([0.0, 0.95, 1.0, 0.0, 0.0, 0.0], dtype=np.float32),
    },
    match_radius=3.0,
    flat_only=("heart", "ellipse"),
    articles={"ellipse": "an ellipse"},
)

# The solids' medians and robust spreads (IQR / 1.349) of SOLID_FEATURES come from
# tools/describe/solid_shapes.py fit_solid_prototypes() (2,000 clean renders of
# tools/data/shapes3d.py, seed 1); the names are tools/data/shapes3d.py's SHAPE_NAMES. The view
# words: an edge rising to the right means the camera moves to its left around the object
# (tools/data/shapes3d.py); the view noise is one row over the ~60 pixels the edge spans.
SHAPES3D_ROOM = Room(
    name="shapes3d-room",
    subjects={
        "top_colour": "the wall",
        "bottom_colour": "the floor",
        "background_colour": "the floor and the wall",
    },
    view_words=(
        "turns around the object from right to left",
        "turns around the object from left to right",
        "turns back and forth around the object",
    ),
    view_noise=1.0,
    solid_names=("cube", "cylinder", "sphere", "capsule"),
    solid_prototypes={
        "cube": np.array([-0.057, 0.108, 0.331, 0.887, 0.952], dtype=np.float32),
        "cylinder": np.array([-0.288, 0.303, 0.180, 0.906, 0.915], dtype=np.float32),
        "sphere": np.array([0.000, 0.028, 0.026, 0.797, 0.927], dtype=np.float32),
        "capsule": np.array([0.773, 0.818, 0.430, 0.822, 0.693], dtype=np.float32),
    },
    solid_spreads={
        "cube": np.array([0.095, 0.074, 0.067, 0.074, 0.026], dtype=np.float32),
        "cylinder": np.array([0.042, 0.040, 0.029, 0.044, 0.032], dtype=np.float32),
        "sphere": np.array([0.030, 0.037, 0.038, 0.031, 0.098], dtype=np.float32),
        "capsule": np.array([0.134, 0.063, 0.054, 0.075, 0.080], dtype=np.float32),
    },
    solid_match_radius=5.0,
    solid_margin=1.0,
)


@dataclass(frozen=True)
class Vocabulary:
    """The packs the describer reads: flat, the flat shapes named on every frame; room, the room
    taken for frames that show a wall above a floor (None: no frame is a room, the background
    regions keep their generic words, the view is not measured and no solid is named)."""

    name: str
    flat: FlatShapes
    room: Room | None


DEFAULT_VOCABULARY = Vocabulary(name="default", flat=DSPRITES_FLAT, room=SHAPES3D_ROOM)
