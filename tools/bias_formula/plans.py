"""What an inductive-bias formula means for a model: the BiasSpec the planner derives from a
parsed formula, and the TraversalPlans it turns into for a given model.

Bias kinds (LatentExplainer, Zhu et al. 2024, section 3; docs/method.md):
- disentanglement ("invariance" in the authors' code): each latent varies alone, the others held.
- combination: the latents of one group vary together, the other groups held.
- conditional: a traversal conditioned on an attribute or a prompt (CSVAE: w = w_hat + alpha * W_move).
- custom: anything else the grammar can express; the plan follows the formula's structure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from tools.errors import UserError


class MissingModelContext(UserError):
    """A valid formula whose plan needs what a model's metadata gives (its latent groups, its
    attribute names, its prompt) and none was given."""

BiasKind = Literal["disentanglement", "combination", "conditional", "custom"]

# The authors' code traverses beta-TCVAE latents over {-3, -1.5, 0, 1.5, 3}; the workshop paper over
# [-3, 3] in steps of 0.6. This is the range used when nothing else is asked for.
DEFAULT_RANGE = 3.0
DEFAULT_FRAMES = 7


@dataclass
class BiasSpec:
    """A parsed bias formula.

    formula: the user's text. kind: see module docstring. sympy: the SymPy form as text (str()).
    varied_groups: sets of latent symbols that vary together, e.g. [["z_i"]] for disentanglement
    (one latent at a time) or [["z_{G_k}"]] for groups. held: what stays fixed ("others").
    conditions: condition / attribute / prompt variables (e.g. ["y"], ["t"]). prompt: the
    inductive-bias prompt in words, from the symbol-to-word grammar.
    targets: what the plans traverse, one dict per varied latent: {"latent": "z_i", "sweep": ...}
    with sweep "each" (one latent at a time; optional "indices" limit which), "fixed" (the latents
    in "indices"), "group_each" (one plan per model group), "group" (the model group named in
    "group") or "all" (every latent together). condition_details: per condition {"variable",
    "role": "attribute" | "prompt", "generic": stands for every model attribute (y, c) rather than
    naming one, "values": the values the formula sets it to}. text: the formula printed back in
    the grammar's plain-text form.
    """

    formula: str
    kind: BiasKind
    sympy: str
    prompt: str
    varied_groups: list[list[str]] = field(default_factory=list)
    held: str = "others"
    conditions: list[str] = field(default_factory=list)
    targets: list[dict] = field(default_factory=list)
    condition_details: list[dict] = field(default_factory=list)
    text: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TraversalPlan:
    """One traversal to render and explain.

    id: the latent or group name shown to users ("z3", "group_shape"). indices: latent indices that
    move together; all others hold their anchor values. values: the K perturbation values, lowest
    to highest (absolute values of the traversed latents, or alpha for a conditional move).
    mode: "absolute" sets the traversed latents to each value; "offset" adds the value along a
    direction. condition: for conditional biases, what the traversal is conditioned on.
    """

    id: str
    indices: list[int]
    values: list[float]
    kind: BiasKind = "disentanglement"
    mode: Literal["absolute", "offset"] = "absolute"
    condition: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def traversal_values(span: float = DEFAULT_RANGE, frames: int = DEFAULT_FRAMES) -> list[float]:
    """K evenly spaced values in [-span, span], lowest first."""
    if frames < 2:
        raise UserError(f"--frames must be at least 2, got {frames}")
    if span <= 0:
        raise UserError(f"--range must be positive, got {span}")
    step = 2 * span / (frames - 1)
    return [round(-span + i * step, 6) for i in range(frames)]


def plan_for_model(
    spec: BiasSpec,
    latent_dim: int,
    values: list[float],
    groups: dict[str, list[int]] | None = None,
    *,
    attributes: list[str] | None = None,
    prompt_text: str | None = None,
) -> list[TraversalPlan]:
    """Turn a BiasSpec into TraversalPlans for a model with `latent_dim` latents.

    disentanglement: one plan per latent z0..z{D-1} (or per latent the formula's numeric bounds
    name). combination: one plan per named group (groups must be given and lie within the latent
    space). conditional: per attribute (`attributes`, from the model's metadata; a generic y
    stands for each of them, a named one must be one of them) a plan moving the attribute's
    group (when `groups` has one of that name) or the latents the formula names, by the values
    as offsets; a prompt condition t needs `prompt_text`. custom: one plan per latent, group or
    index set the formula varies. Bad indices, groups or attributes raise UserError.
    """
    if latent_dim < 1:
        raise UserError(f"the model's latent_dim must be at least 1, got {latent_dim}")
    groups = _checked_groups(groups or {}, latent_dim)
    if spec.kind == "disentanglement":
        indices = range(latent_dim)
        for target in spec.targets:
            if target.get("indices"):
                indices = _in_range(target["indices"], latent_dim, target["latent"])
        return [TraversalPlan(id=f"z{i}", indices=[i], values=list(values)) for i in indices]
    if spec.kind == "combination":
        if not groups:
            raise MissingModelContext("a combination bias needs latent groups (--groups NAME=i,j ...); none were given")
        return [TraversalPlan(id=name, indices=list(indices), values=list(values), kind="combination")
                for name, indices in groups.items()]
    targets = spec.targets or [{"latent": "z", "sweep": "all"}]
    if spec.kind == "conditional":
        return _conditional_plans(spec, targets, latent_dim, values, groups, attributes, prompt_text)
    if not spec.targets:
        raise UserError(f"the formula {spec.formula!r} names no latent variable to traverse "
                        "(write the varied latents left of '|', e.g. p(z_i | y) or z_0 \\perp z_1)")
    condition = {"given": list(spec.conditions)} if spec.conditions else None
    plans = [plan for target in targets for plan in _target_plans(target, latent_dim, values, groups, "custom")]
    for plan in plans:
        plan.condition = condition
    return _unique_ids(plans)


def _checked_groups(groups: dict[str, list[int]], latent_dim: int) -> dict[str, list[int]]:
    for name, indices in groups.items():
        if not indices:
            raise UserError(f"group {name!r} is empty; give it at least one latent index")
        if len(indices) > latent_dim:
            raise UserError(f"group {name!r} has {len(indices)} latents but the model has only {latent_dim}")
        bad = [i for i in indices if not 0 <= i < latent_dim]
        if bad:
            raise UserError(f"group {name!r} has indices {bad} outside the latent space 0..{latent_dim - 1}")
        if len(set(indices)) != len(indices):
            raise UserError(f"group {name!r} lists a latent more than once: {indices}")
    return groups


def _in_range(indices: list[int], latent_dim: int, latent: str) -> list[int]:
    bad = [i for i in indices if not 0 <= i < latent_dim]
    if bad:
        raise UserError(f"the formula's {latent} names latent {bad[0]}, outside the model's latents "
                        f"0..{latent_dim - 1} (numbered from 0, as in the plan ids z0..z{latent_dim - 1})")
    return list(indices)


def _target_plans(target: dict, latent_dim: int, values: list[float], groups: dict[str, list[int]],
                  kind: BiasKind) -> list[TraversalPlan]:
    """The plans of one spec target (see BiasSpec.targets)."""
    sweep, latent = target["sweep"], target["latent"]
    if sweep == "each":
        indices = _in_range(target["indices"], latent_dim, latent) if target.get("indices") else range(latent_dim)
        return [TraversalPlan(id=f"z{i}", indices=[i], values=list(values), kind=kind) for i in indices]
    if sweep == "fixed":
        indices = _in_range(target["indices"], latent_dim, latent)
        return [TraversalPlan(id="_".join(f"z{i}" for i in indices), indices=indices, values=list(values), kind=kind)]
    if sweep == "group_each":
        if not groups:
            raise MissingModelContext(f"the formula varies groups of latents ({latent}); give them with --groups NAME=i,j ...")
        return [TraversalPlan(id=name, indices=list(idx), values=list(values), kind=kind) for name, idx in groups.items()]
    if sweep == "group":
        name = target["group"]
        if name not in groups:
            known = ", ".join(groups) or "none"
            raise UserError(f"the formula names the group {name!r} ({latent}), but the model's groups are: {known} "
                            "(give it with --groups NAME=i,j)")
        return [TraversalPlan(id=name, indices=list(groups[name]), values=list(values), kind=kind)]
    if sweep == "all":
        return [TraversalPlan(id=latent, indices=list(range(latent_dim)), values=list(values), kind=kind)]
    raise UserError(f"unknown traversal sweep {sweep!r} for {latent}; "
                    "allowed: each, fixed, group_each, group, all")


def _conditional_plans(spec: BiasSpec, targets: list[dict], latent_dim: int, values: list[float],
                       groups: dict[str, list[int]], attributes: list[str] | None,
                       prompt_text: str | None) -> list[TraversalPlan]:
    details = spec.condition_details or [
        {"variable": name, "role": "attribute", "generic": True, "values": []} for name in spec.conditions]
    if not details:
        raise UserError(f"the conditional bias {spec.formula!r} names no condition variable")
    base = [plan for target in targets for plan in _target_plans(target, latent_dim, values, groups, "conditional")]
    plans: list[TraversalPlan] = []
    for detail in details:
        variable = detail["variable"]
        if detail["role"] == "prompt":
            if not prompt_text:
                raise MissingModelContext(f"the bias is conditioned on a prompt ({variable}); give the prompt text (--prompt-text)")
            for plan in base:
                condition = {"variable": variable, "role": "prompt", "prompt": prompt_text}
                plans.append(TraversalPlan(id=plan.id, indices=plan.indices, values=list(values), kind="conditional",
                                           mode="offset", condition=condition))
            continue
        for attribute in _attribute_names(detail, attributes):
            for plan in base:
                whole = plan.indices == list(range(latent_dim))
                indices = list(groups[attribute]) if whole and attribute in groups else plan.indices
                plan_id = attribute if whole else f"{attribute}:{plan.id}"
                condition = {"variable": variable, "role": "attribute", "attribute": attribute,
                             "values": list(detail.get("values", []))}
                plans.append(TraversalPlan(id=plan_id, indices=indices, values=list(values), kind="conditional",
                                           mode="offset", condition=condition))
    return _unique_ids(plans)


def _attribute_names(detail: dict, attributes: list[str] | None) -> list[str]:
    """The model attributes one condition variable stands for."""
    variable = detail["variable"]
    if not attributes:
        raise MissingModelContext(f"the bias is conditioned on {variable!r}; it needs the model's attribute names "
                        "(--attributes NAME,...), and this model declares none")
    if detail.get("generic"):
        return list(attributes)
    if variable not in attributes:
        raise UserError(f"unknown attribute {variable!r}; the model's attributes are: {', '.join(attributes)}")
    return [variable]


def _unique_ids(plans: list[TraversalPlan]) -> list[TraversalPlan]:
    """Plans with distinct ids, first kept (z_i and z_j in one formula give the same plans)."""
    seen: dict[str, TraversalPlan] = {}
    for plan in plans:
        seen.setdefault(plan.id, plan)
    return list(seen.values())
