"""Planner node: inspect the model in the sandbox, parse the bias formula with SymPy, and make
one TraversalPlan per latent / group."""

from __future__ import annotations

import json
from pathlib import Path

from agent.errors import UserError
from agent.kernel_pool import run_cell
from agent.state import RunState
from prompts import render_prompt
from tools.bias_spec import plan_for_model, traversal_values

FAMILY_BIAS = {"vae": "disentanglement"}


class ModelCheckFailed(UserError):
    """The model could not be loaded or broke the protocol; one line says why."""


def inspect_model(run_dir: str, settings: dict, model_ref: str) -> dict:
    """Load the model inside the sandbox and check it; returns {latent_dim, image_shape, name}."""
    from sandbox.errors import ExecutionError, SandboxError

    from tools.model_ref import parse_model_ref

    ref = parse_model_ref(model_ref)
    visible = () if ref.kind == "builtin" else (str(Path(ref.target).parent if ref.kind == "file" else ref.target),)
    code = render_prompt("code_inspect_model.py.txt", model_ref=model_ref, device=settings["device"])
    try:
        result = run_cell(run_dir, settings, code, read_only_paths=visible)
    except ExecutionError as error:
        raise ModelCheckFailed(f"model {model_ref}: {error.message}") from None
    except SandboxError as error:
        raise ModelCheckFailed(f"model {model_ref}: the sandbox failed while loading it: {error}") from None
    return json.loads(result.stdout.strip().splitlines()[-1])


def plan_traversals(state: RunState) -> dict:
    """Returns {model, bias, plans}."""
    from tools.bias_formula import DEFAULT_FORMULAS, parse_bias

    settings = state["settings"]
    model = inspect_model(state["run_dir"], settings, state["model_ref"])
    model["ref"] = state["model_ref"]
    model["family"] = "vae"
    formula = state.get("bias_formula") or DEFAULT_FORMULAS[FAMILY_BIAS[model["family"]]]
    spec = parse_bias(formula)
    values = traversal_values(settings["traversal_range"], settings["frames"])
    plans = plan_for_model(spec, model["latent_dim"], values)
    return {
        "model": model,
        "bias": {"formula": spec.formula, "kind": spec.kind, "prompt": spec.prompt, "sympy": spec.sympy},
        "plans": [plan.to_dict() for plan in plans],
    }
