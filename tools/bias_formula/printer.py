"""Print a parsed bias formula back as text the parser reads to the same SymPy object.

Plain text (`p(z) = prod_{i=1}^{d} p(z_i)`) or LaTeX (`p(z) = \\prod_{i=1}^{d} p(z_i)`).
Parentheses are added only where the grammar needs them.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import sympy
from sympy import Basic, Eq, FiniteSet, Implies, Indexed, IndexedBase, Ne, Product, Sum, Symbol

from tools.bias_formula.objects import (
    AllBut,
    AllIndices,
    Conjunction,
    Density,
    Expectation,
    ForAll,
    Independence,
    IndexRange,
    Membership,
    ProductOver,
    SumOver,
)
from tools.bias_formula.tokens import GREEK

# Binding strength of each printed form; an operand weaker than its slot needs parentheses.
STATEMENT, IMPLICATION, CONJUNCTION, RELATION, SUM_LEVEL, TERM, ATOM = range(7)

_PLAIN = {"neq": " != ", "perp": " perp ", "mid": " | ", "in": " in ", "implies": " => ", "and": " and ",
          "forall": ", forall ", "prod": "prod", "sum": "sum", "E": "E", "log": "log", "dots": "...",
          "lset": "{", "rset": "}", "allbut": "-"}
_LATEX = {"neq": " \\neq ", "perp": " \\perp ", "mid": " \\mid ", "in": " \\in ", "implies": " \\Rightarrow ",
          "and": " \\land ", "forall": ", \\forall ", "prod": "\\prod", "sum": "\\sum", "E": "\\mathbb{E}",
          "log": "\\log", "dots": "\\dots", "lset": "\\{", "rset": "\\}", "allbut": "\\setminus "}


def _is_negation(node: Basic) -> bool:
    return isinstance(node, sympy.Mul) and len(node.args) == 2 and node.args[0] == -1


def _is_negative_number(node: Basic) -> bool:
    return isinstance(node, sympy.Number) and node < 0


def _is_big_operator(node: Basic) -> bool:
    return isinstance(node, (Product, Sum, ProductOver, SumOver))


def _number(value: sympy.Rational) -> str:
    """Integers as they are; other rationals as their exact decimal (they come from decimals)."""
    if value.q == 1:
        return str(value.p)
    with localcontext() as ctx:
        ctx.prec = 60
        return format((Decimal(value.p) / Decimal(value.q)).normalize(), "f")


class _Printer:
    def __init__(self, latex: bool) -> None:
        self.latex = latex
        self.words = _LATEX if latex else _PLAIN

    def level(self, node: Basic) -> int:
        if isinstance(node, ForAll):
            return STATEMENT
        if isinstance(node, Implies):
            return IMPLICATION
        if isinstance(node, Conjunction):
            return CONJUNCTION
        if isinstance(node, (Eq, Ne, Independence, Membership)):
            return RELATION
        if isinstance(node, sympy.Add) or _is_negation(node) or _is_negative_number(node):
            return SUM_LEVEL
        if isinstance(node, sympy.Mul) or _is_big_operator(node):
            return TERM
        return ATOM

    def at(self, node: Basic, minimum: int) -> str:
        text = self.print(node)
        return f"({text})" if self.level(node) < minimum else text

    def print(self, node: Basic) -> str:
        w = self.words
        if isinstance(node, ForAll):
            bindings = ", ".join(self.binding(b) for b in node.bindings)
            return f"{self.at(node.body, STATEMENT)}{w['forall']}{bindings}"
        if isinstance(node, Implies):
            left, right = node.args
            return f"{self.at(left, CONJUNCTION)}{w['implies']}{self.at(right, IMPLICATION)}"
        if isinstance(node, Conjunction):
            return w["and"].join(self.at(part, RELATION) for part in node.args)
        if isinstance(node, (Eq, Ne)):
            op = " = " if isinstance(node, Eq) else w["neq"]
            return f"{self.at(node.lhs, SUM_LEVEL)}{op}{self.at(node.rhs, SUM_LEVEL)}"
        if isinstance(node, Independence):
            text = f"{self.at(node.left, SUM_LEVEL)}{w['perp']}{self.at(node.right, SUM_LEVEL)}"
            if node.given:
                text += w["mid"] + self.at(node.given[0], SUM_LEVEL)
            return text
        if isinstance(node, Membership):
            return f"{self.at(node.element, SUM_LEVEL)}{w['in']}{self.set(node.group)}"
        if isinstance(node, sympy.Add):
            return self.sum(node)
        if _is_negation(node):
            return "-" + self.at(node.args[1], TERM)
        if isinstance(node, sympy.Mul):
            return self.product(node)
        if _is_big_operator(node):
            return self.big_operator(node)
        if isinstance(node, Density):
            variables = ", ".join(self.print(v) for v in node.variables)  # y = 1 needs no brackets here
            given = w["mid"] + ", ".join(self.print(g) for g in node.given) if node.given else ""
            return f"{self.name(node.name)}({variables}{given})"
        if isinstance(node, Expectation):
            sub = f"_{{{self.print(node.dist)}}}" if node.dist is not None else ""
            return f"{w['E']}{sub}[{self.print(node.body)}]"
        if isinstance(node, sympy.log):
            return f"{w['log']}({self.print(node.args[0])})"
        if isinstance(node, sympy.Rational):
            return _number(node)
        if isinstance(node, (Symbol, Indexed, IndexedBase)):
            return self.name(node)
        raise TypeError(f"no text form for {type(node).__name__}: {node!r}")

    def sum(self, node: sympy.Add) -> str:
        parts = []
        for i, term in enumerate(node.args):
            if i and _is_negation(term):
                parts.append(" - " + self.at(term.args[1], TERM))
            elif i and _is_negative_number(term):
                parts.append(" - " + _number(-term))
            elif i:
                parts.append(" + " + self.at(term, TERM))
            elif isinstance(term, sympy.Add):  # a bracketed leading sum keeps its brackets, as products do
                parts.append(f"({self.print(term)})")
            else:
                parts.append(self.at(term, SUM_LEVEL))
        return "".join(parts)

    def product(self, node: sympy.Mul) -> str:
        text = ""
        last = len(node.args) - 1
        for i, factor in enumerate(node.args):
            piece = self.print(factor)
            if not (self.level(factor) == ATOM or (i == last and _is_big_operator(factor))):
                piece = f"({piece})"
            if i:
                text += " * " if piece.startswith("(") else " "
            text += piece
        return text

    def big_operator(self, node: Basic) -> str:
        word = self.words["prod"] if isinstance(node, (Product, ProductOver)) else self.words["sum"]
        if isinstance(node, (Product, Sum)):
            index, lower, upper = node.limits[0]
            limits = f"_{{{self.name(index)}={self.print(lower)}}}^{{{self.print(upper)}}}"
        elif isinstance(node.domain, AllIndices):
            limits = f"_{{{self.name(node.index)}}}"
        else:
            limits = f"_{{{self.name(node.index)}{self.words['in']}{self.set(node.domain)}}}"
        return f"{word}{limits} {self.at(node.args[0], TERM)}"

    def binding(self, node: Basic) -> str:
        if isinstance(node, Ne):
            return f"{self.name(node.lhs)}{self.words['neq']}{self.name(node.rhs)}"
        if isinstance(node, Membership):
            return f"{self.name(node.element)}{self.words['in']}{self.set(node.group)}"
        return self.name(node)

    def set(self, node: Basic) -> str:
        w = self.words
        if isinstance(node, IndexRange):
            return f"{w['lset']}{self.print(node.args[0])}, {w['dots']}, {self.print(node.args[1])}{w['rset']}"
        if isinstance(node, FiniteSet):
            return w["lset"] + ", ".join(self.print(item) for item in node.args) + w["rset"]
        return self.name(node)

    def name(self, node: Basic) -> str:
        """z, z', theta (\\theta), smiling (\\mathrm{smiling}), z_i, z_{i'}, z_{G_k}, z_{-i}."""
        if isinstance(node, Indexed):
            indices = [self.index(i) for i in node.indices]
            sub = indices[0] if len(indices) == 1 and len(indices[0]) == 1 else "{" + ",".join(indices) + "}"
            return f"{self.name(node.base)}_{sub}"
        if isinstance(node, IndexedBase):
            return self.name(node.label)
        if isinstance(node, sympy.Integer):
            return str(node)
        if not isinstance(node, Symbol):
            return self.print(node)
        stem = node.name.rstrip("'")
        marks = node.name[len(stem):]
        if self.latex and stem in GREEK:
            stem = "\\" + stem
        elif self.latex and len(stem) > 1:
            stem = f"\\mathrm{{{stem}}}"
        return stem + marks

    def index(self, node: Basic) -> str:
        if isinstance(node, AllBut):
            return self.words["allbut"] + self.name(node.index)
        return self.name(node)


def expr_to_text(expr: Basic, latex: bool = False) -> str:
    """The text form of a parsed formula: plain text, or LaTeX when `latex`."""
    return _Printer(latex).print(expr)
