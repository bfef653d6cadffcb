"""Hypothesis strategies that write bias formulas from the grammar.

A generated formula is a tree of pieces: plain strings, and Synonym pieces that have a LaTeX and a
plain-text spelling (and Unicode ones) of the same thing. `render` writes the tree in one style, so
one formula can be written several ways that must all parse to the same SymPy object.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import strategies as st


@dataclass(frozen=True)
class Synonym:
    """One construct spelled several ways: latex, plain, and other accepted spellings."""

    latex: str
    plain: str
    others: tuple[str, ...] = ()


Piece = str | Synonym | list  # a list holds pieces


def render(piece: Piece, style: str, rng: random.Random | None = None) -> str:
    """The text of `piece` in style "latex", "plain" or "mixed" (a random spelling per synonym)."""
    if isinstance(piece, str):
        return piece
    if isinstance(piece, list):
        return "".join(render(p, style, rng) for p in piece)
    if style == "latex":
        return piece.latex
    if style == "plain":
        return piece.plain
    return rng.choice((piece.latex, piece.plain, *piece.others))


NEQ = Synonym(" \\neq ", " != ", (" ≠ ", " \\ne ", " =/= "))
MID = Synonym(" \\mid ", " | ", (" \\vert ", "|", " ∣ "))
PERP = Synonym(" \\perp\\!\\!\\!\\perp ", " perp ", (" \\perp ", " _|_ ", " ⊥ ", " ⫫ ", " \\perp \\perp "))
IN = Synonym(" \\in ", " in ", (" ∈ ",))
IMPLIES = Synonym(" \\Rightarrow ", " => ", (" \\implies ", " ⇒ ", " -> "))
AND = Synonym(" \\land ", " and ", (" \\wedge ", " ∧ ", " \\quad\\text{and}\\quad ", ", "))
FORALL = Synonym("\\forall ", "forall ", ("for all ", "∀ ", "\\text{for all} ", "for each "))
TIMES = Synonym(" ", " ", (" \\cdot ", " * ", " · ", " \\times "))
PROD = Synonym("\\prod", "prod", ("∏",))
SUM = Synonym("\\sum", "sum", ("∑",))
EXPECT = Synonym("\\mathbb{E}", "E", ("𝔼", "\\operatorname{E}"))
LOG = Synonym("\\log", "log")

INDICES = st.sampled_from(["i", "j", "k", "i'", "l"])
BASES = st.sampled_from(["z", "w", "x", "h"])
CONDITIONS = st.sampled_from(["y", "c", "t", "a"])
GREEK = st.sampled_from(["theta", "phi", "mu"])


def _index_text(index: str) -> Piece:
    return [index] if len(index) == 1 else ["{", index, "}"]


@st.composite
def variable(draw) -> Piece:
    """z, \\mathbf{z}, z_i, z_{i'}, z_3, z_{G_k}, z_{-i}, theta_i."""
    base = draw(st.one_of(BASES, GREEK))
    bold = Synonym(f"\\mathbf{{{base}}}", base, (f"\\boldsymbol{{{base}}}", f"\\bm{{{base}}}", base))
    if base in ("theta", "phi", "mu"):
        bold = Synonym(f"\\{base}", base, (f"\\boldsymbol{{\\{base}}}",))
    kind = draw(st.sampled_from(["plain", "index", "number", "group", "allbut"]))
    if kind == "plain":
        return [bold]
    if kind == "index":
        return [bold, "_", *_index_text(draw(INDICES))]
    if kind == "number":
        return [bold, "_", *_index_text(str(draw(st.integers(0, 12))))]
    if kind == "group":
        return [bold, "_{G_", draw(st.sampled_from(["k", "l", "1"])), "}"]
    return [bold, "_{", Synonym("\\setminus ", "-", ("\\backslash ", "-")), draw(st.sampled_from(["i", "j"])), "}"]


@st.composite
def condition(draw) -> Piece:
    """y, t, y=1, c \\neq 0, \\text{smiling}=1."""
    name = draw(st.one_of(CONDITIONS, st.just(Synonym("\\text{smiling}", "smiling", ("\\mathrm{smiling}",)))))
    kind = draw(st.sampled_from(["bare", "eq", "ne"]))
    value = str(draw(st.sampled_from([0, 1, 2, -1, 0.5])))
    if kind == "bare":
        return [name]
    return [name, " = " if kind == "eq" else NEQ, value]


@st.composite
def density(draw) -> Piece:
    """p(z), p(z_1, z_2 | y=1), q_{\\phi}(z | x)."""
    name = draw(st.sampled_from([["p"], ["q"], ["p_", Synonym("{\\theta}", "{theta}", ("\\theta",))], ["q_{\\phi}"]]))
    variables = draw(st.lists(variable(), min_size=1, max_size=2))
    given = draw(st.lists(st.one_of(variable(), condition()), max_size=2))
    parts: list[Piece] = [name, "("]
    for i, v in enumerate(variables):
        parts += [", " if i else "", v]
    if given:
        parts.append(MID)
        for i, g in enumerate(given):
            parts += [", " if i else "", g]
    return parts + [")"]


def factors(child: st.SearchStrategy) -> st.SearchStrategy:
    """One factor: a density, a variable, a number, a big operator, an expectation, a log."""

    @st.composite
    def big(draw) -> Piece:
        op = draw(st.sampled_from([PROD, SUM]))
        index = draw(INDICES)
        limits = draw(st.sampled_from(["bare", "braced", "bounded", "set", "range"]))
        if limits == "bare":
            sub: list[Piece] = ["_", *_index_text(index)]
        elif limits == "braced":
            sub = ["_{", index, "}"]
        elif limits == "bounded":
            sub = ["_{", index, "=", draw(st.sampled_from(["0", "1"])), "}^", draw(st.sampled_from(["d", "{K}", "{10}"]))]
        elif limits == "set":
            sub = ["_{", index, IN, draw(st.sampled_from(["G", "G_k", "S"])), "}"]
        else:
            sub = ["_{", index, IN, Synonym("\\{1, \\dots, d\\}", "{1, ..., d}", ("\\{1, \\ldots, d\\}",)), "}"]
        body = draw(st.one_of(density(), variable(), child.map(lambda c: ["(", c, ")"])))
        return [op, sub, " ", body]  # the body is a term: a sum or a leading minus needs brackets

    @st.composite
    def expectation(draw) -> Piece:
        sub = draw(st.sampled_from([[], ["_{", "q(z | x)", "}"], ["_", "x"]]))
        return [EXPECT, sub, "[", draw(child), "]"]

    @st.composite
    def logarithm(draw) -> Piece:
        return [LOG, " ", draw(density())]

    numbers = st.sampled_from(["0", "1", "2", "0.5", "10"])
    return st.one_of(density(), variable(), numbers, big(), expectation(), logarithm(), child.map(lambda c: ["(", c, ")"]))


@st.composite
def term(draw, child: st.SearchStrategy) -> Piece:
    first, rest = draw(factors(child)), draw(st.lists(factors(child), max_size=1))
    parts: list[Piece] = [first]
    for f in rest:
        parts += [TIMES, f]
    return parts


def expressions() -> st.SearchStrategy:
    """A sum of terms; recursive through brackets, big operators and expectations."""

    def extend(child: st.SearchStrategy) -> st.SearchStrategy:
        @st.composite
        def expr(draw) -> Piece:
            lead = draw(st.sampled_from(["", "-"]))
            parts: list[Piece] = [lead, draw(term(child))]
            for _ in range(draw(st.integers(0, 1))):
                parts += [draw(st.sampled_from([" + ", " - "])), draw(term(child))]
            return parts

        return expr()

    return st.recursive(density(), extend, max_leaves=4)


@st.composite
def relation(draw) -> Piece:
    """a = b, a \\neq b, z_i \\perp z_j [| y], z \\in G."""
    kind = draw(st.sampled_from(["eq", "ne", "perp", "perp_given", "in"]))
    if kind in ("eq", "ne"):
        return [draw(expressions()), " = " if kind == "eq" else NEQ, draw(expressions())]
    if kind == "in":
        return [draw(variable()), IN, draw(st.sampled_from(["G", "G_k", "S", ["\\mathcal{G}"]]))]
    parts: list[Piece] = [draw(variable()), PERP, draw(variable())]
    if kind == "perp_given":
        parts += [MID, draw(st.one_of(variable(), CONDITIONS))]
    return parts


@st.composite
def bindings(draw) -> Piece:
    """i \\neq i', or i \\in G, or i, j."""
    kind = draw(st.sampled_from(["ne", "in", "bare", "two"]))
    if kind == "ne":
        return ["i", NEQ, draw(st.sampled_from(["i'", "j"]))]
    if kind == "in":
        return ["k", IN, draw(st.sampled_from(["G", "\\{1, \\dots, d\\}"]))]
    if kind == "bare":
        return ["i"]
    return ["i, j"]


@st.composite
def formulas(draw) -> Piece:
    """A whole formula: a statement, conjunctions, implications, quantifiers, or a bare density."""
    kind = draw(st.sampled_from(["relation", "and", "implies", "postfix", "prefix", "density", "nested"]))
    if kind == "relation":
        return draw(relation())
    if kind == "and":
        return [draw(relation()), AND, draw(relation())]
    if kind == "implies":
        return [draw(relation()), IMPLIES, draw(relation())]
    if kind == "postfix":
        return [draw(relation()), Synonym(", ", ", ", (" \\quad ", ",\\quad ")), FORALL, draw(bindings())]
    if kind == "prefix":
        # ("\\forall i, z \\in G" would be ambiguous: is z a second index?)
        return [FORALL, draw(bindings()), draw(st.sampled_from([": ", " \\colon "])), draw(relation())]
    if kind == "density":
        return [draw(density()), ", ", FORALL, draw(bindings())]
    return ["(", draw(relation()), IMPLIES, draw(relation()), ")", IMPLIES, draw(relation())]
