"""Free text -> claims (tools/certainty/claims.py), for explanation samples that come without
structured output (an MLLM server without JSON-schema support, a sample typed by a person,
`latent-explainer certainty "..."`).

Rules, in order (`parse_claims`):
1. Normalise: lower case, "n't" -> " not", hyphens and slashes -> spaces ("left-to-right" ->
   "left to right", "counter-clockwise" -> "counter clockwise"); split into clauses at sentence
   ends, ";", ":" , ", while", ", but", ", and" and " while " / " whereas " / " but ".
   Phrases that say when, not what, go first ("as the latent increases", "higher values",
   "increasing the value"): they would read as a rise or a growth.
2. Negation and steadiness, per comma segment of a clause: a segment with "not", "never" or a
   steadiness word (same, constant, unchanged, fixed, stays, remains, steady, stable,
   keeping...) claims nothing ("its size does not change", "its size stays the same");
   "no", "without" and "nothing" drop the rest of their segment ("without moving", "nothing
   else changes"). "it does not grow but shrinks" is split at "but" first.
3. Each property's cues are looked for in the remaining clauses (PROPERTY_CUES below). A
   change needs its direction word and, for position, a cue of motion or place (MOTION_CUES:
   moves, slides, toward, position, placement...): location words alone are not motion ("the
   image changes slightly at the bottom" claims nothing; "it moves to the bottom" claims
   position_y down). "from A to B" orders two direction words ("from right to left").
4. Colours: "from red to green", "turns green", "goes from red to green", "redder" name a
   colour change; its subject is the nearest region noun in the clause (floor, wall,
   background, object words); without one, "object colour". Shape: two shape nouns joined
   by a transition ("from a square to a heart", "a square ... becomes a heart"), or a shape
   noun after a transition word ("turns into a heart").
5. Claims are de-duplicated; a property claimed with two different changes in one sample
   keeps the first with a direction ("orientation: it rotates clockwise" -> clockwise) (a sample contradicting itself is not repaired).

This is a rule-based reader of common English descriptions of image changes, not a language
model; it misses unusual wording. docs/certainty.md lists what it understands; the gate
corpus (tests/data/gate_corpus.json) measures it on wording it was not tuned on.
"""

from __future__ import annotations

import re

from tools.certainty.claims import Claim

NEGATORS = frozenset("no not never without nothing neither nor none".split())
STEADY = frozenset("same constant unchanged unaltered fixed stays stay remains remain steady stable keeping keeps "
                   "keep unaffected static".split())
MOTION_CUES = ("mov", "shift", "slid", "travel", "drift", "push", "pull", "toward", "towards", "translat",
               "displac", "placement", "position", "location", "glid", "head", "goes", "go", "went", "across",
               "horizontal", "vertical", "ends", "end", "located", "placed", "sits", "pass", "walk", "run",
               "carr", "wander", "migrat", "advanc", "swing", "orbit", "pan")
SHAPE_WORDS = {
    "square": "square", "squares": "square", "rectangle": "square", "ellipse": "ellipse", "oval": "ellipse",
    "heart": "heart", "circle": "circle", "disc": "circle", "disk": "circle", "triangle": "triangle",
    "cube": "cube", "box": "cube", "cylinder": "cylinder", "sphere": "sphere", "ball": "sphere",
    "capsule": "capsule", "pill": "capsule",
}
SHAPE_TRANSITIONS = frozenset("into becomes become became turns turn morphs morph transforms transform changes "
                              "change to".split())
COLOURS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "magenta", "violet", "brown",
           "white", "black", "grey", "gray", "teal", "turquoise")
REGIONS = {
    "floor": "floor colour", "ground": "floor colour", "wall": "wall colour", "walls": "wall colour",
    "background": "background colour", "backdrop": "background colour",
}
OBJECT_NOUNS = frozenset("object sprite shape figure item blob mark cube cylinder sphere capsule solid block "
                         "square ellipse heart".split())
