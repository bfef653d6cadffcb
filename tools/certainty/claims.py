"""Structured explanations: what one explanation sample claims, beside its sentence.

A sample is a sentence plus a list of claims. A claim is one property changing one way:

    {"property": "position_x", "change": "left_to_right"}
    {"property": "size", "change": "bigger"}
    {"property": "object colour", "change": "from red to blue"}

`property` is open vocabulary. The canonical names below are what the offline describer emits
and what an MLLM is asked to prefer; anything else is kept as free text (lower case).
`change` is a canonical direction word where the change has a direction, "from A to B" for a
change between named states, else free text. Two claims with the same property and opposite
directions contradict each other (tools/certainty computes agreement from these).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

CANONICAL_PROPERTIES = (
    "position_x", "position_y", "size", "rotation", "shape", "visibility", "brightness", "saturation",
    "object colour", "background colour", "wall colour", "floor colour", "view",
)
"""Property names shared by the describer and the MLLM prompt; others are free text."""

OPPOSITE_CHANGES = {
    "left_to_right": "right_to_left", "up": "down", "bigger": "smaller", "lighter": "darker",
    "clockwise": "counterclockwise", "appears": "disappears", "more_saturated": "less_saturated",
}
"""Direction words and their opposites (each pair listed once; see `opposite`)."""

DIRECTION_WORDS = tuple(OPPOSITE_CHANGES) + tuple(OPPOSITE_CHANGES.values())


def opposite(change: str) -> str | None:
    """The opposite direction word of a canonical change, or None when it has none."""
    for a, b in OPPOSITE_CHANGES.items():
        if change == a:
            return b
        if change == b:
            return a
    return None


@dataclass(frozen=True)
class Claim:
    """property: what changes (a canonical name or free text, lower case); change: how it
    changes (a direction word, "from A to B", or free text, lower case)."""

    property: str
    change: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Claim:
        """A claim from its JSON object; raises ValueError when a key is missing or not text."""
        prop, change = data.get("property"), data.get("change")
        if not isinstance(prop, str) or not isinstance(change, str) or not prop.strip():
            raise ValueError(f"a claim needs text 'property' and 'change'; got {data!r}")
        return cls(prop.strip().lower(), change.strip().lower())


EXPLANATION_JSON_SCHEMA = {
    "name": "latent_explanation",
    "strict": True,
    "schema": {
        "type": "object",
        "additionalProperties": False,
        "required": ["explanation", "claims"],
        "properties": {
            "explanation": {"type": "string", "description": "One or two plain sentences: what changes as the value grows."},
            "claims": {
                "type": "array",
                "description": "Each property that changes, and how, as the value grows (empty when nothing changes).",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["property", "change"],
                    "properties": {
                        "property": {"type": "string",
                                     "description": "Prefer one of: " + ", ".join(CANONICAL_PROPERTIES) + "; else free text."},
                        "change": {"type": "string",
                                   "description": "Prefer one of: " + ", ".join(DIRECTION_WORDS)
                                                  + "; or 'from A to B'; else free text."},
                    },
                },
            },
        },
    },
}
"""The OpenAI `response_format={"type": "json_schema", "json_schema": ...}` payload an MLLM is
asked to answer with: one explanation sentence and its claims."""
