"""Which dataset factors a plain-language explanation names: dSprites' (shape, scale,
orientation, posX, posY) and 3DShapes' (floor_hue, wall_hue, object_hue, scale, shape,
orientation; the last three share dSprites' names and vocabulary).

Used to score an explanation against the label-derived ground truth (tools/evaluation/ground_truth.py):
"the sprite moves from left to right" names posX; "it gets brighter" names nothing; "the floor
turns from red to green" names floor_hue.

Matching works on word tokens, never on substrings, so "right" is not found in "bright" nor
"up" in "cup". The text is lower-cased, hyphens and slashes become spaces ("x-position" ->
"x position", "counter-clockwise" -> "counter clockwise") and "n't" becomes " not".

Pattern syntax (FACTOR_VOCABULARY, FACTOR_EXCLUSIONS, the cue lists): a phrase is
space-separated token specs; a spec is alternatives joined by "|"; an alternative ending in
"*" matches any word starting with the stem ("rotat*": rotates, rotation, rotating).

Steps (`named_factors`):
1. Find every vocabulary match of every factor.
2. Drop matches that overlap one of the factor's exclusion phrases: words of the vocabulary
   used in another sense ("turns into a heart" is not a rotation, "the largest change" is not
   about size, "left unchanged" is not a direction, "the shape moves" names the object).
3. Drop negated matches. A negator (no, not, never, without, neither, nor) negates the
   matches that follow it, as long as only filler words, commas and "and"/"or" stand between
   ("no change in size, shape or orientation", "does not move left or right"); followed by a
   verb of change it also negates the noun-like matches before it ("the size does not
   change"). A steadiness word negates noun-like matches next to it on either side, across
   the same fillers ("its size and shape remain constant", "at the same size"). A direction such as "left" is never
   negated by a steadiness word that follows it: "moves left and its size stays the same".
3b. Location words alone are not motion: a posX / posY match by a word of place only
   (LOCATION_ONLY: left, right, top, bottom, upper, lower half...) counts when its sentence
   also holds a cue of motion or position (MOTION_CUES: moves, slides, toward, position,
   placement, rises...). "The image changes slightly at the bottom" and "in the upper left"
   name nothing; "the object drifts to the bottom" names posY.
4. Shape is also named when two different shape nouns appear ("from a square to a heart",
   "from a cube to a sphere") or a shape noun follows a word of transformation ("turns into a
   heart", "becomes an ellipse"). A single shape noun is how an explanation refers to the
   object ("the square moves right") and names nothing.
5. Hues: a colour cue (HUE_CUES: a colour noun, "turns blue", "from red", "redder") names the
   hue of its subject (HUE_SUBJECTS): the nearest subject noun before it in the same sentence,
   together with subjects joined to that one by "and" ("the floor and the wall turn blue"),
   skipping a noun after a preposition of place ("the wall behind the object turns red");
   without one before it, the first after it ("the colour of the floor changes"). A cue
   without a subject names nothing ("the image turns from grey to colour", "the lower
   background turns blue"). Cues are negated as in step 3 ("the wall colour stays the same").

The vocabularies are Python data, not a JSON file, because the installed package carries
only the data files pyproject.toml lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.errors import UserError

FACTOR_VOCABULARY: dict[str, tuple[str, ...]] = {
    "shape": ("shape", "shapes", "reshap*", "morph*", "transform*", "rounder", "pointier", "squarer",
              "form", "forms", "kind|type of solid|solids|object|shape"),
    "scale": (
        "size*",
        "resiz*",
        "scale",
        "scales",
        "scaled",
        "scaling",
        "bigger",
        "biggest",
        "smaller",
        "smallest",
        "larger",
        "largest",
        "grow*",
        "shrink*",
        "shrank",
        "shrunk*",
        "enlarg*",
        "expand*",
        "magnif*",
        "zoom*",
        "tiny",
        "huge",
        "how big|large|small",
        "small to large|big",
        "large|big to small",
    ),
    "orientation": (
        "rotat*",
        "orient*",
        "angle*",
        "angular",
        "turn*",
        "tilt*",
        "spin*",
        "twist*",
        "pivot*",
        "revolv*",
        "swivel*",
        "clockwise",
        "counterclockwise",
        "anticlockwise",
        "counter|anti clockwise",
        "upside down",
        "orbit*",
        "viewpoint*",
    ),
    "posX": (
        "horizontal*",
        "left",
        "right",
        "leftward*",
        "rightward*",
        "leftmost",
        "rightmost",
        "sideways",
        "side to side",
        "diagonal*",
        "x position|coordinate*|axis|direction|value|location",
    ),
    "posY": (
        "vertical*",
        "upward*",
        "downward*",
        "up and down",
        "down and up",
        "top",
        "bottom",
        "upper",
        "diagonal*",
        "lower half|part|edge|side|region|area|portion|corner|left|right",
        "higher up",
        "lower down",
        "mov*|shift*|slid*|travel*|drift* up|down",
        "ascend*",
        "descend*",
        "y position|coordinate*|axis|direction|value|location",
    ),
}

# Step 3b: vocabulary phrases that say where, not that something moves, and the cues that make
# them motion (a verb of motion, a word of direction or position).
LOCATION_ONLY = frozenset({"left", "right", "leftmost", "rightmost", "top", "bottom", "upper", "diagonal*",
                           "lower half|part|edge|side|region|area|portion|corner|left|right"})
MOTION_CUES = ("mov*|shift*|slid*|travel*|drift*|push*|pull*|toward*|towards|translat*|displac*|position*"
               "|placement|location*|locat*|glid*|head*|goes|go|went|across|rise*|rising|rose|sink*|sank|climb*"
               "|fall*|fell|drop*|lift*|rais*|descend*|ascend*|wander*|migrat*|swing*|swept|sweep*|pass*"
               "|horizontal*|vertical*|leftward*|rightward*|upward*|downward*|sideways|ends|end|ending")

_STEADY_NOUNS = "change*|difference*|effect*|shift*|variation*|step*|amount|impact|influence"
FACTOR_EXCLUSIONS: dict[str, tuple[str, ...]] = {
    "shape": (
        "the|a|this|that shape mov*|shift*|slid*|travel*|drift*|get*|grow*|shrink*|rotat*|turn*|spin*|tilt*|go*|ris*"
        "|rose|sink*|sank|fall*|fell|climb*|descend*|ascend*|drop*|is|appear*|disappear*",
        "the|a|this|that shape is located|positioned|placed",
    ),
    "scale": (
        f"larg*|big*|small* {_STEADY_NOUNS}",
        "grow*|get* brighter|darker|dimmer|fainter|lighter|sharper|blurr*|more|less",
        "gray|grey scale",
    ),
    "orientation": (
        "turn* into|out|from",
        "in turn",
        "turn* to a|an",
        "turn*|turning " + "|".join(("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "magenta",
                                     "violet", "brown", "lighter", "darker", "pale*", "bright*")),
    ),
    "posX": (
        "right angle*",
        "left unchanged|intact|alone|untouched|over|as",
        "all right",
        "right away",
    ),
    "posY": (
        "on top of",
        "top of that",
        "upside down",
        "top|bottom of the|its object*|sprite*|shape*|cube*|cylinder*|sphere*|capsule*",
    ),
}

SHAPE_NOUNS: dict[str, str] = {
    "square|squares|squarish": "square",
    "rectangle*|rectangular": "square",
    "ellips*|elliptic*|oval*": "ellipse",
    "heart|hearts": "heart",
    "circle*|circular|disc|disk": "circle",
    "triangle*|triangular": "triangle",
    "diamond*": "diamond",
    "cube|cubes|cubic|cuboid*|box|boxes": "cube",
    "cylinder*|cylindrical": "cylinder",
    "sphere|spheres|spherical|ball|balls": "sphere",
    "capsule*|pill|pills": "capsule",
}
SHAPE_TRANSITIONS = "into|becom*|became|from"
_DETERMINERS = {"a", "an", "the", "more", "rather"}

# Step 5. A subject noun spec -> the hue factor it names; colour cues; what joins or hides subjects.
HUE_SUBJECTS: dict[str, str] = {
    "floor|floors|floor's|ground": "floor_hue",
    "wall|walls|wall's": "wall_hue",
    "object|objects|object's|shape|cube*|cylinder*|sphere*|capsule*|ball|balls|block|blocks|sprite|sprite's"
    "|solid|solids|solid's":
        "object_hue",
}
COLOUR_WORDS = ("red|orange|yellow|green|cyan|blue|purple|pink|magenta|violet|teal|turquoise|brown|lime|indigo"
                "|crimson|scarlet|maroon|olive|navy|gold|golden|reddish|bluish|greenish|yellowish|pinkish|purplish")
HUE_CUES: tuple[str, ...] = (
    "colour|colours|coloured|colouring|color|colors|colored|coloring|hue|hues|tint|tints|tinted|recolo*",
    f"turn*|becom*|became|goes|go|went|fade*|shift*|chang*|from|to|into|through {COLOUR_WORDS}",
    "redder|bluer|greener|yellower|pinker|purpler",
)
SUBJECT_JOINERS = frozenset({"and", "or", ",", "the", "its", "their", "both"})
PLACE_PREPOSITIONS = frozenset({"behind", "above", "below", "beside", "under", "over", "near", "against", "on",
                                "onto", "in", "front", "beneath", "underneath", "across"})
_SENTENCE_END = frozenset({".", ";", "!", "?"})

NEGATORS = "no|not|never|without|neither|nor"
# A negator followed by one of these also negates the noun-like matches before it ("the size
# does not change").
NEGATED_VERBS = "chang*|var*|alter*|differ*|mov*|shift*"
STEADY_BEFORE = "same|constant|fixed|unchanged|unchanging|steady|stable|consistent|identical"
STEADY_AFTER = (
    "unchanged|unchanging|constant|same|fixed|stays|stay|remain*|unaffected|unaltered|static"
    "|stable|steady|invariant|consistent"
)
FILLERS = (
    ",|and|or|nor|the|its|their|it|object's|object|sprite's|sprite|shape's|of|in|to|be|is|are|was|were"
    "|does|do|did|any|much|overall|both|all|also|position|positions|location|appear*|seem*|largely"
    "|mostly|roughly|essentially|relatively|otherwise|approximately|fairly|basically|nearly|almost"
    "|significant|noticeable|apparent|visible|clear|obvious|change|changes|changing|changed|move"
    "|moving|alter|altering|vary|varying|affect|affecting|affected|either"
)
# A match is noun-like when its last token is one of these: only such matches can be negated by
# a steadiness word ("the size stays the same"), never a direction ("moves left and ...").
NOUN_TOKENS = frozenset(
    "size sizes scale scaling shape shapes orientation orientations rotation rotations angle angles tilt "
    "spin horizontal vertical position coordinate coordinates axis direction value location "
    "colour colours color colors hue hues tint tints".split()
)

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,;:!?()]")


@dataclass(frozen=True)
class _Match:
    factor: str
    start: int  # first token
    end: int  # one past the last token

    def noun_like(self, tokens: list[str]) -> bool:
        return tokens[self.end - 1] in NOUN_TOKENS


def _tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens (module docstring)."""
    text = text.lower().replace("\u2019", "'").replace("n't", " not")
    text = re.sub(r"[-/\u2010-\u2015]", " ", text)
    return _TOKEN.findall(text)


