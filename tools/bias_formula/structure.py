"""What a parsed bias formula says, read from its structure: which variables are latents, which
are conditions, which latents are traversed, and the bias kind.

Latents are the variables a formula describes: those left of '|' in a density, on either side
of ⊥, or before ∈. Conditions are variables that appear only right of '|' (y in p(w | y=1)).
Subscripts name what is traversed: a lowercase index (z_i, z_{i'}) means one latent at a time, a
number (z_3) that latent (numbered as the outputs number them, from 0), G_k or a bound capitalised
index one group at a time, any other name (z_G, z_{shape}) the group of that name, no subscript
the whole vector, and z_{-i} "all the others".

Kinds (no keywords are looked at):
- disentanglement: p(z) = prod_i p(z_i); p(z_i | z_{i'}) = p(z_i) for i != i'; z_i ⊥ z_j for i != j.
- combination: the same statements about groups, e.g. p(z) = prod_k p(z_{G_k}).
- conditional: densities of the same latents compared under different conditions,
  p(w | y=1) != p(w | y=0) or p(w | y) != p(w), or a density of latents given a condition, p(z | t).
- custom: anything else; its targets are every latent the formula describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sympy import (
    Basic,
    Eq,
    Implies,
    Indexed,
    IndexedBase,
    Integer,
    Ne,
    Number,
    Product,
    Sum,
    Symbol,
    preorder_traversal,
)

from tools.bias_formula.objects import (
    AllBut,
    AllIndices,
    Conjunction,
    Density,
    ForAll,
    Independence,
    Membership,
    ProductOver,
    SumOver,
)
from tools.bias_formula.printer import expr_to_text


@dataclass
class Structure:
    """kind: the bias kind. latents / conditions: base names in order of appearance. targets: what
    to traverse, dicts {"latent": text, "sweep": each | fixed | group_each | group | all, and
    "indices" (fixed, or bounded each) or "group" (group)}. condition_values: values each
    condition is set to in the formula (y=1 and y=0 give [1, 0])."""

    kind: str
    latents: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    targets: list[dict] = field(default_factory=list)
    condition_values: dict[str, list[float]] = field(default_factory=dict)


def base_name(node: Basic) -> str | None:
    """'z' for z, z_i, z_{G_k}; None for anything that is not a variable."""
    if isinstance(node, Indexed):
        return node.base.label.name
    if isinstance(node, IndexedBase):
        return node.label.name
    if isinstance(node, Symbol):
        return node.name
    return None


def is_index_name(symbol: Basic) -> bool:
    """i, j, k, i', i'': one lowercase letter, perhaps primed: an index over single latents."""
    if not isinstance(symbol, Symbol):
        return False
    stem = symbol.name.rstrip("'")
    return len(stem) == 1 and stem.isascii() and stem.islower()


def _walk(node: Basic):
    """Every sub-node, skipping quantifier bindings and index domains (they hold indices, not variables)."""
    yield node
    if isinstance(node, ForAll):
        yield from _walk(node.body)
        return
    if isinstance(node, (ProductOver, SumOver)):
        yield from _walk(node.body)
        return
    for arg in node.args:
        yield from _walk(arg)


def _bound_indices(node: Basic) -> set[Basic]:
    """Indices bound by products, sums and quantifiers anywhere in the formula."""
    bound: set[Basic] = set()
    for sub in preorder_traversal(node):
        if isinstance(sub, (Product, Sum)):
            bound.update(limit[0] for limit in sub.limits)
        elif isinstance(sub, (ProductOver, SumOver)):
            bound.add(sub.index)
        elif isinstance(sub, ForAll):
            for binding in sub.bindings:
                bound.update([binding] if isinstance(binding, Symbol) else binding.free_symbols)
    return bound


def _variable(node: Basic) -> Basic | None:
    """The variable of a density argument: z_i, or y in y=1."""
    if isinstance(node, (Eq, Ne)):
        node = node.lhs
    return node if isinstance(node, (Symbol, Indexed)) else None


def _described(node: Basic) -> list[Basic]:
    """Variables the formula describes (left of '|', sides of ⊥, elements of ∈), in order."""
    found: list[Basic] = []
    for sub in _walk(node):
        if isinstance(sub, Density):
            found.extend(v for v in map(_variable, sub.variables) if v is not None)
        elif isinstance(sub, Independence):
            found.extend(v for v in (sub.left, sub.right) if isinstance(v, (Symbol, Indexed)))
        elif isinstance(sub, Membership) and isinstance(sub.element, (Symbol, Indexed)):
            found.append(sub.element)
    return found


def _givens(node: Basic) -> list[Basic]:
    """Right-of-'|' arguments of every density and independence, in order."""
    found: list[Basic] = []
    for sub in _walk(node):
        if isinstance(sub, (Density, Independence)):
            found.extend(sub.given)
    return found


