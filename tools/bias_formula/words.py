"""A parsed bias formula in words, phrase by phrase from the symbol-to-word grammar.

`p(z) = prod_{i=1}^{d} p(z_i)` reads "the distribution of the latent variables z equals the
product, over i from 1 to d, of the distribution of the latent variable z_i". The paper's element
"p(z_i | z_i'), for all i != i'" reads "the distribution of the latent variable z_i given the other
variations": a quantifier i != i' whose i' only names the conditioning latents is said that way.
"""

from __future__ import annotations

import sympy
from sympy import Basic, Eq, FiniteSet, Implies, Indexed, Ne, Product, Sum, Symbol

from tools.bias_formula.grammar import Grammar
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
from tools.bias_formula.printer import expr_to_text
from tools.bias_formula.structure import base_name, is_index_name


def join_words(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class _Reader:
    def __init__(self, grammar: Grammar, latents: set[str]) -> None:
        self.g = grammar
        self.latents = latents
        self.others: set[Basic] = set()  # indices that stand for "the other variations"

    def say(self, node: Basic) -> str:
        g = self.g
        if isinstance(node, ForAll):
            return self.for_all(node)
        if isinstance(node, Implies):
            return g.phrase("implies", premise=self.say(node.args[0]), conclusion=self.say(node.args[1]))
        if isinstance(node, Conjunction):
            text = self.say(node.args[0])
            for part in node.args[1:]:
                text = g.phrase("conjunction", left=text, right=self.say(part))
            return text
        if isinstance(node, Eq):
            return g.phrase("equals", left=self.say(node.lhs), right=self.say(node.rhs))
        if isinstance(node, Ne):
            return g.phrase("differs", left=self.say(node.lhs), right=self.say(node.rhs))
        if isinstance(node, Independence):
            left, right = self.say(node.left), self.say(node.right)
            if node.given:
                return g.phrase("conditionally_independent", left=left, right=right, given=self.say(node.given[0]))
            return g.phrase("independent", left=left, right=right)
        if isinstance(node, Membership):
            return g.phrase("member", element=self.say(node.element), group=self.set_words(node.group))
        if isinstance(node, sympy.Add):
            text = self.say(node.args[0])
            for term in node.args[1:]:
                if isinstance(term, sympy.Mul) and len(term.args) == 2 and term.args[0] == -1:
                    text = g.phrase("minus", left=text, right=self.say(term.args[1]))
                elif isinstance(term, sympy.Number) and term < 0:
                    text = g.phrase("minus", left=text, right=self.say(-term))
                else:
                    text = g.phrase("plus", left=text, right=self.say(term))
            return text
        if isinstance(node, sympy.Mul):
            if len(node.args) == 2 and node.args[0] == -1 and not isinstance(node.args[1], sympy.Number):
                return g.phrase("negative", argument=self.say(node.args[1]))
            text = self.say(node.args[0])
            for factor in node.args[1:]:
                text = g.phrase("times", left=text, right=self.say(factor))
            return text
        if isinstance(node, (Product, Sum, ProductOver, SumOver)):
            return self.big_operator(node)
        if isinstance(node, Density):
            return self.density(node)
        if isinstance(node, Expectation):
            body = self.say(node.body)
            if node.dist is None:
                return g.phrase("expectation", body=body)
            return g.phrase("expectation_under", body=body, dist=self.say(node.dist))
        if isinstance(node, sympy.log):
            return g.phrase("logarithm", argument=self.say(node.args[0]))
        if isinstance(node, (Symbol, Indexed)):
            return self.variable(node)
        return expr_to_text(node)

    def for_all(self, node: ForAll) -> str:
        kept = []
        added: set[Basic] = set()
        for binding in node.bindings:
            other = self.conditioning_index(binding, node.body)
            if other is None:
                kept.append(binding)
            else:
                added.add(other)
        self.others |= added
        try:
            body = self.say(node.body)
        finally:
            self.others -= added
        if not kept:
            return body
        return self.g.phrase("for_all", body=body, bindings=join_words([self.binding(b) for b in kept]))

    def conditioning_index(self, binding: Basic, body: Basic) -> Basic | None:
        """For a binding i != i', the index (i') that only names latents a density is conditioned on."""
        if not isinstance(binding, Ne):
            return None
        for sub in sympy.preorder_traversal(body):
            if not isinstance(sub, Density):
                continue
            described = {i for v in sub.variables if isinstance(v, Indexed) for i in v.indices}
            given = {i for v in sub.given if isinstance(v, Indexed) for i in v.indices}
            for this, other in ((binding.lhs, binding.rhs), (binding.rhs, binding.lhs)):
                if this in described and other in given and other not in described:
                    return other
        return None

    def binding(self, node: Basic) -> str:
        if isinstance(node, Ne):
            return self.g.phrase("binding_differs", index=expr_to_text(node.lhs), other=expr_to_text(node.rhs))
        if isinstance(node, Membership):
            return self.g.phrase("binding_member", index=expr_to_text(node.element), group=self.set_words(node.group))
        return expr_to_text(node)

    def big_operator(self, node: Basic) -> str:
        word = "product" if isinstance(node, (Product, ProductOver)) else "sum"
        body = self.say(node.args[0])
        if isinstance(node, (Product, Sum)):
            index, lower, upper = node.limits[0]
            return self.g.phrase(f"{word}_bounded", index=expr_to_text(index), lower=expr_to_text(lower),
                                 upper=expr_to_text(upper), body=body)
        if isinstance(node.domain, AllIndices):
            return self.g.phrase(f"{word}_every", index=expr_to_text(node.index), body=body)
        return self.g.phrase(f"{word}_in", index=expr_to_text(node.index), domain=self.set_words(node.domain), body=body)

    def density(self, node: Density) -> str:
        variables = join_words([self.argument(v) for v in node.variables])
        given = join_words([self.argument(v) for v in node.given])
        named = node.name != Symbol("p")
        construct = ("named_" if named else "") + ("conditional_density" if node.given else "density")
        parts = {"variables": variables, "given": given} if node.given else {"variables": variables}
        if named:
            parts["name"] = expr_to_text(node.name)
        return self.g.phrase(construct, **parts)

    def argument(self, node: Basic) -> str:
        if isinstance(node, (Eq, Ne)):
            construct = "assignment" if isinstance(node, Eq) else "assignment_differs"
            return self.g.phrase(construct, variable=self.say(node.lhs), value=self.say(node.rhs))
        return self.say(node)

    def variable(self, node: Basic) -> str:
        """Words for z, z_i, z_{G_k}, y, theta... from the grammar's symbols, else by position."""
        name, text = base_name(node), expr_to_text(node)
        entry = self.g.symbols.get(name, {})
        if isinstance(node, Indexed) and len(node.indices) == 1:
            index = node.indices[0]
            if isinstance(index, AllBut) or index in self.others:
                return self.g.phrase("other_variations")
            is_group = not (is_index_name(index) or isinstance(index, sympy.Integer))
            if is_group and (name in self.latents or entry.get("role") == "latent"):
                return self.g.phrase("group_component", name=text, group=expr_to_text(index))
        if isinstance(node, Indexed):
            if "component" in entry:
                return entry["component"].format(name=text)
            if "words" in entry:
                return entry["words"].format(name=text)
            if name in self.latents:
                return self.g.phrase("latent_component", name=text)
        if "words" in entry:
            return entry["words"].format(name=text)
        if name in self.latents:
            return self.g.phrase("latent", name=text)
        return self.g.phrase("other_name", name=text)

    def set_words(self, node: Basic) -> str:
        if isinstance(node, IndexRange):
            return self.g.phrase("index_range", lower=expr_to_text(node.args[0]), upper=expr_to_text(node.args[1]))
        if isinstance(node, FiniteSet):
            return self.g.phrase("index_set", items=join_words([expr_to_text(i) for i in node.args]))
        return self.say(node)


def read_formula(expr: Basic, grammar: Grammar, latents: set[str]) -> str:
    """The formula in words. `latents`: the base names the formula describes (structure.analyse)."""
    return _Reader(grammar, latents).say(expr)


def condition_words(name: str, grammar: Grammar) -> str:
    """'the property y', 'the text prompt t', or the 'condition' construct for an unlisted name."""
    entry = grammar.symbols.get(name, {})
    if "words" in entry:
        return entry["words"].format(name=name)
    return grammar.phrase("condition", name=name)


def target_words(target: dict, grammar: Grammar) -> str:
    """What one traversal target changes, e.g. 'one latent variable z_i at a time'; a varied
    symbol that is not a latent (the image x of p(x | z, t)) keeps its own words."""
    role = grammar.role(target["latent"])
    if target["sweep"] == "all" and role not in (None, "latent"):
        return grammar.symbols[target["latent"]]["words"].format(name=target["latent"])
    return grammar.phrase(f"traverse_{target['sweep']}", name=target["latent"], group=target.get("group", ""))
