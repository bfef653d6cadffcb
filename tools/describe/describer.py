"""The offline analytic describer: a latent traversal's frames -> what changes, in words.

It is the vision backend when no multimodal LLM is configured (`backend: offline-analytic`) and
the measuring instrument an MLLM may call. It never pretends to be an MLLM: it measures every
frame (tools/describe/measurements.py), finds which quantities change along each anchor's traversal,
and says the one or two largest in fixed templates, so the same change is worded the same way
for every anchor and agreement across anchors becomes the certainty (docs/architecture.md).

Steps (`describe_traversal`):
1. Measure all A x K frames in one batch.
2. Per anchor, the pixel change: the largest mean absolute difference of a frame from the
   first. Under VISIBLE_PIXEL_CHANGE the anchor says NO_CHANGE_TEXT (visible_change False).
3. Per anchor and quantity, a sequence along the traversal (only frames where it is defined,
   e.g. with an object present): its span (max - min; for colours and forms the largest
   distance between two frames), its net change (last - first) and its jitter (robust spread
   of second differences, which a smooth or step-like change leaves near zero).
   strength = (span - noise floor) / max(JND, jitter): the change in just-noticeable
   differences (JND, one per quantity, in the quantity's unit), discounted when the sequence
   is noisy. The noise floor of the object's visibility, position, size, rotation, shape and
   the brightness is NOISE_SPAN x the median, over the anchor's frames with an object, of how
   far the frame's own pixel noise moves the quantity (tools/describe/noise.py): a grainy
   frame's ragged outline changes form by itself; a clean one's floor is 0. With a floor, the
   one frame that widens the span most may also do so by up to the floor unopposed (a lone
   grainy frame can stand out; a change must show in two frames).
   monotonic = |net| >= 0.9 span; the direction word comes from the sign of net when
   |net| >= span / 2, otherwise the change is "back and forth". Quantities: the object's
   visibility, position, size (log area), rotation (tracked through the phase of its
   strongest symmetry), shape (form vector), brightness and saturation at a fixed object
   area (so a growing white object is not "brighter"), and, for coloured frames, the colours
   of the object, its top, the upper and lower background (one "background" when both change
   alike), and, in a room, the view: the slant of the floor-wall edge (tools/describe/scene_layout.py
   horizon_tilt), which follows a camera orbiting the object ("The view turns around the
   object from right to left" when the edge comes to rise to the right: the camera moves to
   its left, 3DShapes' orientation growing).
4. Changes at or above REPORT_FLOOR are listed, strongest first. A change that another,
   at least as strong, already explains (a colour turning lighter by brightness...) is not
   named; a region's colour change explains a brightness or saturation change up to twice its
   strength (luma follows hue at a fixed saturation: yellow is far brighter than blue), and
   only a brightness change twice as strong explains a colour change. An object appearing or
   disappearing is named first and hides its shape, rotation and colour (measured on a fading
   blur); a change between named forms (square to heart) hides the size change it brings,
   while an unnamed form change weaker than a size change is taken for blur on a small object.
   In a room the named forms are 3DShapes' solids (cube, cylinder, sphere, capsule,
   tools/describe/solid_shapes.py; a solid named in one frame between two others is their blend), and
   a change between them hides only a weaker size change (a solid's scale is its own factor);
   an object named as one solid throughout has no shape change.
   Coloured traversals, whose object outline is found against several background colours,
   also need: an unnamed form change of at least UNNAMED_SHAPE_FLOOR; and when the object's
   weakest contrast with the background next to it falls under OUTLINE_STEADY of its highest
   or its foreground contrast falls under OUTLINE_MIN_CONTRAST (an object as blue as the floor
   loses its lower half; a faint one grows with the floor's shading), no unnamed form change and
   no size, position or rotation change is named: the outline alone can make them; in a room,
   no change between named solids either (they are read off that outline).
5. The text names the strongest change, and the second when its strength is at least
   max(SECOND_FLOOR, SECOND_RATIO x the first), in a fixed quantity order, one sentence per
   subject ("The object moves from left to right and gets bigger."). In a room (a wall above
   a floor, tools/describe/scene_layout.py, in at least ROOM_SHARE of an anchor's frames) the upper and
   lower background are "the wall" and "the floor" (the room pack of
   tools/describe/vocabularies.py). When the pixels change but no measured quantity does (a
   face's smile), it says where: "The image changes slightly at the bottom."
6. The summary gives, per quantity, the mean strength and net change over anchors and the
   fraction of anchors whose text names it.

This module chooses what to name; the rest lives beside it: frame measurement in
tools/describe/measurements.py, the trend of a sequence (step 3) in tools/describe/trends.py,
the sentences (step 5) in tools/describe/wording.py, and what is known of particular datasets
(dSprites' flat forms, 3DShapes' room and solids) in tools/describe/vocabularies.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tools.certainty.claims import Claim
from tools.describe.colour_names import rgb_to_hsv
from tools.describe.measurements import FORM_SCALE, FrameMeasurements, frames_to_numpy, measure_batch
from tools.describe.noise import noise_spread
from tools.describe.scene_layout import horizon_tilt, room_frames
from tools.describe.solid_shapes import name_solids, solid_features
from tools.describe.trends import NOISE_SPAN, Trend, direction_word, find_trend, rotation_trend
from tools.describe.vocabularies import DEFAULT_VOCABULARY, SHAPES3D_ROOM, Vocabulary
from tools.describe.wording import colour_phrase, compose, shape_phrase, visibility_phrase
from tools.errors import UserError

BACKEND = "offline-analytic"
NO_CHANGE_TEXT = "No clear change."
WHERE_SPREAD = 0.25  # spread (std, fraction of the image) of the pixel change above which it is "all over"
VISIBLE_PIXEL_CHANGE = 0.002  # mean absolute pixel change (values in [0, 1]) below which nothing is seen to change
REPORT_FLOOR = 0.5  # strength (in JND) from which a change is listed
SECOND_FLOOR = 1.5  # strength a second change needs to be named
SECOND_RATIO = 0.4  # ... and its strength relative to the first
COLOUR_SATURATION = 0.1  # saturation of some region colour from which a traversal counts as coloured
ROOM_SHARE = 1 / 3  # share of an anchor's frames that must show a room (a wall stays a wall when it takes the floor's colour)
UNNAMED_SHAPE_FLOOR = 2.5  # strength a form change needs to be named when no known form is recognised at its ends
OUTLINE_MIN_CONTRAST = 0.2  # foreground contrast under which a coloured object's outline is unsteady
OUTLINE_STEADY = 0.5  # the object's weakest contrast may fall to this share of its highest before its outline is unsteady
ONE_SOLID_SHARE = 2 / 3  # share of an object's frames named as one shape for it to count as unchanged
COLOUR_EXPLAINS_LIGHT = 0.5  # a region's colour change explains a brightness / saturation change up to 1 / this its strength

# Just-noticeable differences, in each quantity's unit (UNITS); strength 1 = one JND.
JND: dict[str, float] = {
    "view": 3.0,
    "visibility": 0.15,
    "position_x": 0.04,
    "position_y": 0.04,
    "size": 0.15,
    "rotation": 10.0,
    "shape": 2.0,
    "object_colour": 0.06,
    "object_top_colour": 0.06,
    "background_colour": 0.06,
    "top_colour": 0.06,
    "bottom_colour": 0.06,
    "brightness": 0.03,
    "saturation": 0.08,
}
UNITS: dict[str, str] = {
    "view": "degrees of the floor-wall edge's slant, counterclockwise (tools/describe/scene_layout.py horizon_tilt)",
    "visibility": "foreground contrast (distance to the background colours, 0..1)",
    "position_x": "fraction of the image width, left to right",
    "position_y": "fraction of the image height, top to bottom",
    "size": "natural log of the object's area",
    "rotation": "degrees, counterclockwise",
    "shape": "scaled form distance (tools.describe.measurements.form_distance)",
    "object_colour": "RGB distance / sqrt(3)",
    "object_top_colour": "RGB distance / sqrt(3)",
    "background_colour": "RGB distance / sqrt(3)",
    "top_colour": "RGB distance / sqrt(3)",
    "bottom_colour": "RGB distance / sqrt(3)",
    "brightness": "mean luma at the anchor's mean object area, 0..1",
    "saturation": "mean HSV saturation at the anchor's mean object area, 0..1",
}
_COLOURS = ("object_colour", "object_top_colour", "background_colour", "top_colour", "bottom_colour")
_OUTLINE_QUANTITIES = ("size", "position_x", "position_y", "rotation")
# Y: the changes that explain Y when at least as strong (Y is then not named).
_EXPLAINED_BY: dict[str, tuple[str, ...]] = {
    "brightness": (*_COLOURS, "visibility", "size", "view", "shape"),
    "saturation": (*_COLOURS, "visibility", "view"),
    "visibility": _COLOURS,
    "object_colour": ("object_top_colour", "brightness", "saturation", "visibility", "view", "shape"),
    "object_top_colour": ("object_colour", "brightness", "saturation", "visibility", "view", "shape"),
    "background_colour": ("brightness", "saturation"),
    "top_colour": ("brightness", "saturation"),
    "bottom_colour": ("brightness", "saturation"),
    "shape": ("visibility", "size", "view"),
    "size": ("shape", "view"),
    "rotation": ("visibility", "view", "shape"),
}
_EVENT_PHRASES = ("appears", "disappears")
_HIDDEN_BY_EVENT = ("shape", "rotation", "object_colour", "object_top_colour")


@dataclass
class Change:
    """One measured change along a traversal.

    quantity: stable id, a key of JND. phrase: the predicate a person would say ("moves from
    left to right"). strength: span in JND units, discounted by jitter (>= 0). monotonic: the
    change goes one way (|net| >= 0.9 span). subject: who does it; SUBJECTS[quantity]
    (tools/describe/wording.py) when empty ("the floor" instead of "the lower background" in a room)."""

    quantity: str
    phrase: str
    strength: float
    monotonic: bool
    subject: str = ""


@dataclass
class AnchorDescription:
    """The description of one anchor's traversal: text naming the one or two largest changes
    (or NO_CHANGE_TEXT), the changes strongest first, whether the frames visibly change, and
    what the text claims (tools/certainty/claims.py: one Claim per named change; none for
    NO_CHANGE_TEXT or "The image changes slightly at the bottom.", which names no property)."""

    text: str
    changes: list[Change]
    visible_change: bool
    claims: list[Claim] = field(default_factory=list)


@dataclass
class TraversalDescription:
    """samples: one AnchorDescription per anchor, in input order. measurements: JSON-able
    summary (per quantity: mean strength, mean net change, agreement = fraction of anchors
    naming it). pixel_change: mean over anchors of the largest mean absolute pixel change of a
    frame from the anchor's first frame, values in [0, 1]."""

    samples: list[AnchorDescription]
    measurements: dict
    pixel_change: float
    backend: str = field(default=BACKEND)


def describe_traversal(
    frames: np.ndarray,
    values: Sequence[float],
    visible_floor: float = VISIBLE_PIXEL_CHANGE,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> TraversalDescription:
    """frames: (A, K, C, H, W) float in [0, 1]: A anchors, K frames each in traversal order
    (lowest to highest perturbation value), C = 1 or 3 (a torch tensor on any device is
    accepted too); values: the K perturbation values. visible_floor: an anchor whose frames
    never differ from its first frame by this much (mean absolute pixel change) says
    NO_CHANGE_TEXT; the agent passes its settings.pixel_change_floor so one floor decides.
    vocabulary: the dataset packs it reads (tools/describe/vocabularies.py): the flat shapes it
    names, and the room it takes frames with a wall above a floor for (none: no frame is a
    room); by default all of them, a room being detected from the frames."""
    frames = frames_to_numpy(frames)
    if frames.ndim != 5:
        raise UserError(f"frames have shape {frames.shape}; expected (A, K, C, H, W)")
    anchors, steps = frames.shape[:2]
    if anchors < 1 or steps < 2:
        raise UserError(f"frames have {anchors} anchors of {steps} frames; need at least 1 anchor of 2 frames")
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) != steps:
        raise UserError(f"{len(values)} perturbation values for {steps} frames per anchor; give one value per frame")
    if not np.isfinite(values).all() or (np.diff(values) < 0).any():
        raise UserError(f"perturbation values {values.tolist()} must be finite and run from lowest to highest")

    flat = frames.reshape(anchors * steps, *frames.shape[2:])
    batch = measure_batch(flat, vocabulary.flat)  # validates channels and range
    flat32 = flat.astype(np.float32, copy=False)
    frames32 = flat32.reshape(anchors, steps, -1)
    from_first = np.abs(frames32 - frames32[:, :1]).mean(axis=2)  # (A, K)
    visible = from_first.max(axis=1) >= visible_floor
    coloured = frames.shape[2] == 3 and _is_coloured(batch)
    if coloured and vocabulary.room is not None:
        rooms = room_frames(flat32, batch.bbox[:, 3])
    else:
        rooms = np.zeros(len(flat32), dtype=bool)
    noise = noise_spread(flat32, batch)
    tilt = np.full(len(flat32), np.nan, dtype=np.float32)  # the floor-wall edge's slant, in room frames only
    if rooms.any():
        tilt[rooms] = horizon_tilt(flat32[rooms], batch.bbox[rooms])

    samples: list[AnchorDescription] = []
    measured: list[dict[str, tuple[Change, float]]] = []
    named_per_anchor: list[set[str]] = []
    for a in range(anchors):
        if not visible[a]:
            samples.append(AnchorDescription(text=NO_CHANGE_TEXT, changes=[], visible_change=False))
            measured.append({})
            named_per_anchor.append(set())
            continue
        index = np.arange(a * steps, (a + 1) * steps)
        room = bool(rooms[index].mean() >= ROOM_SHARE)
        changes = _anchor_changes(batch, index, coloured, room=room, noise=noise, tilt=tilt, vocabulary=vocabulary)
        measured.append(changes)
        listed = sorted((c for c, _ in changes.values() if c.strength >= REPORT_FLOOR), key=lambda c: -c.strength)
        unsteady = coloured and _outline_unsteady(batch, index)
        solid_names = vocabulary.room.solid_names if vocabulary.room is not None else ()
        named = _choose_named([c for c in listed if not coloured or _credible(c, unsteady, room)], solid_names)
        named_per_anchor.append({c.quantity for c in named})
        text = compose(named) if named else f"The image changes slightly {_where(flat32[index])}."
        claims = [change_claim(c) for c in named]
        samples.append(AnchorDescription(text=text, changes=listed, visible_change=True, claims=claims))

    summary = _summarise(samples, measured, named_per_anchor, values, from_first, visible)
    return TraversalDescription(samples=samples, measurements=summary, pixel_change=float(from_first.max(axis=1).mean()))


# Step 5's claims: quantity -> claimed property (tools/certainty/claims.py CANONICAL_PROPERTIES).
CLAIM_PROPERTIES: dict[str, str] = {
    "view": "view", "visibility": "visibility", "position_x": "position_x", "position_y": "position_y",
    "size": "size", "rotation": "rotation", "shape": "shape", "brightness": "brightness", "saturation": "saturation",
    "object_colour": "object colour", "object_top_colour": "object top colour",
    "background_colour": "background colour", "top_colour": "upper background colour",
    "bottom_colour": "lower background colour",
}
ROOM_CLAIM_PROPERTIES = {"top_colour": "wall colour", "bottom_colour": "floor colour"}
# phrase -> change word; phrases not listed: "from A to B" read off "... from A to B", else "changes"
CLAIM_CHANGES: dict[str, str] = {
    "moves from left to right": "left_to_right", "moves from right to left": "right_to_left",
    "moves upward": "up", "moves downward": "down", "gets bigger": "bigger", "gets smaller": "smaller",
    "rotates clockwise": "clockwise", "rotates counterclockwise": "counterclockwise",
    "appears": "appears", "disappears": "disappears", "becomes more distinct": "appears", "fades": "disappears",
    "gets brighter": "lighter", "gets darker": "darker", "gets lighter": "lighter",
    "gets more colourful": "more_saturated", "gets less colourful": "less_saturated",
    SHAPES3D_ROOM.view_words[0]: "right_to_left", SHAPES3D_ROOM.view_words[1]: "left_to_right",
}


def change_claim(change: Change) -> Claim:
    """The claim a named change makes: its property (CLAIM_PROPERTIES; the wall and the floor
    in a room) and its change word (CLAIM_CHANGES; "from a square to a heart" -> "from square
    to heart"; "back and forth" changes are "back_and_forth"; else "changes")."""
    prop = CLAIM_PROPERTIES[change.quantity]
    if change.subject in ("the wall", "the floor"):
        prop = ROOM_CLAIM_PROPERTIES.get(change.quantity, prop)
    phrase = change.phrase
    if phrase in CLAIM_CHANGES:
        return Claim(prop, CLAIM_CHANGES[phrase])
    if "back and forth" in phrase or "and back" in phrase or "up and down" in phrase or "reappears" in phrase:
        return Claim(prop, "back_and_forth")
    if " from " in phrase:
        states = phrase.split(" from ", 1)[1].replace(" and then to ", " to ")
        words = [w for w in states.split() if w not in ("a", "an")]
        return Claim(prop, "from " + " ".join(words))
    return Claim(prop, "changes")


def _is_coloured(batch: FrameMeasurements) -> bool:
    """True when some region of some frame has a clearly saturated mean colour."""
    colours = np.concatenate(
        [batch.object_colour, batch.background_colour, batch.top_colour, batch.bottom_colour], axis=0
    )
    _, saturation, value = rgb_to_hsv(np.nan_to_num(colours))
    return bool(((saturation >= COLOUR_SATURATION) & (value >= 0.2)).any())


def _anchor_changes(
    batch: FrameMeasurements,
    index: np.ndarray,
    coloured: bool,
    room: bool = False,
    noise: dict[str, np.ndarray] | None = None,
    tilt: np.ndarray | None = None,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> dict[str, tuple[Change, float]]:
    """All quantities' changes for the frames at `index` (one anchor, traversal order):
    quantity -> (Change, net change in UNITS). room: the frames show a wall above a floor
    (the room pack's subjects name the background regions, and the view is measured). noise: per outline
    quantity, how far each frame's pixel noise moves it ((N,) over the batch,
    tools/describe/noise.py). tilt: (N,) the floor-wall edge's slant in degrees over the
    batch (tools/describe/scene_layout.py horizon_tilt): in a room, a camera orbiting the object.
    vocabulary: the dataset packs (tools/describe/vocabularies.py); room True needs its room."""
    room_pack = vocabulary.room
    room = room and room_pack is not None
    present = batch.present[index]
    out: dict[str, tuple[Change, float]] = {}

    def floor(quantity: str) -> float:
        """NOISE_SPAN x the median noise spread of the quantity over the frames with an object."""
        if noise is None or not present.any():
            return 0.0
        spread = noise[quantity][index[present]]
        spread = spread[~np.isnan(spread)]
        return NOISE_SPAN * float(np.median(spread)) if len(spread) else 0.0

    def add(quantity: str, trend: Trend | None, phrase: str) -> None:
        if trend is not None:
            subject = room_pack.subjects.get(quantity, "") if room else ""
            out[quantity] = (Change(quantity, phrase, trend.strength, trend.monotonic, subject), trend.net)

    if room and tilt is not None:
        view = find_trend(tilt[index], JND["view"], room_pack.view_noise)
        if view is not None:
            add("view", view, direction_word(view, room_pack.view_words))

    visibility = find_trend(batch.foreground_contrast[index], JND["visibility"], floor("visibility"))
    if visibility is not None and present.any():
        add("visibility", visibility, visibility_phrase(visibility, present))

    for quantity, values, words in (
        (
            "position_x",
            batch.centroid_x[index],
            ("moves from left to right", "moves from right to left", "moves back and forth horizontally"),
        ),
        ("position_y", batch.centroid_y[index], ("moves downward", "moves upward", "moves up and down")),
        (
            "size",
            np.log(np.maximum(batch.area[index], 1e-6)),
            ("gets bigger", "gets smaller", "changes size back and forth"),
        ),
    ):
        trend = find_trend(np.where(present, values, np.nan), JND[quantity], floor(quantity))
        if trend is not None:
            add(quantity, trend, direction_word(trend, words))

    rotation = rotation_trend(batch, index, JND["rotation"], None if noise is None else noise["rotation"])
    if rotation is not None:
        add(
            "rotation",
            rotation,
            direction_word(rotation, ("rotates counterclockwise", "rotates clockwise", "rotates back and forth")),
        )

    forms = batch.form[index] / FORM_SCALE
    shape = find_trend(forms, JND["shape"], floor("shape"))
    names = _shape_names(batch, index, room, vocabulary)[present]
    if shape is not None and not (room and _one_solid(names)):
        add("shape", shape, shape_phrase(names, vocabulary.flat.articles))

    area = np.nan_to_num(batch.area[index], nan=0.0)
    mean_area = float(area.mean())
    for quantity, background, obj, words in (
        (
            "brightness",
            batch.background_luminance[index],
            batch.object_luminance[index],
            ("gets brighter", "gets darker", "changes brightness back and forth"),
        ),
        (
            "saturation",
            batch.background_saturation[index],
            batch.object_saturation[index],
            ("gets more colourful", "gets less colourful", "changes colourfulness back and forth"),
        ),
    ):
        if quantity == "saturation" and not coloured:
            continue
        background = np.where(np.isnan(background), obj, background)
        at_mean_area = background + mean_area * np.where(np.isnan(obj), 0.0, obj - background)
        trend = find_trend(at_mean_area, JND[quantity], floor(quantity) if quantity == "brightness" else 0.0)
        if trend is not None:
            add(quantity, trend, direction_word(trend, words))

    if coloured:
        obj = np.where(present[:, None], batch.object_colour[index], np.nan)
        object_phrase = colour_phrase(obj)
        add("object_colour", find_trend(obj / np.sqrt(3.0), JND["object_colour"]), object_phrase)
        obj_top = np.where(present[:, None], batch.object_top_colour[index], np.nan)
        top_phrase = colour_phrase(obj_top)
        if top_phrase != object_phrase:  # the same words: the whole object changes, say it once
            add("object_top_colour", find_trend(obj_top / np.sqrt(3.0), JND["object_top_colour"]), top_phrase)
        top, bottom = batch.top_colour[index], batch.bottom_colour[index]
        top_trend = find_trend(top / np.sqrt(3.0), JND["top_colour"])
        bottom_trend = find_trend(bottom / np.sqrt(3.0), JND["bottom_colour"])
        top_phrase, bottom_phrase = colour_phrase(top), colour_phrase(bottom)
        both = top_trend is not None and bottom_trend is not None
        if both and min(top_trend.strength, bottom_trend.strength) >= REPORT_FLOOR and top_phrase == bottom_phrase:
            merged = top_trend if top_trend.strength >= bottom_trend.strength else bottom_trend
            add("background_colour", merged, top_phrase)
        else:
            add("top_colour", top_trend, top_phrase)
            add("bottom_colour", bottom_trend, bottom_phrase)
    return out


def _shape_names(
    batch: FrameMeasurements, index: np.ndarray, room: bool, vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> np.ndarray:
    """Per-frame shape names (K,) of the frames at `index`: in a room the solids of
    tools/describe/solid_shapes.py (cube, cylinder, sphere, capsule), else the flat shapes of
    tools/describe/measurements.py (square, ellipse, heart, circle); "unknown" or "none" otherwise.
    A flat shape drawn over a wall and a floor keeps the flat names when they name at least
    as many of its frames as the solids do and one of them is flat-only (the flat pack's
    flat_only, tools/describe/vocabularies.py: a solid's outline is never a heart; on 400 renders of tools/data/shapes3d.py the flat names call cubes squares and
    spheres circles, 21% of frames, and never name a frame the solids leave unknown). A solid
    named in one frame only, between frames that name others, is "unknown": a decoded
    cylinder turning into a sphere passes through a boxy blend of the two, not a cube."""
    flat = batch.shape_name[index]
    if not room or vocabulary.room is None:
        return flat
    features = solid_features(batch.form[index], batch.bbox[index], batch.extent[index])
    names = name_solids(features, vocabulary.room)
    named = np.flatnonzero(~np.isin(names, ("unknown", "none")))
    flat_named = np.isin(flat, ("unknown", "none"), invert=True).sum()
    if flat_named >= len(named) and np.isin(flat, vocabulary.flat.flat_only).any():
        return flat
    for before, this, after in zip(named[:-2], named[1:-1], named[2:], strict=True):
        if names[before] != names[this] != names[after]:
            names[this] = "unknown"
    return names


def _one_solid(names: np.ndarray) -> bool:
    """True when the shape names of the frames with an object (_shape_names) are one shape
    throughout: at least ONE_SOLID_SHARE of them are named and all named ones alike. Its
    outline may still change (a capsule's blur as it grows), but it stays a capsule: no shape
    change is listed."""
    named = [name for name in names if name not in ("unknown", "none")]
    return len(named) >= max(1.0, ONE_SOLID_SHARE * len(names)) and len(set(named)) == 1


def _outline_unsteady(batch: FrameMeasurements, index: np.ndarray) -> bool:
    """True when the object's outline may move with the colours alone, along the traversal
    (frames with an object): its weakest contrast with the background next to it (the smaller
    colour distance of its core to the upper and to the lower background, RGB / sqrt(3)) falls
    under OUTLINE_STEADY of its highest, or its foreground contrast under OUTLINE_MIN_CONTRAST
    (a faint object, whose mask picks up the background's own shading). An object as blue as
    the floor loses its lower half; a faint one grows with the floor's gradient."""
    kept = index[batch.present[index]]
    if len(kept) < 2:
        return False
    if float(np.nanmin(batch.foreground_contrast[kept])) < OUTLINE_MIN_CONTRAST:
        return True
    obj = batch.object_colour[kept]
    distances = [np.sqrt(((obj - batch.top_colour[kept]) ** 2).sum(axis=1) / 3.0),
                 np.sqrt(((obj - batch.bottom_colour[kept]) ** 2).sum(axis=1) / 3.0)]
    weakest = np.fmin(distances[0], distances[1])
    weakest = weakest[~np.isnan(weakest)]
    return len(weakest) >= 2 and float(weakest.min()) < OUTLINE_STEADY * float(weakest.max())


def _credible(change: Change, unsteady: bool, room: bool = False) -> bool:
    """Whether a listed change of a coloured traversal may be named, its outline found against
    several background colours: a form change between unnamed forms needs UNNAMED_SHAPE_FLOOR
    (a blurred blob's outline against a floor and a wall wavers by a JND or two), and with an
    unsteady outline (_outline_unsteady) no change of size, position, rotation or unnamed form
    is named: the outline alone can make them. In a room (room True) that holds for a change
    between named solids too: a solid is read off the outline alone (tools/describe/solid_shapes.py),
    and an object of the floor's hue loses the part that tells a cube from a sphere."""
    if change.quantity == "shape" and not _names_forms(change) and change.strength < UNNAMED_SHAPE_FLOOR:
        return False
    if change.quantity == "shape":
        return not (unsteady and (room or not _names_forms(change)))
    return not (unsteady and change.quantity in _OUTLINE_QUANTITIES)


def _where(frames: np.ndarray) -> str:
    """Where one anchor's frames (K, C, H, W) change: "in the upper left", "at the bottom",
    "in the centre"... from the centroid of the largest change from the first frame at each
    pixel, or "all over" when that change is spread over the image."""
    change = np.abs(frames - frames[:1]).max(axis=0).mean(axis=0)  # (H, W)
    height, width = change.shape
    total = max(float(change.sum()), 1e-12)
    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    cy = float(change.sum(axis=1) @ ys) / total
    cx = float(change.sum(axis=0) @ xs) / total
    spread_y = np.sqrt(float(change.sum(axis=1) @ (ys - cy) ** 2) / total)
    spread_x = np.sqrt(float(change.sum(axis=0) @ (xs - cx) ** 2) / total)
    if max(spread_x, spread_y) > WHERE_SPREAD:
        return "all over"
    column = min(int(cx * 3), 2)
    row = min(int(cy * 3), 2)
    names = (
        ("in the upper left", "at the top", "in the upper right"),
        ("on the left", "in the centre", "on the right"),
        ("in the lower left", "at the bottom", "in the lower right"),
    )
    return names[row][column]


def _choose_named(listed: list[Change], solid_names: tuple[str, ...] = SHAPES3D_ROOM.solid_names) -> list[Change]:
    """The one or two changes the text names (see the module docstring, step 4-5); solid_names:
    the room's solids (tools/describe/vocabularies.py)."""
    by_quantity = {c.quantity: c for c in listed}
    event = by_quantity.get("visibility")
    is_event = event is not None and event.phrase in _EVENT_PHRASES
    candidates: list[Change] = []
    for change in listed:
        if is_event and change.quantity in _HIDDEN_BY_EVENT:
            continue
        if is_event and change.quantity == "visibility":
            continue
        if not _is_explained(change, by_quantity, solid_names):
            candidates.append(change)
    if is_event:
        candidates.insert(0, event)
    if not candidates:
        return []
    named = [candidates[0]]
    if len(candidates) > 1:
        second = candidates[1]
        if second.strength >= max(SECOND_FLOOR, SECOND_RATIO * candidates[0].strength) or is_event:
            named.append(second)
    order = list(JND)
    return sorted(named, key=lambda c: order.index(c.quantity))


def _is_explained(
    change: Change, by_quantity: dict[str, Change], solid_names: tuple[str, ...] = SHAPES3D_ROOM.solid_names
) -> bool:
    """True when a listed change in _EXPLAINED_BY[change.quantity] is at least as strong.

    Shape and size are special: a change between named flat forms (square to heart) explains
    a size change half its strength or more, while a form change without names is explained
    by a stronger size change (blur and pixels round small objects). A change between named
    solids (only named in a room) explains a size change no stronger than itself (a solid's
    scale is its own factor, 3DShapes has eight: a cylinder that turns into a larger cube
    also gets bigger), and the object's lightness and rotation (_solid_light). The view
    turning (a camera orbiting the object) explains an unnamed form change, a size change and
    a rotation no stronger than itself (the object's outline turns with the camera: a capsule
    seen end-on is smaller), and the light on the object (its colours, the brightness)."""
    for quantity in _EXPLAINED_BY.get(change.quantity, ()):
        other = by_quantity.get(quantity)
        if other is None:
            continue
        share = 1.0
        if change.quantity == "shape" and quantity in ("size", "view") and _names_forms(change):
            continue
        if change.quantity == "size" and quantity == "shape":
            if not _names_forms(other):
                continue
            share = 1.0 if _names_solids(other, solid_names) else 0.5
        if change.quantity != "size" and quantity == "shape" and not _solid_light(change, other, solid_names):
            continue
        if change.quantity in ("brightness", "saturation") and quantity in _COLOURS:
            share = COLOUR_EXPLAINS_LIGHT
        if change.quantity in _COLOURS and quantity in ("brightness", "saturation"):
            share = 1.0 / COLOUR_EXPLAINS_LIGHT  # the converse: only a much stronger brightness change explains a colour
        if other.strength >= share * change.strength:
            return True
    return False


def _solid_light(change: Change, shape: Change, solid_names: tuple[str, ...] = SHAPES3D_ROOM.solid_names) -> bool:
    """Whether a change between named solids (shape) may explain `change`: a
    rotation (the outline the angle is read from changes with the solid) or the object's
    lightness or the brightness (a sphere's highlight and shading differ from a cylinder's),
    not a change of hue."""
    if not _names_solids(shape, solid_names):
        return False
    return change.quantity in ("rotation", "brightness") or change.phrase in ("gets lighter", "gets darker")


def _names_solids(change: Change, solid_names: tuple[str, ...] = SHAPES3D_ROOM.solid_names) -> bool:
    """True for a shape change between named solids ("changes shape from a cylinder to ..."),
    the solids being solid_names."""
    return _names_forms(change) and any(f" {solid}" in change.phrase for solid in solid_names)


def _names_forms(change: Change) -> bool:
    """True for a shape change between named forms ("changes shape from a square to ...")."""
    return change.phrase.startswith("changes shape from ")


def _summarise(
    samples: list[AnchorDescription],
    measured: list[dict[str, tuple[Change, float]]],
    named_per_anchor: list[set[str]],
    values: np.ndarray,
    from_first: np.ndarray,
    visible: np.ndarray,
) -> dict:
    """JSON-able summary over anchors (see TraversalDescription.measurements)."""
    quantities: dict[str, dict] = {}
    anchors = len(samples)
    for quantity in JND:
        rows = [m[quantity] for m in measured if quantity in m]
        if not rows:
            continue
        subject_phrases = [
            change.phrase for sample in samples for change in sample.changes if change.quantity == quantity
        ]
        naming = sum(1 for named in named_per_anchor if quantity in named)
        quantities[quantity] = {
            "unit": UNITS[quantity],
            "jnd": JND[quantity],
            "mean_strength": float(np.mean([change.strength for change, _ in rows])),
            "mean_change": float(np.mean([net for _, net in rows])),
            "monotonic_fraction": float(np.mean([change.monotonic for change, _ in rows])),
            "agreement": naming / anchors,
            "phrase": Counter(subject_phrases).most_common(1)[0][0] if subject_phrases else None,
        }
    texts = Counter(sample.text for sample in samples)
    return {
        "backend": BACKEND,
        "anchors": anchors,
        "frames_per_anchor": int(from_first.shape[1]),
        "values": [float(v) for v in values],
        "pixel_change": float(from_first[:, -1].mean()),
        "pixel_change_per_anchor": [float(v) for v in from_first[:, -1]],
        "max_pixel_change_per_anchor": [float(v) for v in from_first.max(axis=1)],
        "visible_fraction": float(visible.mean()),
        "most_common_text": texts.most_common(1)[0][0],
        "text_agreement": texts.most_common(1)[0][1] / anchors,
        "quantities": quantities,
        "floors": {
            "visible_pixel_change": VISIBLE_PIXEL_CHANGE,
            "report_strength": REPORT_FLOOR,
            "second_strength": SECOND_FLOOR,
            "second_ratio": SECOND_RATIO,
        },
    }