def sweep_of(ref: Basic, bound: set[Basic]) -> dict:
    """How a latent reference is traversed (see the module docstring)."""
    text = expr_to_text(ref)
    if not isinstance(ref, Indexed):
        return {"latent": text, "sweep": "all"}
    indices = ref.indices
    if all(isinstance(i, Integer) for i in indices):
        return {"latent": text, "sweep": "fixed", "indices": [int(i) for i in indices]}
    index = indices[0]
    if isinstance(index, AllBut):
        return {"latent": text, "sweep": "others"}
    if is_index_name(index):
        return {"latent": text, "sweep": "each"}
    if isinstance(index, Indexed) and not all(isinstance(i, Integer) for i in index.indices):
        return {"latent": text, "sweep": "group_each"}
    if isinstance(index, Symbol) and index in bound:
        return {"latent": text, "sweep": "group_each"}
    return {"latent": text, "sweep": "group", "group": expr_to_text(index)}


def _single_variable(density: Basic) -> Basic | None:
    if isinstance(density, Density) and len(density.variables) == 1 and not density.given:
        return _variable(density.variables[0])
    return None


def _unit(ref: Basic, index: Basic) -> str | None:
    """'disentanglement' when ref is z_index for an index over single latents, 'combination' when it
    is a group of latents (z_{G_k}, or z_G with G the index), None otherwise."""
    if not isinstance(ref, Indexed) or len(ref.indices) != 1:
        return None
    sub = ref.indices[0]
    if sub == index:
        return "disentanglement" if is_index_name(index) else "combination"
    if isinstance(sub, Indexed) and index in sub.indices:
        return "combination"
    return None


def _factorisation(node: Basic) -> tuple[str, Basic, Basic] | None:
    """p(z) = prod_i p(z_i) (either side first): (kind, the factor's variable, the product)."""
    if not isinstance(node, Eq):
        return None
    for whole, product in ((node.lhs, node.rhs), (node.rhs, node.lhs)):
        vector = _single_variable(whole)
        if not isinstance(vector, Symbol) or not isinstance(product, (Product, ProductOver)):
            continue
        over_set = isinstance(product, ProductOver) and not isinstance(product.domain, AllIndices)
        if over_set and is_index_name(product.index):  # latents within one set: not the whole vector
            continue
        ref = _single_variable(product.args[0])
        index = product.limits[0][0] if isinstance(product, Product) else product.index
        if ref is None or base_name(ref) != vector.name:
            continue
        kind = _unit(ref, index)
        if kind:
            return kind, ref, product
    return None


def _group_family(index: Basic, bound: set[Basic]) -> bool:
    """G_k (k not a number), or a capitalised index bound by a quantifier or product: any group."""
    if isinstance(index, Indexed):
        return not all(isinstance(i, Integer) for i in index.indices)
    return isinstance(index, Symbol) and index in bound and not is_index_name(index)


def _distinct_units(a: Basic, b: Basic, bound: set[Basic]) -> str | None:
    """z_i and z_{i'} (or z_{-i}) of the same vector: the kind of unit they are, else None."""
    if not (isinstance(a, Indexed) and isinstance(b, Indexed)) or base_name(a) != base_name(b):
        return None
    if len(a.indices) != 1 or len(b.indices) != 1:
        return None
    i, j = a.indices[0], b.indices[0]
    if i == j or isinstance(i, (Integer, AllBut)) or isinstance(j, Integer):
        return None
    if isinstance(j, AllBut) and j.index != i:
        return None
    unit_j = j.index if isinstance(j, AllBut) else j
    if is_index_name(i) and is_index_name(unit_j):
        return "disentanglement"
    if _group_family(i, bound) and _group_family(unit_j, bound):
        return "combination"
    return None


def _invariance(node: Basic, bound: set[Basic]) -> tuple[str, Basic] | None:
    """p(z_i | z_{i'}) = p(z_i) or z_i ⊥ z_{i'}: (kind, z_i)."""
    if isinstance(node, Independence) and not node.given:
        kind = _distinct_units(node.left, node.right, bound)
        return (kind, node.left) if kind else None
    if not isinstance(node, Eq):
        return None
    for cond, plain in ((node.lhs, node.rhs), (node.rhs, node.lhs)):
        ref = _single_variable(plain)
        if not isinstance(cond, Density) or ref is None or len(cond.variables) != 1 or len(cond.given) != 1:
            continue
        if cond.name != plain.name or _variable(cond.variables[0]) != ref:
            continue
        kind = _distinct_units(ref, cond.given[0], bound)
        if kind:
            return kind, ref
    return None


