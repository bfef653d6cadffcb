"""The LLM coder's repair loop with a scripted chat model, against the real sandbox kernel and
the tiny user model (tests/fixtures/user_models.py: latent_dim 3)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.runtime import Runtime
from pydantic import Field

from agent.coder_agent import VALID, CoderTask, params_cell, run_coder_agent
from agent.helper_catalogue import helper_catalogue
from agent.kernel_pool import close_kernel, register_model
from agent.llm_config import LLMUnavailable
from agent.nodes.coder import CHAT_MODEL_KEY, coder_name, template_code, traversal_folder, write_perturbation_code
from agent.nodes.sandbox_runner import run_perturbation_code
from agent.settings import Settings
from tools.bias_formula.plans import TraversalPlan

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"
MODEL_REF = f"{FIXTURE}:build"

Script = list[Callable[[list[BaseMessage]], AIMessage]]


class ScriptedChatModel(BaseChatModel):
    """A chat model answering call k with script[k](messages so far). bind_tools records the
    tools' OpenAI schemas and returns the model itself."""

    script: list[Any]
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    tool_schemas: list[dict] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools, **kwargs):
        self.tool_schemas = [convert_to_openai_tool(t) for t in tools]
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.calls.append(list(messages))
        if len(self.calls) > len(self.script):
            raise AssertionError(f"the coder asked a {len(self.calls)}th time; the script has {len(self.script)} replies")
        reply = self.script[len(self.calls) - 1](list(messages))
        return ChatResult(generations=[ChatGeneration(message=reply)])