VIEW_NOUNS = frozenset("view camera viewpoint perspective".split())

_WORD = re.compile(r"[a-z0-9]+")
_SPLIT = re.compile(r"[.;:!?]|,\s*(?:while|but|and|whereas)\b|\b(?:while|whereas|but)\b")


_QUALIFIERS = (
    r"\b(as|when|while|if) (the )?(\w+ )?(value|values|latent|code|slider|variable|coordinate|dimension|z\d*|it|this)"
    r"( \w+)? (increases|increase|rises|rise|grows|grow|goes up|is increased|is raised|gets larger|gets bigger)\b",
    r"\b(higher|larger|increasing|bigger|greater|growing|high|large) (latent )?(values?|codes?|settings?)\b",
    r"\b(increasing|raising|moving|sliding|turning up|pushing) (the )?(value|latent|slider|code|variable)\b",
)
_REWRITES = ((r"\b(end|ends|ending|ended) up\b", "ends"), (r"\bnothing (is )?left\b|\bnothing remains\b", "disappears"),
             (r"\b(shows|pops) up\b", "appears"))


def _kept(clause: str) -> list[str]:
    """The words of a clause that may claim (rule 2): per comma segment, one with "not" /
    "never" or a steadiness word is dropped, and "no" / "without" / "nothing" drop the rest of
    their segment ("without moving", "nothing else changes")."""
    kept: list[str] = []
    for segment in clause.split(","):
        words = _WORD.findall(segment)
        if any(w in ("not", "never", "neither", "nor") or w in STEADY for w in words):
            continue
        cut = next((i for i, w in enumerate(words) if w in ("no", "without", "nothing", "none")), len(words))
        kept += words[:cut]
    return kept


def _clauses(text: str) -> list[list[str]]:
    text = text.lower().replace("\u2019", "'").replace("n't", " not")
    text = re.sub(r"[-/\u2010-\u2015]", " ", text)
    for pattern in _QUALIFIERS:
        text = re.sub(pattern, " ", text)
    for pattern, replacement in _REWRITES:
        text = re.sub(pattern, replacement, text)
    return [words for part in _SPLIT.split(text) if (words := _kept(part))]


def _has(words: list[str], stems: tuple[str, ...] | frozenset[str]) -> bool:
    if isinstance(stems, frozenset):
        return any(w in stems for w in words)
    return any(w.startswith(s) for w in words for s in stems)


def _index(words: list[str], options: tuple[str, ...]) -> int | None:
    hits = [i for i, w in enumerate(words) if w in options]
    return hits[0] if hits else None


def _from_to(words: list[str], a: str, b: str) -> str | None:
    """Which of a / b comes first when both appear ("left ... right" -> a)."""
    ia, ib = _index(words, (a,)), _index(words, (b,))
    if ia is None or ib is None:
        return None
    return a if ia < ib else b


def _horizontal(words: list[str]) -> str | None:
    right = {"right", "rightward", "rightwards", "rightmost"}
    left = {"left", "leftward", "leftwards", "leftmost"}
    has_right, has_left = any(w in right for w in words), any(w in left for w in words)
    if not (has_right or has_left):
        if any(w in ("horizontal", "x") for w in words) and "position" in words:
            if any(w.startswith(_INCREASE) for w in words):
                return "left_to_right"
            if any(w.startswith(_DECREASE) for w in words):
                return "right_to_left"
        return None
    if not (_has(words, MOTION_CUES) or any(w.endswith("ward") or w.endswith("wards") for w in words)):
        return None
    if has_right and has_left:
        first = next(w for w in words if w in right | left)
        return "left_to_right" if first in left else "right_to_left"
    return "left_to_right" if has_right else "right_to_left"


_UP_VERBS = ("rise", "rises", "rising", "rose", "climb", "ascend", "lift", "rais", "elevat")
_DOWN_VERBS = ("sink", "sank", "descend", "fall", "fell", "drop", "lower")


