"""What an inductive-bias formula means for a model: the BiasSpec the planner derives from a
parsed formula, and the TraversalPlans it turns into for a given model.

Bias kinds (LatentExplainer, Zhu et al. 2024, section 3; shared/PAPER_NOTES.md):
- disentanglement ("invariance" in the authors' code): each latent varies alone, the others held.
- combination: the latents of one group vary together, the other groups held.
- conditional: a traversal conditioned on an attribute or a prompt (CSVAE: w = w_hat + alpha * W_move).
- custom: anything else the grammar can express; the plan follows the formula's structure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from agent.errors import UserError

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
    (one latent at a time) or [["z_G_k"]] for groups. held: what stays fixed ("others").
    conditions: condition / attribute / prompt variables (e.g. ["y"], ["t"]). prompt: the
    inductive-bias prompt in words, from the symbol-to-word grammar.
    """

    formula: str
    kind: BiasKind
    sympy: str
    prompt: str
    varied_groups: list[list[str]] = field(default_factory=list)
    held: str = "others"
    conditions: list[str] = field(default_factory=list)

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
) -> list[TraversalPlan]:
    """Turn a BiasSpec into TraversalPlans for a model with `latent_dim` latents.

    disentanglement: one plan per latent z0..z{D-1}. combination: one plan per named group (groups
    must be given and lie within the latent space). Other kinds need model metadata this planner
    does not have yet and are refused with a clear message.
    """
    if latent_dim < 1:
        raise UserError(f"the model's latent_dim must be at least 1, got {latent_dim}")
    if spec.kind == "disentanglement":
        return [TraversalPlan(id=f"z{i}", indices=[i], values=list(values)) for i in range(latent_dim)]
    if spec.kind == "combination":
        if not groups:
            raise UserError("a combination bias needs latent groups (--groups NAME=i,j ...); none were given")
        plans = []
        for name, indices in groups.items():
            bad = [i for i in indices if not 0 <= i < latent_dim]
            if bad:
                raise UserError(f"group {name!r} has indices {bad} outside the latent space 0..{latent_dim - 1}")
            plans.append(TraversalPlan(id=name, indices=list(indices), values=list(values), kind="combination"))
        return plans
    raise UserError(f"bias kind {spec.kind!r} needs a model with attribute subspaces or directions; "
                    "this model supports disentanglement and combination biases")