def _conditional(node: Basic, conditions: set[str]) -> list[Basic] | None:
    """p(w | y=1) != p(w | y=0), p(w | y) != p(w), or p(z | t): the latents compared, else None."""
    if isinstance(node, Implies) and not any(isinstance(s, Density) for s in _walk(node.args[0])):
        return _conditional(node.args[1], conditions)

    def conditioned(density: Basic) -> bool:
        return any(base_name(_variable(g)) in conditions for g in density.given if _variable(g) is not None)

    if isinstance(node, Density):
        return list(node.variables) if conditioned(node) else None
    if isinstance(node, Ne) and isinstance(node.lhs, Density) and isinstance(node.rhs, Density):
        a, b = node.lhs, node.rhs
        if a.name == b.name and a.variables == b.variables and a.given != b.given and (conditioned(a) or conditioned(b)):
            return list(a.variables)
    return None


def _parts(node: Basic) -> list[Basic]:
    """The statements of a formula, quantifiers stripped and conjunctions split."""
    if isinstance(node, ForAll):
        return _parts(node.body)
    if isinstance(node, Conjunction):
        return [part for arg in node.args for part in _parts(arg)]
    return [node]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


_NOT_LATENT = {"data", "attribute", "prompt", "group", "count"}


def analyse(expr: Basic, roles: dict[str, str] | None = None) -> Structure:
    """The Structure of a parsed formula (see the module docstring).

    roles: symbol name -> role from the grammar (latent, data, attribute, prompt, group, count); a
    listed role overrides what the position says (x in p(z | x) is data, not a condition).
    """
    roles = roles or {}
    described = _described(expr)
    latents = _unique([b for b in map(base_name, described) if roles.get(b) not in _NOT_LATENT])
    givens = _givens(expr)
    given_names = [base_name(v) for v in map(_variable, givens) if v is not None]
    latents += [b for b in _unique(given_names) if roles.get(b) == "latent" and b not in latents]
    conditions = _unique([b for b in given_names if b not in latents and roles.get(b) in (None, "attribute", "prompt")])
    values: dict[str, list[float]] = {}
    for given in givens:
        if isinstance(given, (Eq, Ne)) and base_name(given.lhs) in conditions and isinstance(given.rhs, Number):
            number = int(given.rhs) if isinstance(given.rhs, Integer) else float(given.rhs)
            values.setdefault(base_name(given.lhs), [])
            if number not in values[base_name(given.lhs)]:
                values[base_name(given.lhs)].append(number)
    bound = _bound_indices(expr)
    structure = Structure(kind="custom", latents=latents, conditions=conditions, condition_values=values)

    parts = _parts(expr)
    kinds: list[str] = []
    refs: list[Basic] = []
    products: list[Basic] = []
    for part in parts:
        found = _factorisation(part)
        if found:
            kinds.append(found[0])
            refs.append(found[1])
            products.append(found[2])
            continue
        found_inv = _invariance(part, bound)
        if found_inv:
            kinds.append(found_inv[0])
            refs.append(found_inv[1])
            continue
        compared = _conditional(part, set(conditions))
        if compared is not None:
            kinds.append("conditional")
            refs.extend(v for v in map(_variable, compared) if v is not None)
            continue
        kinds.append("custom")
    kind = kinds[0] if len(set(kinds)) == 1 else "custom"
    structure.kind = kind
    if kind in ("disentanglement", "combination"):
        bound |= {p.index for p in products if isinstance(p, ProductOver)}
        targets = []
        for ref in refs:
            target = sweep_of(ref, bound)
            target["sweep"] = "each" if kind == "disentanglement" else "group_each"
            target.update(_bounds(products))
            targets.append(target)
        structure.targets = list({t["latent"]: t for t in targets}.values())
        return structure
    if kind == "custom":
        refs = [v for v in described if base_name(v) in latents]
        components = {base_name(v) for v in refs if isinstance(v, Indexed)}
        refs = [v for v in refs if isinstance(v, Indexed) or base_name(v) not in components]
    unique: dict[tuple, dict] = {}
    for ref in refs:
        target = sweep_of(ref, bound)
        plans_alike = (base_name(ref), target["sweep"], tuple(target.get("indices", ())), target.get("group"))
        if target["sweep"] != "others":
            unique.setdefault(plans_alike if target["sweep"] in ("each", "group_each") else target["latent"], target)
    structure.targets = list(unique.values())
    return structure


def _bounds(products: list[Basic]) -> dict:
    """Explicit latent numbers from numeric product bounds, prod_{i=0}^{4}: {"indices": [0..4]}."""
    for product in products:
        if isinstance(product, Product):
            _, lower, upper = product.limits[0]
            if isinstance(lower, Integer) and isinstance(upper, Integer):
                return {"indices": list(range(int(lower), int(upper) + 1))}
    return {}
