"""Every construct of the grammar parses to the SymPy object it means."""

from __future__ import annotations

import pytest
import sympy
from sympy import Eq, FiniteSet, Implies, Indexed, IndexedBase, Integer, Ne, Product, Rational, Sum, Symbol

from tools.bias_formula import parse_bias, parse_formula, to_text
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

i, j, k, d, K = (Symbol(n) for n in ("i", "j", "k", "d", "K"))
i1 = Symbol("i'")
z, w, y, t, G = (Symbol(n) for n in ("z", "w", "y", "t", "G"))
zb, Gb = IndexedBase("z"), IndexedBase("G")
p = Symbol("p")


def dens(*variables, given=()):
    return Density(p, variables, given)


CASES = [
    # densities and conditionals: joint arguments, subscripts, primes, bold names
    (r"p(\mathbf{z})", dens(z)),
    (r"p(\boldsymbol{z}_1, \bm{z}_2)", dens(zb[1], zb[2])),
    ("p(z_i | z_{i'})", dens(zb[i], given=(zb[i1],))),
    ("p(z_i | z_i')", dens(zb[i], given=(zb[i1],))),
    (r"p(z_i \mid z_{i^\prime})", dens(zb[i], given=(zb[i1],))),
    ("p(z' | z)", dens(Symbol("z'"), given=(z,))),
    ("p(z_{i,j})", dens(Indexed(zb, i, j))),
    (r"q_{\phi}(z \mid x)", Density(Indexed(IndexedBase("q"), Symbol("phi")), (z,), (Symbol("x"),))),
    (r"p(\mathbf{z}_{G_k})", dens(Indexed(zb, Indexed(Gb, k)))),
    (r"p(z_i \mid z_{\setminus i})", dens(zb[i], given=(Indexed(zb, AllBut(i)),))),
    ("p(z_i | z_{-i})", dens(zb[i], given=(Indexed(zb, AllBut(i)),))),
    # condition variables, assignments, a prompt
    (r"p(w \mid y=1)", dens(w, given=(Eq(y, 1, evaluate=False),))),
    (r"p(w \mid y \neq 0.5)", dens(w, given=(Ne(y, Rational(1, 2), evaluate=False),))),
    ("p(z | t)", dens(z, given=(t,))),
    (r"p(w \mid \text{smiling} = 1)", dens(w, given=(Eq(Symbol("smiling"), 1, evaluate=False),))),
    # products and sums, with and without bounds, over sets
    (r"\prod_{i=1}^{d} p(z_i)", Product(dens(zb[i]), (i, 1, d))),
    (r"\prod_i p(z_i)", ProductOver(dens(zb[i]), i, AllIndices())),
    ("prod_{i} p(z_i)", ProductOver(dens(zb[i]), i, AllIndices())),
    (r"\sum_{k=1}^{K} z_k", Sum(zb[k], (k, 1, K))),
    (r"\sum_{k \in G} z_k", SumOver(zb[k], k, G)),
    (r"\prod_{i \in \{1, \dots, d\}} p(z_i)", Product(dens(zb[i]), (i, 1, d))),
    (r"\prod_{i \in \{1, 2\}} p(z_i)", ProductOver(dens(zb[i]), i, FiniteSet(1, 2))),
    # equality, inequality, independence, membership, implication, conjunction
    ("p(z) = p(w)", Eq(dens(z), dens(w), evaluate=False)),
    ("p(w | y=1) != p(w | y=0)",
     Ne(dens(w, given=(Eq(y, 1, evaluate=False),)), dens(w, given=(Eq(y, 0, evaluate=False),)), evaluate=False)),
    (r"z_i \perp z_j", Independence(zb[i], zb[j])),
    (r"z_i \perp\!\!\!\perp z_j", Independence(zb[i], zb[j])),
    ("z_i _|_ z_j | y", Independence(zb[i], zb[j], (y,))),
    (r"z \in G", Membership(z, G)),
    (r"z_i \in G_k", Membership(zb[i], Indexed(Gb, k))),
    (r"z \in G \Rightarrow z_1 \perp z_2", Implies(Membership(z, G), Independence(zb[1], zb[2]), evaluate=False)),
    ("z in G => z_1 perp z_2", Implies(Membership(z, G), Independence(zb[1], zb[2]), evaluate=False)),
    (r"z \in G \land w \in G", Conjunction(Membership(z, G), Membership(w, G))),
    ("z in G, w in G", Conjunction(Membership(z, G), Membership(w, G))),
    # quantifiers, before or after
    (r"z_i \perp z_{i'}, \forall i \neq i'", ForAll((Ne(i, i1, evaluate=False),), Independence(zb[i], zb[i1]))),
    (r"\forall i \neq i': z_i \perp z_{i'}", ForAll((Ne(i, i1, evaluate=False),), Independence(zb[i], zb[i1]))),
    ("z_i perp z_j for all i, j", ForAll((i, j), Independence(zb[i], zb[j]))),
    (r"\forall k \in \{1, \dots, K\}: z_k \in G_k",
     ForAll((Membership(k, IndexRange(1, K)),), Membership(zb[k], Indexed(Gb, k)))),
    ("p(z_i | z_i'), for all i != i'", ForAll((Ne(i, i1, evaluate=False),), dens(zb[i], given=(zb[i1],)))),
    # expectations, logarithms, arithmetic
    (r"\mathbb{E}[z]", Expectation(z)),
    (r"\mathbb{E}_{q(z|x)}[\log p(x|z)]",
     Expectation(sympy.log(Density(p, (Symbol("x"),), (z,)), evaluate=False),
                 (Density(Symbol("q"), (z,), (Symbol("x"),)),))),
    ("E_z[z] = 0", Eq(Expectation(z, (z,)), 0, evaluate=False)),
    ("2 z - w", sympy.Add(sympy.Mul(2, z, evaluate=False), sympy.Mul(Integer(-1), w, evaluate=False),
                          evaluate=False)),
    # Greek letters in LaTeX, plain text and Unicode are one name
    (r"p(\theta)", dens(Symbol("theta"))),
    ("p(θ)", dens(Symbol("theta"))),
    ("p(theta)", dens(Symbol("theta"))),
]


