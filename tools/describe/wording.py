"""Wording: the changes the describer chose to name, in fixed sentences.

The phrase helpers give the predicate of one change ("disappears", "changes shape from a
square to an ellipse", "turns from red to blue"); `compose` joins the named changes into one
sentence per subject ("The object moves from left to right and gets bigger."), with the
subject words of SUBJECTS (or a change's own subject, "the floor" in a room: the room pack of
tools/describe/vocabularies.py). Which changes are named is the describer's choice
(tools/describe/describer.py, steps 4-5 of its module docstring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tools.describe.colour_names import name_colours
from tools.describe.measurements import LUMA
from tools.describe.trends import Trend, direction_word
from tools.describe.vocabularies import DSPRITES_FLAT

if TYPE_CHECKING:
    from tools.describe.describer import Change

SUBJECTS: dict[str, str] = {
    "view": "the view",
    "visibility": "the object",
    "position_x": "the object",
    "position_y": "the object",
    "size": "the object",
    "rotation": "the object",
    "shape": "the object",
    "object_colour": "the object",
    "object_top_colour": "the top of the object",
    "background_colour": "the background",
    "top_colour": "the upper background",
    "bottom_colour": "the lower background",
    "brightness": "the image",
    "saturation": "the image",
}


def visibility_phrase(trend: Trend, present: np.ndarray) -> str:
    """Words for the foreground contrast trend, given which frames (K,) show an object."""
    if present[0] and not present[-1]:
        return "disappears"
    if present[-1] and not present[0]:
        return "appears"
    if not present.all():
        return "disappears and reappears"
    return direction_word(trend, ("becomes more distinct", "fades", "fades and returns"))


def shape_phrase(names: np.ndarray, articles: dict[str, str] = DSPRITES_FLAT.articles) -> str:
    """Shape names of the frames with an object, in order -> "changes shape from a square to
    an ellipse" when the named forms change cleanly (two or three runs, different ends),
    "changes shape" otherwise. articles: name -> its words with the article, when not "a NAME"."""
    runs: list[str] = []
    for name in names:
        if name in ("unknown", "none"):
            continue
        if not runs or runs[-1] != name:
            runs.append(str(name))
    if 2 <= len(runs) <= 3 and runs[0] != runs[-1]:
        words = [articles.get(name, f"a {name}") for name in runs]
        tail = f" and then to {words[2]}" if len(words) == 3 else ""
        return f"changes shape from {words[0]} to {words[1]}{tail}"
    return "changes shape"


def colour_phrase(colours: np.ndarray) -> str:
    """Colours (K, 3), NaN rows skipped -> "turns from red to blue", "gets lighter",
    "turns from red to blue and back", or "changes colour"."""
    colours = colours[~np.isnan(colours).any(axis=1)]
    if len(colours) < 2:
        return "changes colour"
    names = name_colours(colours)
    distances = np.sqrt(((colours - colours[0]) ** 2).sum(axis=1) / 3.0)
    far = int(np.argmax(distances))
    net = distances[-1]
    if net >= 0.5 * distances[far]:
        if names[0] != names[-1]:
            return f"turns from {names[0]} to {names[-1]}"
        lighter = float((colours[-1] - colours[0]) @ LUMA)
        if abs(lighter) >= 0.5 * net:
            return "gets lighter" if lighter > 0 else "gets darker"
        return "changes colour"
    if names[far] != names[0]:
        return f"turns from {names[0]} to {names[far]} and back"
    return "changes colour back and forth"


def compose(named: list[Change]) -> str:
    """Named changes in canonical order -> one sentence per subject; a second predicate with
    the same leading verb drops it ("moves from left to right and upward")."""
    sentences: list[str] = []
    index = 0
    while index < len(named):
        subject = _subject(named[index])
        predicates = [named[index].phrase]
        index += 1
        while index < len(named) and _subject(named[index]) == subject:
            phrase = named[index].phrase
            first_verb = predicates[0].split(" ", 1)[0]
            if phrase.startswith(first_verb + " "):
                phrase = phrase[len(first_verb) + 1 :]
            predicates.append(phrase)
            index += 1
        if " and " in subject:  # "the floor and the wall turn ..."
            predicates = [_plural(predicate) for predicate in predicates]
        sentence = f"{subject} {' and '.join(predicates)}."
        sentences.append(sentence[0].upper() + sentence[1:])
    return " ".join(sentences)


def _subject(change: Change) -> str:
    """Who does the change: its own subject (the floor in a room), else SUBJECTS[quantity]."""
    return change.subject or SUBJECTS[change.quantity]


def _plural(predicate: str) -> str:
    """The predicate for a plural subject: its leading verb without the s ("turns from red to
    blue" -> "turn from red to blue", "changes colour" -> "change colour")."""
    verb, _, rest = predicate.partition(" ")
    if verb.endswith("es") and verb[:-2].endswith(("sh", "ch", "x", "ss")):
        verb = verb[:-2]
    elif verb.endswith("s"):
        verb = verb[:-1]
    return f"{verb} {rest}".strip()