def tool_call(name: str, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{name}", "type": "tool_call"}])


def last_observation(messages: list[BaseMessage]) -> dict:
    assert isinstance(messages[-1], ToolMessage)
    return json.loads(messages[-1].content)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One run folder and kernel shared by the tests (each test uses its own plan id)."""
    folder = tmp_path_factory.mktemp("coder_run")
    register_model(str(folder), MODEL_REF)
    yield folder
    close_kernel(str(folder))


def latent_state(run_dir: Path, plan_id: str, max_turns: int = 3) -> dict:
    """A latent's state at attempt 1; the run's stored shape code is removed, so the scripted
    model writes it afresh."""
    import shutil

    from agent.nodes.coder import SHAPE_FOLDER

    shutil.rmtree(run_dir / SHAPE_FOLDER, ignore_errors=True)
    settings = Settings(llm="openai:scripted", n_samples=2, frames=3, max_attempts=1, coder_max_turns=max_turns)
    plan = TraversalPlan(id=plan_id, indices=[0], values=[-2.0, 0.0, 2.0])
    job = {"plan": plan.to_dict(), "run_dir": str(run_dir), "model_ref": MODEL_REF, "latent_dim": 3,
           "bias": {"formula": "", "kind": "disentanglement", "prompt": "each latent alone"},
           "backend": {"vision": "offline-analytic", "coder": "llm:scripted"}, "max_span": 6.0}
    return {"job": job, "attempt": 1, "span": 2.0, "seed": 0, "values": plan.values, "steps": [], "settings": settings}


def runtime_of(state: dict) -> Runtime:
    """The run context the graph would pass: the state's settings."""
    return Runtime(context=state["settings"])


def good_code(state: dict) -> str:
    return template_code(state, state["settings"])


def name_error_code(state: dict) -> str:
    return good_code(state).replace("z = traverse(", "z = travers(")


def held_latent_moves_code(state: dict) -> str:
    return good_code(state).replace("frames = decode_in_batches", "z[:, :, 2] += values[None, :]\nframes = decode_in_batches")


def task_of(state: dict) -> CoderTask:
    job = state["job"]
    return CoderTask(Path(job["run_dir"]), state["settings"], MODEL_REF, 3, TraversalPlan(**job["plan"]), 1, 0,
                     traversal_folder(job["plan"]["id"], 1), "disentanglement")


def config_with(model: ScriptedChatModel) -> dict:
    return {"configurable": {CHAT_MODEL_KEY: model}}


def test_repair_loop_converges_from_the_observations(run_dir):
    state = latent_state(run_dir, "z_repair")

    def fix_name_error(messages):
        observation = last_observation(messages)
        assert observation["error"]["ename"] == "NameError" and "travers" in observation["error"]["evalue"]
        return tool_call("run_code", code=held_latent_moves_code(state))

    def fix_held_latent(messages):
        observation = last_observation(messages)
        assert observation["error"] is None
        assert any("held latents moved" in p and "[2]" in p for p in observation["validation"])
        return tool_call("run_code", code=good_code(state))

    model = ScriptedChatModel(script=[lambda _: tool_call("run_code", code=name_error_code(state)),
                                      fix_name_error, fix_held_latent])
    update = write_perturbation_code(state, config_with(model), runtime_of(state))

    assert update["code"] == params_cell(task_of(state)) + good_code(state) and "error" not in update
    turns = [s for s in update["steps"] if "turn" in s]
    assert [(s["turn"], s["tool"], s["coder"]) for s in turns] == [(1, "run_code", "llm:scripted"),
                                                                   (2, "run_code", "llm:scripted"),
                                                                   (3, "run_code", "llm:scripted")]
    assert turns[-1]["observation"]["validation"] == VALID
    assert update["steps"][-1] == {"node": "coder", "attempt": 1, "coder": "llm:scripted", "code": update["code"],
                                   "turns": 3, "error": None, "shape": "absolute-disentanglement", "repair": False,
                                   "usage": {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                             "cache_hits": 0, "retries": 0}}
    assert {s["function"]["name"] for s in model.tool_schemas} == {"run_code", "inspect_model", "list_helpers"}
    task_text = model.calls[0][1].content
    assert traversal_folder("z_repair", 1) in task_text and "[-2.0, 0.0, 2.0]" in task_text

    sandbox = run_perturbation_code(state | update, runtime_of(state))  # the accepted code renders frames like any code
    assert sandbox["error"] is None and len(sandbox["frames"]) == 3


def test_turn_limit_fails_the_latent_with_the_reason(run_dir):
    """Never fixed within coder_max_turns = 2: the latent is "failed" with the last problem, the
    sandbox node skips it, and a stale traversal from turn 1 is not mistaken for turn 2's."""
    from agent.graph import build_latent_graph

    state = latent_state(run_dir, "z_limit", max_turns=2)
    model = ScriptedChatModel(script=[lambda _: tool_call("run_code", code=held_latent_moves_code(state)),
                                      lambda _: tool_call("run_code", code=name_error_code(state)),
                                      lambda _: tool_call("run_code", code=good_code(state))])
    final = build_latent_graph().invoke(state, config_with(model), context=state["settings"])

    assert len(model.calls) == 2
    entry = final["latents"][0]
    assert entry["status"] == "failed" and entry["explanation"] is None
    assert entry["error"] == "coder failed after 2 turns: NameError: name 'travers' is not defined"
    turn_two = [s for s in entry["steps"] if s.get("turn") == 2][0]
    assert "wrote no" in turn_two["observation"]["validation"][0]
    sandbox_steps = [s for s in entry["steps"] if s["node"] == "sandbox"]
    assert sandbox_steps == [{"node": "sandbox", "attempt": 1, "skipped": True, "error": entry["error"]}]


def test_tools_inspect_the_model_and_list_the_helpers(run_dir):
    state = latent_state(run_dir, "z_tools", max_turns=2)

    def check_tools(messages):
        answers = messages[-5:]
        assert [m.tool_call_id for m in answers] == ["a", "b", "c", "d", "e"]  # every call answered
        inspected, helpers, unknown, no_code, bad_json = (
            m.content if m.name == "list_helpers" else json.loads(m.content) for m in answers)
        assert inspected["model"]["latent_dim"] == 3 and inspected["model"]["image_shape"] == [1, 32, 32]
        assert helpers == helper_catalogue()
        assert unknown["error"]["type"] == "UnknownTool"
        assert no_code["error"]["type"] == "BadArguments" and "code" in no_code["error"]["message"]
        assert bad_json["error"]["message"] == "run_code: arguments are not valid JSON"
        return AIMessage(content="I give up.")

    first = AIMessage(
        content="",
        tool_calls=[{"name": "inspect_model", "args": {}, "id": "a", "type": "tool_call"},
                    {"name": "list_helpers", "args": {}, "id": "b", "type": "tool_call"},
                    {"name": "rm_rf", "args": {}, "id": "c", "type": "tool_call"},
                    {"name": "run_code", "args": {}, "id": "d", "type": "tool_call"}],
        invalid_tool_calls=[{"name": "run_code", "args": "{not json", "id": "e", "error": None,
                             "type": "invalid_tool_call"}],
    )
    model = ScriptedChatModel(script=[lambda _: first, check_tools])
    update = write_perturbation_code(state, config_with(model), runtime_of(state))

    assert update["code"] == ""
    assert update["error"] == ("coder failed after 2 turns: the model stopped calling tools without valid code "
                               "(last problem: no code was run)")
    turns = [s for s in update["steps"] if "turn" in s]
    assert [s["tool"] for s in turns] == ["inspect_model", "list_helpers", "rm_rf", "run_code", "run_code", None]
    assert "check_model" in turns[0]["code"] and turns[-1]["answer"] == "I give up."


def test_helper_catalogue_is_generated_from_the_code():
    import tools.traversal.perturbation as perturbation

    catalogue = helper_catalogue()
    for name in perturbation.__all__:
        function = getattr(perturbation, name)
        assert f"{name}{inspect.signature(function, eval_str=True)}" in catalogue
        assert inspect.getdoc(function).splitlines()[0] in catalogue


def test_unreachable_endpoint_is_llm_unavailable(tmp_path):
    state = latent_state(tmp_path, "z_down")
    state["settings"] = state["settings"].replace(llm="openai:coder", llm_base_url="http://127.0.0.1:9/v1")
    with pytest.raises(LLMUnavailable, match=r"127\.0\.0\.1:9"):
        write_perturbation_code(state, {}, runtime_of(state))


def test_coder_names():
    assert coder_name(Settings()) == "template"
    assert coder_name(Settings(llm="openai:gpt-4o")) == "llm:gpt-4o"
    assert coder_name(Settings(llm="openai:gpt-4o", coder_llm="template")) == "template"
    assert coder_name(Settings(llm="openai:llava", coder_llm="openai:qwen-coder")) == "llm:qwen-coder"


def test_max_turns_must_be_positive(tmp_path):
    task = CoderTask(tmp_path, Settings(), MODEL_REF, 3, TraversalPlan("z0", [0], [0.0, 1.0]), 1, 0,
                     "traversals/z0/attempt_1", "disentanglement")
    with pytest.raises(ValueError, match="max_turns"):
        run_coder_agent(ScriptedChatModel(script=[]), task, 0, "llm:scripted")


@pytest.mark.parametrize("condition", [None, {"variable": "y", "role": "attribute", "attribute": "red_object"}])
def test_the_task_shows_params_as_python_and_the_code_reads_them(condition, tmp_path):
    """The LLM sees `params = {...}` as Python (the condition a dict or None, not a JSON string),
    the same line the host puts before its code, and is told to read every value from it."""
    import ast
    import re

    from agent.coder_agent import task_messages

    plan = TraversalPlan(id="red_object", indices=[0, 1], values=[0.0, 1.0], mode="offset", condition=condition)
    task = CoderTask(run_dir=tmp_path, settings=Settings(), model_ref=MODEL_REF, latent_dim=3, plan=plan,
                     attempt=1, seed=7, folder="traversals/red_object/attempt_1", bias_kind="conditional")
    user = task_messages(task, max_turns=3)[1].content
    shown = re.search(r"^params = (.*)$", user, re.MULTILINE).group(0)
    assert shown + "\n" == params_cell(task)
    params = ast.literal_eval(shown.split(" = ", 1)[1])
    assert params["condition"] == condition and params["seed"] == 7 and params["values"] == [0.0, 1.0]
    assert 'make_anchors(model, n=params["n_anchors"]' in user and "red_object" not in user.split("params = ")[0]