@pytest.mark.parametrize("formula, expected", CASES, ids=[c[0] for c in CASES])
def test_construct_parses_to_its_sympy_object(formula: str, expected: sympy.Basic) -> None:
    expr = parse_formula(formula)
    assert expr == expected
    assert parse_formula(to_text(expr)) == expr
    assert parse_formula(to_text(expr, latex=True)) == expr


def test_nothing_is_simplified_away() -> None:
    # SymPy's And would turn this contradiction into False, and Eq(a, a) into True
    assert isinstance(parse_formula("z = 1 and z != 1"), Conjunction)
    assert isinstance(parse_formula("p(z) = p(z)"), Eq)
    assert isinstance(parse_formula("z in G => z in G"), Implies)


def test_paper_element_other_variations_reads_as_in_the_paper() -> None:
    spec = parse_bias("p(z_i | z_i'), for all i != i'")
    assert "In words: the distribution of the latent variable z_i given the other variations.\n" in spec.prompt


def test_membership_reads_associated_with_as_in_the_paper() -> None:
    spec = parse_bias(r"z_i \in G_k \Rightarrow p(z_i \mid y=1) \neq p(z_i \mid y=0)")
    assert "if the latent variable z_i is associated with the group G_k, then" in spec.prompt


def test_quantifier_that_is_not_other_variations_is_said_in_words() -> None:
    spec = parse_bias(r"z_i \perp z_j, \forall i \neq j")
    assert ("In words: the latent variable z_i and the latent variable z_j are independent, "
            "for every i different from j.") in spec.prompt
