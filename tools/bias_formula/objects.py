"""SymPy classes for the parts of a bias formula that SymPy has no class for.

Everything else a formula says is built from SymPy's own classes: Symbol (z, y, t, d), Indexed
(z_i, z_{G_k}, p_theta), Product / Sum with bounds (prod_{i=1}^{d}), Eq / Ne and Implies (all with
evaluate=False, so that nothing the user wrote is simplified away), Add / Mul, log, FiniteSet.
These classes only hold structure; nothing is evaluated.
"""

from __future__ import annotations

from sympy import Basic, Expr, Tuple
from sympy.core.sympify import _sympify
from sympy.logic.boolalg import Boolean


class Density(Expr):
    """A density p(variables | given).

    name: Symbol p / q, or Indexed p_theta. variables, given: tuples of variables (Symbol or
    Indexed) or assignments Eq(y, 1) / Ne(y, 0). An empty `given` is an unconditional density.
    """

    def __new__(cls, name: Basic, variables: tuple | Tuple, given: tuple | Tuple = ()) -> Density:
        return Basic.__new__(cls, _sympify(name), Tuple(*variables), Tuple(*given))

    @property
    def name(self) -> Basic:
        return self.args[0]

    @property
    def variables(self) -> tuple[Basic, ...]:
        return self.args[1].args

    @property
    def given(self) -> tuple[Basic, ...]:
        return self.args[2].args


class Expectation(Expr):
    """E_{dist}[body]; `dist` is a density or a variable, or absent (an empty tuple)."""

    def __new__(cls, body: Basic, dist: tuple | Tuple = ()) -> Expectation:
        return Basic.__new__(cls, _sympify(body), Tuple(*dist))

    @property
    def body(self) -> Basic:
        return self.args[0]

    @property
    def dist(self) -> Basic | None:
        return self.args[1].args[0] if self.args[1].args else None


class _OverIndexSet(Expr):
    """A product or sum whose index runs over a set, not between bounds.

    domain: a set name (Symbol G / Indexed G_k), a FiniteSet, or AllIndices() for an index
    written without bounds (prod_i: every value of i). Bounded ones are SymPy's Product / Sum.
    """

    def __new__(cls, body: Basic, index: Basic, domain: Basic) -> _OverIndexSet:
        return Basic.__new__(cls, _sympify(body), _sympify(index), _sympify(domain))

    @property
    def body(self) -> Basic:
        return self.args[0]

    @property
    def index(self) -> Basic:
        return self.args[1]

    @property
    def domain(self) -> Basic:
        return self.args[2]


class ProductOver(_OverIndexSet):
    """prod_{i} body, or prod_{i in G} body."""


class SumOver(_OverIndexSet):
    """sum_{i} body, or sum_{i in G} body."""


class AllIndices(Basic):
    """The domain of an index written without bounds: every value it can take."""

    def __new__(cls) -> AllIndices:
        return Basic.__new__(cls)


class IndexRange(Basic):
    """The index set {lower, ..., upper}, both ends included."""

    def __new__(cls, lower: Basic, upper: Basic) -> IndexRange:
        return Basic.__new__(cls, _sympify(lower), _sympify(upper))


class AllBut(Expr):
    """The subscript of z_{-i} (also written z_{\\setminus i}): every index except `index`."""

    def __new__(cls, index: Basic) -> AllBut:
        return Basic.__new__(cls, _sympify(index))

    @property
    def index(self) -> Basic:
        return self.args[0]


class Independence(Boolean):
    """left ⊥ right, or left ⊥ right | given (given: an empty tuple or one expression)."""

    def __new__(cls, left: Basic, right: Basic, given: tuple | Tuple = ()) -> Independence:
        return Basic.__new__(cls, _sympify(left), _sympify(right), Tuple(*given))

    @property
    def left(self) -> Basic:
        return self.args[0]

    @property
    def right(self) -> Basic:
        return self.args[1]

    @property
    def given(self) -> tuple[Basic, ...]:
        return self.args[2].args


class Membership(Boolean):
    """element ∈ group: a variable (or an index) belongs to a set or group of latents."""

    def __new__(cls, element: Basic, group: Basic) -> Membership:
        return Basic.__new__(cls, _sympify(element), _sympify(group))

    @property
    def element(self) -> Basic:
        return self.args[0]

    @property
    def group(self) -> Basic:
        return self.args[1]


class Conjunction(Boolean):
    """Statements that all hold, in the order written (SymPy's And would reorder and simplify)."""

    def __new__(cls, *parts: Basic) -> Conjunction:
        return Basic.__new__(cls, *map(_sympify, parts))


class ForAll(Boolean):
    """body, for all bindings. Each binding is an index Symbol (i), Ne(i, i') or Membership(i, G);
    the body is a statement or, as in the paper's "p(z_i | z_i'), for all i != i'", an expression."""

    def __new__(cls, bindings: tuple | Tuple, body: Basic) -> ForAll:
        return Basic.__new__(cls, Tuple(*bindings), _sympify(body))

    @property
    def bindings(self) -> tuple[Basic, ...]:
        return self.args[0].args

    @property
    def body(self) -> Basic:
        return self.args[1]
