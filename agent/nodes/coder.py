"""Coder node: perturbation code for one TraversalPlan and attempt.

Offline (no LLM configured) the code comes from the deterministic template
prompts/code_traversal.py.txt; it is still executed in the sandbox and checked by the host like
any generated code.
"""

from __future__ import annotations

from agent.state import LatentState
from prompts import render_prompt

TEMPLATE_CODER = "template"


def traversal_folder(plan_id: str, attempt: int) -> str:
    """Where an attempt's traversal.npz goes, relative to the run folder."""
    return f"traversals/{plan_id}/attempt_{attempt}"


def template_code(state: LatentState) -> str:
    job = state["job"]
    plan = job["plan"]
    return render_prompt(
        "code_traversal.py.txt",
        bias_kind=job["bias"]["kind"],
        plan_id=plan["id"],
        attempt=state["attempt"],
        model_ref=job["model_ref"],
        device=job["settings"]["device"],
        n_anchors=job["settings"]["n_samples"],
        seed=state["seed"],
        values=state["values"],
        indices=plan["indices"],
        mode=plan["mode"],
        folder=traversal_folder(plan["id"], state["attempt"]),
    )


def write_perturbation_code(state: LatentState) -> dict:
    """Returns {code, steps}."""
    code = template_code(state)
    step = {"node": "coder", "attempt": state["attempt"], "coder": TEMPLATE_CODER, "code": code}
    return {"code": code, "steps": [*state.get("steps", []), step]}