def _compile(phrase: str) -> tuple[tuple[str, ...], ...]:
    """A phrase -> per token, its alternatives (a trailing * marks a stem)."""
    return tuple(tuple(spec.split("|")) for spec in phrase.split())


def _token_matches(token: str, alternatives: tuple[str, ...]) -> bool:
    return any(token.startswith(alt[:-1]) if alt.endswith("*") else token == alt for alt in alternatives)


def _find(tokens: list[str], phrase: str) -> list[tuple[int, int]]:
    """(start, end) token spans where the phrase occurs."""
    pattern = _compile(phrase)
    spans = []
    for start in range(len(tokens) - len(pattern) + 1):
        if all(_token_matches(tokens[start + i], alts) for i, alts in enumerate(pattern)):
            spans.append((start, start + len(pattern)))
    return spans


def _sentence_has_motion(tokens: list[str], position: int) -> bool:
    """Whether the sentence around tokens[position] holds a MOTION_CUES word (step 3b)."""
    cues = _compile(MOTION_CUES)[0]
    start = position
    while start > 0 and tokens[start - 1] not in _SENTENCE_END:
        start -= 1
    end = position
    while end < len(tokens) and tokens[end] not in _SENTENCE_END:
        end += 1
    return any(_token_matches(token, cues) for token in tokens[start:end])


