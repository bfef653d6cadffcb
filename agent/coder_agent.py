"""The LLM coding agent: writes perturbation code for one plan shape (mode and bias kind), runs it
in the sandbox for one TraversalPlan, reads what went wrong and repairs it, up to a named turn
limit. The code reads the traversal's parameters from a `params` dict the host defines before it
(`params_cell`), so the same code serves every traversal of its shape (agent/nodes/coder.py).

The model gets three tools. `run_code` executes a cell in the run's sandbox kernel; then the host
(never the generated code) re-reads the traversal the cell was asked to write and checks it against
the plan with tools.traversal.check.check_traversal. Its JSON observation carries the stdout and
stderr tails, the structured sandbox error (sandbox.errors.SandboxError.to_dict()), and the
validation problems or "valid". `inspect_model` loads and checks the model in the kernel.
`list_helpers` returns the generated catalogue of tools.traversal.perturbation (agent/helper_catalogue.py).

The loop stops, checked in one place (`run_coder_agent`), when a run_code observation is valid,
when the model answers without a tool call, or after `max_turns` model calls. A turn is one model
call; every tool call of a turn becomes one trace step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prompts import render_prompt
from tools.bias_formula.plans import TraversalPlan

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.tools import BaseTool

    from agent.settings import Settings
    from sandbox.errors import SandboxError

OUTPUT_TAIL_CHARS = 2000
"""Characters kept from the end of a cell's stdout and stderr in an observation."""

TRACEBACK_TAIL_LINES = 12
"""Lines kept from the end of a sandbox traceback in an observation."""

VALID = "valid"
"""The validation field of a run_code observation whose traversal matches the plan."""


@dataclass(frozen=True)
class CoderTask:
    """What one coder run works on.

    run_dir: the run folder (absolute). settings: the run's agent.settings.Settings (n_samples is
    the number of anchors A; device the torch device in the sandbox). model_ref: the model
    reference the code loads. latent_dim: D. plan: the TraversalPlan with this attempt's values.
    attempt: 1-based attempt number. seed: the anchor seed. folder: where the code must save
    traversal.npz, relative to run_dir. bias_kind: the bias the plan comes from. repair: "" or
    why the shape's earlier code failed for this traversal, with that code (shown to the model).
    """

    run_dir: Path
    settings: Settings
    model_ref: str
    latent_dim: int
    plan: TraversalPlan
    attempt: int
    seed: int
    folder: str
    bias_kind: str
    repair: str = ""

    @property
    def params(self) -> dict:
        """The traversal's parameters, as the code reads them from `params`."""
        plan = self.plan
        return {"plan_id": plan.id, "indices": list(plan.indices), "values": list(plan.values), "mode": plan.mode,
                "condition": plan.condition, "n_anchors": self.settings.n_samples, "seed": self.seed,
                "folder": self.folder, "model_ref": self.model_ref, "device": self.settings.device,
                "latent_dim": self.latent_dim}

    @property
    def traversal_path(self) -> Path:
        """The file the host checks: run_dir / folder / traversal.npz."""
        from tools.traversal.check import TRAVERSAL_FILE

        return self.run_dir / self.folder / TRAVERSAL_FILE


@dataclass
class CoderOutcome:
    """code: the code whose traversal was valid, or the last code run ("" when none was).
    error: None on success, else "coder failed after N turns: <last problem>". turns: model calls
    made. steps: one trace step per tool call (and per answer without one)."""

    code: str
    error: str | None
    turns: int
    steps: list[dict] = field(default_factory=list)


