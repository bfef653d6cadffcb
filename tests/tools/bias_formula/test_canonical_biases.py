"""The paper's three bias kinds, each written in LaTeX and in plain text, give one SymPy object,
one kind and exactly this prompt."""

from __future__ import annotations

import pytest

from tools.bias_formula import DEFAULT_FORMULAS, parse_bias, parse_formula

DISENTANGLEMENT_PROMPT = (
    "Inductive bias of the model: p(z) = prod_{i=1}^{d} p(z_i)\n"
    "In words: the distribution of the latent variables z equals the product, over i from 1 to d, of the "
    "distribution of the latent variable z_i.\n"
    "This means that each latent variable varies independently of the others, so each one should control its "
    "own property of the image. The images show one latent variable changed step by step, from its lowest to its "
    "highest value, while all other variations are held fixed: they should differ in exactly one property, the "
    "one this latent variable controls."
)
COMBINATION_PROMPT = (
    "Inductive bias of the model: p(z) = prod_{k=1}^{K} p(z_{G_k})\n"
    "In words: the distribution of the latent variables z equals the product, over k from 1 to K, of the "
    "distribution of the latent variables z_{G_k} of the group G_k.\n"
    "This means that the latent variables form groups that vary independently of each other, so the latent "
    "variables of one group together control one property of the image. The images show the latent variables of "
    "one group changed together, step by step, while the other groups are held fixed: they should differ in one "
    "property, the one this group controls."
)
CONDITIONAL_PROMPT = (
    "Inductive bias of the model: p(w | y = 1) != p(w | y = 0)\n"
    "In words: the distribution of the latent variables w given the property y equal to 1 differs from the "
    "distribution of the latent variables w given the property y equal to 0.\n"
    "This means that the distribution of the latent variables w depends on the property y. The images show the "
    "latent variables w moved step by step in the direction that changes the property y, while everything else is "
    "held fixed: they should differ in how the property y shows in the image."
)

CANONICAL = [
    # kind, LaTeX, plain text, prompt, varied_groups, conditions
    ("disentanglement", r"p(\mathbf{z}) = \prod_{i=1}^{d} p(z_i)", "p(z) = prod_{i=1}^{d} p(z_i)",
     DISENTANGLEMENT_PROMPT, [["z_i"]], []),
    ("combination", r"p(\mathbf{z}) = \prod_{k=1}^{K} p(\mathbf{z}_{G_k})", "p(z) = prod_{k=1}^{K} p(z_{G_k})",
     COMBINATION_PROMPT, [["z_{G_k}"]], []),
    ("conditional", r"p(\mathbf{w} \mid y=1) \neq p(\mathbf{w} \mid y=0)", "p(w | y=1) != p(w | y=0)",
     CONDITIONAL_PROMPT, [["w"]], ["y"]),
]


@pytest.mark.parametrize("kind, latex, plain, prompt, varied, conditions", CANONICAL, ids=[c[0] for c in CANONICAL])
@pytest.mark.parametrize("form", ["latex", "plain"])
def test_canonical_bias_gives_its_kind_and_exact_prompt(form, kind, latex, plain, prompt, varied, conditions) -> None:
    spec = parse_bias(latex if form == "latex" else plain)
    assert spec.kind == kind
    assert spec.prompt == prompt
    assert spec.varied_groups == varied
    assert spec.conditions == conditions
    assert spec.held == "others"


@pytest.mark.parametrize("kind, latex, plain, prompt, varied, conditions", CANONICAL, ids=[c[0] for c in CANONICAL])
def test_latex_and_plain_text_are_the_same_sympy_object(kind, latex, plain, prompt, varied, conditions) -> None:
    assert parse_formula(latex) == parse_formula(plain)
    assert parse_bias(latex).sympy == parse_bias(plain).sympy


def test_sympy_form_of_disentanglement_uses_sympy_product() -> None:
    import sympy

    expr = parse_formula(DEFAULT_FORMULAS["disentanglement"])
    assert isinstance(expr, sympy.Eq)
    product = expr.rhs
    assert isinstance(product, sympy.Product)
    assert product.limits == ((sympy.Symbol("i"), 1, sympy.Symbol("d")),)
    assert parse_bias(DEFAULT_FORMULAS["disentanglement"]).sympy == (
        "Eq(Density(p, (z,), ()), Product(Density(p, (z[i],), ()), (i, 1, d)))")


@pytest.mark.parametrize("kind", sorted(DEFAULT_FORMULAS))
def test_each_default_formula_is_recognised_as_its_kind(kind: str) -> None:
    assert parse_bias(DEFAULT_FORMULAS[kind]).kind == kind


@pytest.mark.parametrize("formula", [
    "p(z) = prod_i p(z_i)",
    r"p(\mathbf{z}) = \prod_{i} p(z_i)",
    r"\prod_{i=1}^{d} p(z_i) = p(\mathbf{z})",
    r"p(z_i \mid z_{i'}) = p(z_i), \quad \forall i \neq i'",
    "p(z_i | z_i') = p(z_i), for all i != i'",
    r"p(z_i \mid z_{\setminus i}) = p(z_i)",
    r"z_i \perp\!\!\!\perp z_j, \forall i \neq j",
    r"\forall i \neq j: z_i \perp z_j",
    "z_i ⊥ z_j, ∀ i ≠ j",
])
def test_other_ways_of_writing_disentanglement_are_recognised_by_structure(formula: str) -> None:
    assert parse_bias(formula).kind == "disentanglement"


@pytest.mark.parametrize("formula", [
    "p(z) = prod_k p(z_{G_k})",
    r"p(\mathbf{z}) = \prod_{G \in \mathcal{G}} p(\mathbf{z}_G)",
    r"\mathbf{z}_{G_k} \perp \mathbf{z}_{G_l}, \forall k \neq l",
])
def test_other_ways_of_writing_combination_are_recognised_by_structure(formula: str) -> None:
    assert parse_bias(formula).kind == "combination"


@pytest.mark.parametrize("formula", [
    r"p(\mathbf{w} \mid y) \neq p(\mathbf{w})",
    r"p(\mathbf{z} \mid t)",
    r"p(w \mid \text{smiling}=1) \neq p(w \mid \text{smiling}=0)",
    r"y \neq y' \Rightarrow p(w \mid y) \neq p(w \mid y')",
])
def test_other_ways_of_writing_conditional_are_recognised_by_structure(formula: str) -> None:
    assert parse_bias(formula).kind == "conditional"


@pytest.mark.parametrize("formula", [
    # words that name a kind do not make it that kind: only the structure counts
    r"p(\text{disentanglement} \mid z) = p(\text{disentanglement})",
    "p(z_0, z_1) = p(z_0) p(z_1)",
    r"p(z_i \mid z_{i'}), \forall i \neq i'",
    r"p(z) = \prod_{i \in G} p(z_i)",
    r"z_i \perp z_j \mid y, \forall i \neq j",
    r"p(\mathbf{z}) = \prod_{i=1}^{d} p(z_i) \land p(w \mid y=1) \neq p(w \mid y=0)",
])
def test_formulas_outside_the_three_kinds_are_custom(formula: str) -> None:
    assert parse_bias(formula).kind == "custom"
