"""Coder node: perturbation code for one TraversalPlan and attempt.

Offline (no LLM configured) the code comes from the deterministic template
prompts/code_traversal.py.txt; it is still executed in the sandbox and checked by the host like
any generated code. With an LLM configured (settings.llm) a tool-calling agent
(agent/coder_agent.py) writes, runs and repairs the code, up to settings.coder_max_turns
turns; when it gives up, the update carries `error` and the sandbox node skips the latent, so the
verifier records it as failed with that reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.settings import Settings, settings_of
from agent.state import LatentState
from prompts import render_prompt

if TYPE_CHECKING:  # LangGraph reads the annotations' names to pass the config and the runtime
    from langchain_core.runnables import RunnableConfig
    from langgraph.runtime import Runtime

TEMPLATE_CODER = "template"

CHAT_MODEL_KEY = "coder_chat_model"
"""config["configurable"] key: a langchain chat model (with bind_tools) the LLM coder uses instead
of the client built from settings.llm; it applies only when settings.llm is set."""


def traversal_folder(plan_id: str, attempt: int) -> str:
    """Where an attempt's traversal.npz goes, relative to the run folder."""
    return f"traversals/{plan_id}/attempt_{attempt}"


def template_code(state: LatentState, settings: Settings) -> str:
    """The deterministic perturbation code for the plan's mode (absolute values or an offset
    along a direction)."""
    job = state["job"]
    plan = job["plan"]
    common = dict(
        bias_kind=job["bias"]["kind"],
        plan_id=plan["id"],
        attempt=state["attempt"],
        model_ref=job["model_ref"],
        device=settings.device,
        n_anchors=settings.n_samples,
        seed=state["seed"],
        values=state["values"],
        indices=plan["indices"],
        folder=traversal_folder(plan["id"], state["attempt"]),
    )
    if plan["mode"] == "offset":
        return render_prompt("code_traversal_offset.py.txt", condition=plan.get("condition"), **common)
    return render_prompt("code_traversal.py.txt", mode=plan["mode"], **common)


def coder_name(settings: Settings) -> str:
    """Who writes the code, as shown in traces and results: "template" offline, "llm:<model>"
    when settings.llm names a model."""
    from agent.llm_config import parse_llm_spec

    llm = parse_llm_spec(settings.llm, base_url=settings.llm_base_url)
    return TEMPLATE_CODER if llm is None else f"llm:{llm.model}"


def llm_code(state: LatentState, config: RunnableConfig, settings: Settings) -> dict:
    """Run the LLM coding agent; returns {code, steps} and, when it gave up, {error}.
    An endpoint that cannot serve the requests raises LLMUnavailable (one line at the CLI)."""
    from agent.coder_agent import CoderTask, run_coder_agent
    from agent.llm_config import build_chat_model, endpoint_errors_as_unavailable, parse_llm_spec
    from tools.bias_formula.plans import TraversalPlan

    job = state["job"]
    llm = parse_llm_spec(settings.llm, base_url=settings.llm_base_url)
    chat_model = (config.get("configurable") or {}).get(CHAT_MODEL_KEY) or build_chat_model(llm, temperature=0.0)
    task = CoderTask(
        run_dir=Path(job["run_dir"]),
        settings=settings,
        model_ref=job["model_ref"],
        latent_dim=job["latent_dim"],
        plan=TraversalPlan(**(job["plan"] | {"values": state["values"]})),
        attempt=state["attempt"],
        seed=state["seed"],
        folder=traversal_folder(job["plan"]["id"], state["attempt"]),
        bias_kind=job["bias"]["kind"],
    )
    name = coder_name(settings)
    with endpoint_errors_as_unavailable(llm):
        outcome = run_coder_agent(chat_model, task, settings.coder_max_turns, name)
    final = {"node": "coder", "attempt": state["attempt"], "coder": name, "code": outcome.code,
             "turns": outcome.turns, "error": outcome.error}
    update: dict = {"code": outcome.code, "steps": [*state.get("steps", []), *outcome.steps, final]}
    if outcome.error:
        update["error"] = outcome.error
    return update


def write_perturbation_code(state: LatentState, config: RunnableConfig, runtime: Runtime[Settings]) -> dict:
    """Returns {code, steps}, and {error} when the LLM coder gave up. LangGraph passes `config`
    (see CHAT_MODEL_KEY) and the runtime (its context: the run's Settings)."""
    settings = settings_of(runtime)
    if settings.llm:
        return llm_code(state, config, settings)
    code = template_code(state, settings)
    step = {"node": "coder", "attempt": state["attempt"], "coder": TEMPLATE_CODER, "code": code}
    return {"code": code, "steps": [*state.get("steps", []), step]}
