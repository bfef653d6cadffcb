"""Planner node: inspect the model in the sandbox, parse the bias formula with SymPy, and make
one TraversalPlan per latent / group."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from agent.errors import UserError
from agent.kernel_pool import close_kernel, run_cell
from agent.settings import Settings, settings_of, with_model_defaults
from agent.state import RunState

if TYPE_CHECKING:
    from langgraph.runtime import Runtime
from prompts import render_prompt
from tools.bias_formula.plans import plan_for_model, traversal_values

FAMILY_BIAS = {"vae": "disentanglement", "csvae": "conditional", "ddpm": "disentanglement", "sd": "conditional"}
"""The bias each model family is explained under when the user gives no formula (docs/architecture.md)."""


class ModelCheckFailed(UserError):
    """The model could not be loaded or broke the protocol; one line says why."""


def inspect_model(run_dir: str, settings: Settings, model_ref: str) -> dict:
    """Load the model inside the sandbox and check it; returns {latent_dim, image_shape, name}."""
    from sandbox.errors import ExecutionError, SandboxError
    code = render_prompt("code_inspect_model.py.txt", model_ref=model_ref, device=settings.device)
    try:
        result = run_cell(run_dir, settings, code)
    except ExecutionError as error:
        raise ModelCheckFailed(f"model {model_ref}: {error.message}") from None
    except SandboxError as error:
        raise ModelCheckFailed(f"model {model_ref}: the sandbox failed while loading it: {error}") from None
    return json.loads(result.stdout.strip().splitlines()[-1])


def _values_for(kind: str, settings: dict) -> list[float]:
    """Perturbation values: [-range, range] for latent traversals; for a conditional move along
    an attribute direction, alpha from 0 to conditional_max_alpha (the CSVAE code uses
    alpha in {0, 1, 2, 3, 4})."""
    if kind == "conditional":
        frames, top = settings["frames"], settings["conditional_max_alpha"]
        return [round(top * i / (frames - 1), 6) for i in range(frames)]
    return traversal_values(settings["traversal_range"], settings["frames"])


def plan_traversals(state: RunState, runtime: Runtime[Settings]) -> dict:
    """Returns {settings, model, bias, plans}.

    The model's optional `metadata` (family, default_bias, default_formula, groups, attributes, traversable,
    prompt, traversal_range, conditional_max_alpha) decides the default bias and feeds the plan;
    a formula or setting the user gave wins. The returned settings have the model's defaults
    filled in, so results.json records the numbers actually used. A failure closes the run's
    kernel (nothing else will use it)."""
    try:
        return _plan(state, settings_of(runtime))
    except BaseException:
        close_kernel(state["run_dir"])
        raise


def _plan(state: RunState, run_settings: Settings) -> dict:
    from tools.bias_formula import DEFAULT_FORMULAS, parse_bias

    model = inspect_model(state["run_dir"], run_settings, state["model_ref"])
    metadata = model.get("metadata") or {}
    settings = with_model_defaults(state["settings"], metadata)
    model["ref"] = state["model_ref"]
    model["family"] = metadata.get("family", "vae")
    default_kind = metadata.get("default_bias") or FAMILY_BIAS.get(model["family"], "disentanglement")
    formula = state.get("bias_formula") or metadata.get("default_formula") or DEFAULT_FORMULAS[default_kind]
    spec = parse_bias(formula)
    plans = plan_for_model(spec, model["latent_dim"], _values_for(spec.kind, settings), groups=metadata.get("groups"),
                           attributes=metadata.get("attributes"), prompt_text=metadata.get("prompt"))
    traversable = metadata.get("traversable")
    if traversable is not None:
        plans = [plan for plan in plans if set(plan.indices) <= set(traversable)]
    if not plans:
        raise UserError(f"the bias {formula!r} gives no traversal for model {state['model_ref']}")
    return {
        "settings": settings,
        "model": model,
        "bias": {"formula": spec.formula, "kind": spec.kind, "prompt": spec.prompt, "sympy": spec.sympy},
        "plans": [plan.to_dict() for plan in plans],
    }