def _vertical(words: list[str]) -> str | None:
    if any(w.startswith(_UP_VERBS) for w in words) or "upward" in words or "upwards" in words:
        return "up"
    if any(w.startswith(_DOWN_VERBS) for w in words) or "downward" in words or "downwards" in words:
        return "down"
    motion = _has(words, MOTION_CUES)
    if not motion:
        return None
    order = _from_to(words, "top", "bottom")
    if order:
        return "down" if order == "top" else "up"
    if "up" in words or "top" in words:
        return "up"
    if "down" in words or "bottom" in words:
        return "down"
    return None


_BIGGER = ("bigger", "larger", "grow", "grew", "enlarg", "expand", "swell", "inflat", "magnif", "huge")
_SMALLER = ("smaller", "shrink", "shrank", "shrunk", "contract", "diminish", "tiny", "tinier")
_INCREASE = ("increas", "rise", "rises", "up", "goes up", "higher", "grow")
_DECREASE = ("decreas", "down", "lower", "drop", "fall", "reduc")


def _size(words: list[str]) -> str | None:
    if any(w.startswith(_BIGGER) for w in words):
        return "bigger"
    if any(w.startswith(_SMALLER) for w in words):
        return "smaller"
    if any(w in ("size", "scale", "scaled", "scales") for w in words):
        if _from_to(words, "small", "big") == "small" or _from_to(words, "small", "large") == "small":
            return "bigger"
        if _from_to(words, "small", "big") == "big" or _from_to(words, "small", "large") == "large":
            return "smaller"
        if any(w.startswith(_INCREASE) for w in words):
            return "bigger"
        if any(w.startswith(_DECREASE) for w in words):
            return "smaller"
    return None


def _rotation(words: list[str]) -> str | None:
    for i, w in enumerate(words):
        if w in ("counterclockwise", "anticlockwise") or (w == "clockwise" and i > 0
                                                             and words[i - 1] in ("counter", "anti")):
            return "counterclockwise"
        if w == "clockwise":
            return "clockwise"
    if any(w.startswith(("rotat", "spin", "twist", "orientation")) for w in words):
        return "changes"
    return None


def _brightness(words: list[str]) -> str | None:
    if "brightness" in words or "luminance" in words:
        if any(w.startswith(_INCREASE) or w == "gains" for w in words):
            return "lighter"
        if any(w.startswith(_DECREASE) or w in ("loses", "lose") for w in words):
            return "darker"
    if any(w.startswith(("bright", "lighter", "lighten", "luminous")) and w != "brightness" for w in words):
        return "darker" if "less" in words else "lighter"
    if any(w.startswith(("dark", "dimmer", "dims", "dimm", "dim")) for w in words):
        return "darker"
    return None


def _visibility(words: list[str]) -> str | None:
    joined = " ".join(words)
    if re.search(r"\b(disappear\w*|vanish\w*|fades? (out|away)|fading (out|away)|fades$|fade$)", joined):
        return "disappears"
    if re.search(r"\b(appear\w*|emerg\w*|fades? in|fading in|becomes visible|pops? up|materiali\w*)", joined):
        return "appears"
    return None


def _colour(words: list[str]) -> tuple[str, str] | None:
    colours = [w for w in words if w in COLOURS]
    redder = [w for w in words if w in ("redder", "bluer", "greener", "yellower", "pinker")]
    hue_word = any(w in ("colour", "color", "hue", "tint", "coloured", "colored") for w in words)
    if not colours and not redder:
        return None
    if len(colours) >= 2:
        source = _after(words, ("from", "was", "were", "initially"), COLOURS)
        target = _after(words, ("to", "into", "toward", "towards", "turns", "becomes", "goes"), COLOURS)
        first, last = colours[0], colours[-1]
        if source and source != last:
            first = source
            last = target if target and target != source else next(c for c in reversed(colours) if c != source)
        elif target and target == first:
            first, last = last, first
        change = f"from {first} to {last}" if first != last else f"to {last}"
    elif colours:
        change = f"to {colours[0]}"
    else:
        change = f"to {redder[0][:-2]}" if redder[0] != "redder" else "to red"
    if not (hue_word or colours and (_has(words, ("turn", "becom", "became", "goes", "go", "went", "shift",
                                                  "chang", "fade"))
                                     or "from" in words or "to" in words or len(colours) >= 2)):
        return None
    region = next((REGIONS[w] for w in words if w in REGIONS), None)
    return (region or "object colour"), change


