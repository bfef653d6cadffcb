"""Coder node: perturbation code for one TraversalPlan and attempt.

Offline (the coder role has no LLM: no --llm, or --coder-llm template) the code comes from the
deterministic template prompts/code_traversal.py.txt; it is still executed in the sandbox and
checked by the host like any generated code. With a coder LLM, a tool-calling agent
(agent/coder_agent.py) writes, runs and repairs code once per plan shape (mode and bias kind),
up to settings.coder_max_turns turns: the code reads its traversal's parameters from `params`,
so every later latent of that shape runs the same code with its own parameters, and the agent is
called again only when that code fails a latent's check (a repair) — coder sessions per run are
at most the distinct shapes plus the repairs. A shape's code is kept in the run folder
(coder/<shape>.py), so a resumed run reuses it. When the agent gives up, the update carries
`error` and the sandbox node skips the latent, so the verifier records it as failed.
"""

from __future__ import annotations

import threading
from dataclasses import replace
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
of the client built from the coder role's LLM; it applies only when that role has one."""

SHAPE_FOLDER = "coder"
"""Where a run keeps each plan shape's code, relative to the run folder."""

LEADER_WAIT_S = 900.0
"""Longest a latent waits for its shape's leader to write the code before writing its own."""

_shape_locks: dict[tuple[str, str], threading.Lock] = {}
_leaders_done: dict[tuple[str, str], threading.Event] = {}
_shape_locks_guard = threading.Lock()


def traversal_folder(plan_id: str, attempt: int) -> str:
    """Where an attempt's traversal.npz goes, relative to the run folder."""
    return f"traversals/{plan_id}/attempt_{attempt}"


def plan_shape(job: dict) -> str:
    """What makes two plans' code the same apart from parameters: "<mode>-<bias kind>"."""
    return f"{job['plan'].get('mode', 'absolute')}-{job['bias']['kind']}"


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
    when the coder role has an LLM."""
    from agent.llm_config import role_config

    llm = role_config(settings, "coder")
    return TEMPLATE_CODER if llm is None else f"llm:{llm.model}"


def _shape_lock(run_dir: str, shape: str) -> threading.Lock:
    with _shape_locks_guard:
        return _shape_locks.setdefault((str(Path(run_dir).resolve()), shape), threading.Lock())


def _leader_done(run_dir: str, shape: str) -> threading.Event:
    with _shape_locks_guard:
        return _leaders_done.setdefault((str(Path(run_dir).resolve()), shape), threading.Event())


def _shape_file(run_dir: str, shape: str) -> Path:
    return Path(run_dir) / SHAPE_FOLDER / f"{shape}.py"


def llm_code(state: LatentState, config: RunnableConfig, settings: Settings) -> dict:
    """The coder for this latent. The shape's code is written first by its leader (the first plan
    of the shape, job["shape_leader"]), so a run's first coder request is the same every time
    and a re-run answers it from the response cache; the others wait for it (at most
    LEADER_WAIT_S), then reuse or repair the code (_shape_code)."""
    job = state["job"]
    shape = plan_shape(job)
    done = _leader_done(job["run_dir"], shape)
    leader = job.get("shape_leader")
    if leader is None or leader == job["plan"]["id"]:
        try:
            return _shape_code(state, config, settings)
        finally:
            done.set()
    if not _shape_file(job["run_dir"], shape).is_file():
        done.wait(LEADER_WAIT_S)
    return _shape_code(state, config, settings)


def _shape_code(state: LatentState, config: RunnableConfig, settings: Settings) -> dict:
    """The shape's code with this latent's parameters, checked in the sandbox; the LLM coding
    agent writes (or repairs) it when there is none yet (or it fails this latent). Returns
    {code, steps, usage} and {error} when the agent gave up or its requests failed (a spent
    budget: {budget_exhausted} too). An endpoint that refuses the first request raises
    LLMUnavailable (one line at the CLI)."""
    import openai

    from agent.coder_agent import VALID, CoderTask, describe_problem, params_cell, run_code, run_coder_agent
    from agent.llm.client import LLMRequestFailed, client_for
    from agent.llm.usage import BudgetExhausted, Usage, add_usage, charging
    from agent.llm_config import describe_endpoint_error, role_config
    from tools.bias_formula.plans import TraversalPlan

    job = state["job"]
    llm = role_config(settings, "coder")
    name = coder_name(settings)
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
    shape = plan_shape(job)
    base = {"node": "coder", "attempt": state["attempt"], "coder": name, "shape": shape}
    steps = list(state.get("steps", []))
    usage = Usage()
    update: dict = {}
    with _shape_lock(job["run_dir"], shape):
        path = _shape_file(job["run_dir"], shape)
        if path.is_file():
            shape_code = path.read_text(encoding="utf-8")
            observation = run_code(task, shape_code)
            valid = observation["validation"] == VALID and not observation.get("error")
            steps.append(base | {"reused": True, "code": params_cell(task) + shape_code, "observation": observation})
            if valid:
                return {"code": params_cell(task) + shape_code, "steps": steps, "usage": add_usage(state.get("usage"))}
            task = replace(task, repair=(f"\nThe code below was written for this shape and failed for this traversal "
                                         f"({describe_problem(observation)}). Fix it so that it works for every traversal "
                                         f"of this shape:\n\n{shape_code}"))
        chat_model = (config.get("configurable") or {}).get(CHAT_MODEL_KEY)
        if chat_model is None:
            chat_model = client_for(job["run_dir"], settings, llm).chat_model(temperature=0.0)
        try:
            with charging(usage):
                outcome = run_coder_agent(chat_model, task, settings.coder_max_turns, name)
        except BudgetExhausted as error:
            update = {"error": str(error), "budget_exhausted": True}
            outcome = None
        except LLMRequestFailed as error:
            update = {"error": f"coder request failed: {error}"}
            outcome = None
        except openai.APIError as error:  # a refusal, e.g. HTTP 400 from a model without tool calling
            update = {"error": f"coder request failed: {describe_endpoint_error(llm, error)}"}
            outcome = None
        if outcome is not None:
            steps += outcome.steps
            if outcome.error:
                update["error"] = outcome.error
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(outcome.code, encoding="utf-8")
    code = params_cell(task) + outcome.code if outcome is not None and outcome.code else ""
    final = base | {"code": code, "turns": outcome.turns if outcome else 0, "error": update.get("error"),
                    "repair": bool(task.repair), "usage": usage.to_dict()}
    return update | {"code": code, "steps": [*steps, final], "usage": add_usage(state.get("usage"), usage.to_dict())}


def write_perturbation_code(state: LatentState, config: RunnableConfig, runtime: Runtime[Settings]) -> dict:
    """Returns {code, steps}, and {error} when the LLM coder gave up. LangGraph passes `config`
    (see CHAT_MODEL_KEY) and the runtime (its context: the run's Settings)."""
    from agent.llm_config import role_config

    settings = settings_of(runtime)
    if role_config(settings, "coder") is not None:
        return llm_code(state, config, settings)
    code = template_code(state, settings)
    step = {"node": "coder", "attempt": state["attempt"], "coder": TEMPLATE_CODER, "code": code}
    return {"code": code, "steps": [*state.get("steps", []), step]}