def _matches(tokens: list[str]) -> list[_Match]:
    """Vocabulary matches minus those overlapping the factor's exclusions (steps 1-2) and
    location words without motion (step 3b)."""
    found = []
    for factor, phrases in FACTOR_VOCABULARY.items():
        excluded = [span for phrase in FACTOR_EXCLUSIONS.get(factor, ()) for span in _find(tokens, phrase)]
        for phrase in phrases:
            for start, end in _find(tokens, phrase):
                if any(start < ex_end and ex_start < end for ex_start, ex_end in excluded):
                    continue
                if phrase in LOCATION_ONLY and not _sentence_has_motion(tokens, start):
                    continue
                found.append(_Match(factor, start, end))
    return found


def _negated(tokens: list[str], matches: list[_Match]) -> set[_Match]:
    """Matches in the scope of a negator or a steadiness word (step 3)."""
    negators, verbs, before, after, fillers = (
        _compile(p)[0] for p in (NEGATORS, NEGATED_VERBS, STEADY_BEFORE, STEADY_AFTER, FILLERS)
    )
    negated: set[_Match] = set()

    def walk(position: int, step: int, nouns_only: bool) -> None:
        while 0 <= position < len(tokens):
            edge = [m for m in matches if (m.start if step > 0 else m.end - 1) == position]
            edge = [m for m in edge if m.noun_like(tokens) or not nouns_only]
            if edge:
                negated.update(edge)
                position = max(m.end for m in edge) if step > 0 else min(m.start for m in edge) - 1
            elif _token_matches(tokens[position], fillers):
                position += step
            else:
                return

    for i, token in enumerate(tokens):
        if _token_matches(token, negators):
            walk(i + 1, +1, nouns_only=False)
            if i + 1 < len(tokens) and _token_matches(tokens[i + 1], verbs):
                walk(i - 1, -1, nouns_only=True)
        if _token_matches(token, before):
            walk(i + 1, +1, nouns_only=True)
        if _token_matches(token, after):
            walk(i - 1, -1, nouns_only=True)
    return negated