def _after(words: list[str], markers: tuple[str, ...], options: tuple[str, ...]) -> str | None:
    """The first of `options` within two words after one of `markers` ("from a red" -> red)."""
    for i, w in enumerate(words):
        if w in markers:
            for v in words[i + 1 : i + 4]:
                if v in options:
                    return v
    return None


def _shape(words: list[str]) -> str | None:
    shapes = [(i, SHAPE_WORDS[w]) for i, w in enumerate(words) if w in SHAPE_WORDS]
    kinds = []
    for _, kind in shapes:
        if not kinds or kinds[-1] != kind:
            kinds.append(kind)
    if len(kinds) >= 2 and _has(words, SHAPE_TRANSITIONS | {"from", "transition", "starts", "start"}):
        return f"from {kinds[0]} to {kinds[-1]}"
    for i, kind in shapes:
        j = i - 1
        while j >= 0 and words[j] in ("a", "an", "the", "shape", "of"):
            j -= 1
        if j >= 0 and words[j] in ("into", "becomes", "become", "became", "to"):
            return f"to {kind}"
    if _has(words, ("morph", "reshap")) or ("shape" in words and _has(words, ("chang", "transform", "vari"))):
        return "changes"
    return None


def _view(words: list[str]) -> str | None:
    if not any(w in VIEW_NOUNS for w in words):
        return None
    if not _has(words, ("orbit", "turn", "rotat", "swing", "pan", "circl", "mov")):
        return None
    horizontal = _horizontal(words)
    return horizontal or "changes"


def _clause_claims(words: list[str], region: str | None) -> list[Claim]:
    """Claims of one clause's kept words; region: the colour region named earlier in the
    sample, for a clause that names none ("only the floor changes: red at first, ...")."""
    claims: list[Claim] = []
    view = _view(words)
    if view is not None:
        return [Claim("view", view)]
    visibility = _visibility(words)
    if visibility is not None:
        claims.append(Claim("visibility", visibility))
    colour = _colour(words)
    if colour is not None:
        prop, change = colour
        if prop == "object colour" and region and not any(w in OBJECT_NOUNS for w in words):
            prop = region
        claims.append(Claim(prop, change))
    for prop, read in (("shape", _shape), ("position_x", _horizontal), ("position_y", _vertical), ("size", _size),
                       ("rotation", _rotation)):
        change = read(words)
        if change is not None:
            claims.append(Claim(prop, change))
    if colour is None:
        brightness = _brightness(words)
        if brightness is not None:
            region = next((REGIONS[w] for w in words if w in REGIONS), None)
            claims.append(Claim(region or "brightness", brightness))
    return claims


def parse_claims(text: str) -> list[Claim]:
    """The claims one free-text explanation makes (module docstring); [] when it claims no
    change (or only ones this reader cannot place)."""
    claims: list[Claim] = []
    region = None
    for words in _clauses(text or ""):
        region = next((REGIONS[w] for w in words if w in REGIONS), region)
        for claim in _clause_claims(words, region):
            same = [k for k, c in enumerate(claims) if c.property == claim.property]
            if not same:
                claims.append(claim)
            elif claims[same[0]].change == "changes":  # a direction given later replaces "changes"
                claims[same[0]] = claim
    return claims