def _tail(text: str, limit: int = OUTPUT_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def _sandbox_error_dict(error: SandboxError) -> dict:
    """error.to_dict() with the traceback cut to its last TRACEBACK_TAIL_LINES lines."""
    data = error.to_dict()
    if isinstance(data.get("traceback"), list):
        data["traceback"] = data["traceback"][-TRACEBACK_TAIL_LINES:]
    return {key: _tail(value) if isinstance(value, str) else value for key, value in data.items()}


def check_written_traversal(task: CoderTask) -> list[str]:
    """Problems with the traversal the code wrote (empty when it matches the plan): the file must
    exist inside the run folder, be readable, and pass check_traversal."""
    from tools.traversal.check import check_traversal, load_traversal

    path = task.traversal_path
    shown = f"{task.folder}/{path.name}"
    if not path.exists() and not path.is_symlink():
        return [f"the code wrote no {shown}; call save_traversal(params['folder'], z=z, frames=frames, values=values)"]
    if path.is_symlink() or not path.resolve().is_relative_to(task.run_dir.resolve()):
        return [f"{shown} must be a plain file inside the run folder, not a link"]
    try:
        traversal = load_traversal(path)
        return check_traversal(traversal, task.plan, task.settings.n_samples, task.latent_dim)
    except (OSError, ValueError, KeyError) as error:
        return [f"cannot read {shown}: {type(error).__name__}: {error}"]


def _clear_stale_traversal(task: CoderTask) -> None:
    """Remove a traversal.npz left by an earlier cell, so the check sees only this cell's output.
    Nothing outside the run folder is touched (a link is removed, never followed)."""
    path = task.traversal_path
    if path.is_symlink() or (path.exists() and path.resolve().is_relative_to(task.run_dir.resolve())):
        path.unlink(missing_ok=True)


def params_cell(task: CoderTask) -> str:
    """The line the host puts before the code: `params = {...}` (Python literals)."""
    return f"params = {task.params!r}\n"


def run_code(task: CoderTask, code: str) -> dict:
    """Run params_cell(task) followed by `code` in the run's sandbox kernel, then check the
    traversal it wrote.

    Returns {"stdout", "stderr" (tails), "error" (the sandbox error as a dict, or None),
    "validation" ("valid" or a list of problems)}."""
    from agent.kernel_pool import run_cell
    from sandbox.errors import SandboxError

    _clear_stale_traversal(task)
    error: dict | None = None
    try:
        result = run_cell(str(task.run_dir), task.settings, params_cell(task) + code)
        stdout, stderr = result.stdout, result.stderr
    except SandboxError as failure:
        error = _sandbox_error_dict(failure)
        stdout = failure.partial.stdout if failure.partial else ""
        stderr = failure.partial.stderr if failure.partial else ""
    problems = check_written_traversal(task)
    return {"stdout": _tail(stdout), "stderr": _tail(stderr), "error": error, "validation": problems or VALID}


def inspect_model_code(task: CoderTask) -> str:
    """The cell inspect_model runs (prompts/code_inspect_model.py.txt)."""
    return render_prompt("code_inspect_model.py.txt", model_ref=task.model_ref, device=task.settings.device)


def inspect_model(task: CoderTask) -> dict:
    """Load and check the model in the kernel: {"model": check_model's JSON (latent_dim,
    image_shape, name, ...)} or {"error": the sandbox error, "stdout", "stderr"}."""
    from agent.kernel_pool import run_cell
    from sandbox.errors import SandboxError

    try:
        result = run_cell(str(task.run_dir), task.settings, inspect_model_code(task))
    except SandboxError as failure:
        partial = failure.partial
        return {"error": _sandbox_error_dict(failure), "stdout": _tail(partial.stdout if partial else ""),
                "stderr": _tail(partial.stderr if partial else "")}
    lines = result.stdout.strip().splitlines()
    try:
        return {"model": json.loads(lines[-1])}
    except (IndexError, json.JSONDecodeError):
        return {"error": {"type": "BadOutput", "message": "the inspection printed no JSON"},
                "stdout": _tail(result.stdout), "stderr": _tail(result.stderr)}


def make_tools(task: CoderTask) -> list[BaseTool]:
    """The langchain tools offered to the model, bound to `task`. Their names, argument schemas
    and descriptions come from these functions' signatures and docstrings."""
    from langchain_core.tools import tool

    from agent.helper_catalogue import helper_catalogue

    def run_code_tool(code: str) -> dict:
        """Run Python code in the sandbox kernel (variables persist between calls), then the host
        checks the traversal.npz the code saved. Returns JSON: stdout and stderr tails, error
        (the exception: type, message, traceback; null when none), validation ("valid", or the
        list of problems to fix)."""
        return run_code(task, code)

    def inspect_model_tool() -> dict:
        """Load the model in the sandbox and check it. Returns JSON: latent_dim, image_shape
        [C, H, W], name, and whatever else the model reports."""
        return inspect_model(task)

    def list_helpers_tool() -> str:
        """Signatures and docstrings of the traversal helpers in tools.traversal.perturbation."""
        return helper_catalogue()

    return [
        tool("run_code")(run_code_tool),
        tool("inspect_model")(inspect_model_tool),
        tool("list_helpers")(list_helpers_tool),
    ]


def task_messages(task: CoderTask, max_turns: int) -> list:
    """[system, user] messages from prompts/coder_system.txt and prompts/coder_task.txt."""
    from langchain_core.messages import HumanMessage, SystemMessage

    system = render_prompt("coder_system.txt", max_turns=max_turns)
    user = render_prompt("coder_task.txt", bias_kind=task.bias_kind, mode=task.plan.mode, params=task.params,
                         latent_dim=task.latent_dim, repair=task.repair)
    return [SystemMessage(content=system), HumanMessage(content=user)]


def describe_problem(observation: dict) -> str:
    """One line: the sandbox error's message, else the validation problems."""
    if observation.get("error"):
        return str(observation["error"].get("message") or observation["error"].get("type"))
    return "invalid traversal: " + "; ".join(observation["validation"])


def _call_tool(tools: dict[str, BaseTool], name: str, args: Any) -> Any:
    """The tool's result, or {"error": ...} for an unknown tool or arguments it does not take."""
    from pydantic import ValidationError

    if name not in tools:
        return {"error": {"type": "UnknownTool", "message": f"no tool {name!r}; the tools are {sorted(tools)}"}}
    try:
        return tools[name].invoke(args if isinstance(args, dict) else {})
    except ValidationError as error:
        return {"error": {"type": "BadArguments", "message": f"{name}: {error}"}}


def run_coder_agent(chat_model: BaseChatModel, task: CoderTask, max_turns: int, coder_name: str) -> CoderOutcome:
    """Let `chat_model` write, run and repair perturbation code for `task`.

    1. Bind the tools (make_tools) and send the system and task prompts.
    2. Each turn: one model call; every tool call in its answer is run and answered with a
       ToolMessage (JSON); a run_code whose validation is "valid" ends the loop with that code.
    3. An answer without a tool call, or `max_turns` turns without valid code, ends it with
       error "coder failed after N turns: <last problem>".
    Endpoint failures raise from chat_model.invoke (the caller turns them into LLMUnavailable).
    """
    from langchain_core.messages import ToolMessage

    if max_turns < 1:
        raise ValueError(f"max_turns must be >= 1, got {max_turns}")
    tools = {t.name: t for t in make_tools(task)}
    model = chat_model.bind_tools(list(tools.values()))
    messages = task_messages(task, max_turns)
    steps: list[dict] = []
    last_code, last_problem = "", "no code was run"
    base = {"node": "coder", "attempt": task.attempt, "coder": coder_name}
    for turn in range(1, max_turns + 1):
        reply = model.invoke(messages)
        messages.append(reply)
        calls = [(c["name"], c["args"], c["id"]) for c in reply.tool_calls]
        calls += [(c.get("name") or "", None, c.get("id")) for c in getattr(reply, "invalid_tool_calls", [])]
        if not calls:
            steps.append(base | {"turn": turn, "tool": None, "code": "", "observation": None, "answer": reply.text})
            return CoderOutcome(last_code, f"coder failed after {turn} turns: the model stopped calling tools "
                                           f"without valid code (last problem: {last_problem})", turn, steps)
        for name, args, call_id in calls:
            if args is None:
                observation: Any = {"error": {"type": "BadArguments", "message": f"{name}: arguments are not valid JSON"}}
            else:
                observation = _call_tool(tools, name, args)
            code = ""
            if name == "run_code" and isinstance(args, dict) and isinstance(args.get("code"), str):
                code = last_code = args["code"]
                last_problem = VALID if observation.get("validation") == VALID and not observation.get("error") \
                    else describe_problem(observation)
            elif name == "inspect_model":
                code = inspect_model_code(task)
            content = observation if isinstance(observation, str) else json.dumps(observation)
            steps.append(base | {"turn": turn, "tool": name, "code": code, "observation": observation})
            messages.append(ToolMessage(content=content, tool_call_id=call_id or f"call_{turn}", name=name))
            if name == "run_code" and last_problem == VALID:
                return CoderOutcome(code, None, turn, steps)
    return CoderOutcome(last_code, f"coder failed after {max_turns} turns: {last_problem}", max_turns, steps)