def _names_shape_by_nouns(tokens: list[str]) -> bool:
    """Two different shape nouns, or a shape noun after a transformation word (step 4)."""
    kinds, transitions = set(), _compile(SHAPE_TRANSITIONS)[0]
    for i, token in enumerate(tokens):
        kind = next((k for spec, k in SHAPE_NOUNS.items() if _token_matches(token, _compile(spec)[0])), None)
        if kind is None:
            continue
        kinds.add(kind)
        j = i - 1
        while j >= 0 and tokens[j] in _DETERMINERS:
            j -= 1
        if j >= 0 and _token_matches(tokens[j], transitions):
            return True
    return len(kinds) >= 2


def _subject_factors(tokens: list[str], start: int, end: int) -> set[str]:
    """The hue factors of the subject of a colour cue at tokens[start:end] (step 5)."""
    specs = [(_compile(spec)[0], factor) for spec, factor in HUE_SUBJECTS.items()]

    def subject(i: int) -> str | None:
        return next((factor for alts, factor in specs if _token_matches(tokens[i], alts)), None)

    def after_preposition(i: int) -> bool:
        j = i - 1
        while j >= 0 and tokens[j] in _DETERMINERS:
            j -= 1
        return j >= 0 and tokens[j] in PLACE_PREPOSITIONS

    found: set[str] = set()
    i = start - 1
    while i >= 0 and tokens[i] not in _SENTENCE_END:
        factor = subject(i)
        if factor is not None and not after_preposition(i):
            found.add(factor)
            j = i - 1  # subjects joined to it by "and" or commas
            while j >= 0 and (tokens[j] in SUBJECT_JOINERS or subject(j) is not None):
                if subject(j) is not None:
                    found.add(str(subject(j)))
                j -= 1
            return found
        i -= 1
    for i in range(end, len(tokens)):
        if tokens[i] in _SENTENCE_END:
            break
        factor = subject(i)
        if factor is not None:
            return {factor}
    return found


def _hue_matches(tokens: list[str]) -> list[_Match]:
    """One match per colour cue and hue factor of its subject (step 5)."""
    matches = []
    for phrase in HUE_CUES:
        for start, end in _find(tokens, phrase):
            matches += [_Match(factor, start, end) for factor in sorted(_subject_factors(tokens, start, end))]
    return matches


def named_factors(explanation: str) -> set[str]:
    """The factors (FACTOR_VOCABULARY keys and the hue factors of HUE_SUBJECTS) an explanation
    names, not counting negated mentions (module docstring)."""
    tokens = _tokenize(explanation)
    matches = _matches(tokens) + _hue_matches(tokens)
    negated = _negated(tokens, matches)
    named = {m.factor for m in matches if m not in negated}
    if _names_shape_by_nouns(tokens):
        named.add("shape")
    return named


KNOWN_FACTORS: tuple[str, ...] = (*FACTOR_VOCABULARY, *dict.fromkeys(HUE_SUBJECTS.values()))


def names_factor(explanation: str, factor: str) -> bool:
    """Whether the explanation names `factor` (one of KNOWN_FACTORS)."""
    if factor not in KNOWN_FACTORS:
        raise UserError(f"unknown factor {factor!r}; use one of {', '.join(KNOWN_FACTORS)}")
    return factor in named_factors(explanation)
