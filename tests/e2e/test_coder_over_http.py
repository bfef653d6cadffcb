"""The LLM coder through `explain --llm openai:MODEL` against a real local OpenAI-compatible server
with real tool calls: it inspects, writes broken code, reads the error, repairs it, and a latent
it never repairs ends "failed" with the reason."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.cli import main
from agent.trace_reader import read_trace
from prompts import render_prompt
from tests.openai_server import OpenAIServer, TextReply, ToolCall, ToolCallReply
from tools.bias_formula.plans import traversal_values
from tools.models.references import parse_model_ref

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"
N_SAMPLES, FRAMES = 3, 5


def traversal_code(plan_id: str, attempt: int, folder: str) -> str:
    """Correct code for the fixture's plan `plan_id` (latent index = the number in the id)."""
    return render_prompt(
        "code_traversal.py.txt", bias_kind="disentanglement", plan_id=plan_id, attempt=attempt,
        model_ref=str(parse_model_ref(f"{FIXTURE}:build")), device="auto", n_anchors=N_SAMPLES, seed=0,
        values=traversal_values(3.0, FRAMES), indices=[int(plan_id[1:])], mode="absolute", folder=folder,
    )


def coder_reply(request: dict) -> ToolCallReply:
    """Turn 1: inspect_model and list_helpers together; turn 2: code with a NameError; turn 3: the
    fixed code once the NameError came back, except for z2, which never gets fixed."""
    task = request["messages"][1]["content"]
    plan_id, attempt = re.search(r"traversals/(\w+)/attempt_(\d+)", task).groups()
    folder = f"traversals/{plan_id}/attempt_{attempt}"
    good = traversal_code(plan_id, int(attempt), folder)
    broken = good.replace("z = traverse(", "z = travers(")
    turn = 1 + sum(m["role"] == "assistant" for m in request["messages"])
    if turn == 1:
        return ToolCallReply([ToolCall("inspect_model", {}), ToolCall("list_helpers", {})])
    if turn == 2 or plan_id == "z2":
        return ToolCallReply([ToolCall("run_code", {"code": broken})])
    observation = json.loads(request["messages"][-1]["content"])
    assert observation["error"]["ename"] == "NameError"
    return ToolCallReply([ToolCall("run_code", {"code": good})])


def vision_reply(request: dict) -> TextReply:
    user_text = next(part["text"] for part in request["messages"][-1]["content"] if part["type"] == "text")
    text = "The square moves from left to right." if "Latent z0" in user_text else "The square grows bigger."
    return TextReply([text])


def reply_for(request: dict):
    return coder_reply(request) if request.get("tools") else vision_reply(request)


@pytest.mark.slow
def test_llm_coder_repairs_its_code_over_http(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LATENT_EXPLAINER_CODER_MAX_TURNS", "3")
    out = tmp_path / "run"
    with OpenAIServer(reply_for) as server:
        code = main(["explain", "--model", f"{FIXTURE}:build", "--out", str(out), "--llm", "openai:coder-test",
                     "--llm-base-url", server.base_url, "--n-samples", str(N_SAMPLES), "--frames", str(FRAMES),
                     "--max-attempts", "1", "--quiet"])
        requests = list(server.requests)
    assert code == 0
    by_id = {e["id"]: e for e in json.loads((out / "results.json").read_text())["latents"]}
    assert by_id["z0"]["status"] == "explained" and by_id["z0"]["explanation"] == "The square moves from left to right."
    assert by_id["z1"]["status"] == "explained"
    assert by_id["z2"]["status"] == "failed"
    assert by_id["z2"]["error"] == "coder failed after 3 turns: NameError: name 'travers' is not defined"

    traced = {e["id"]: e for e in read_trace(out).latents}  # every turn is in the trace
    coder_steps = [s for s in traced["z0"]["steps"] if s["node"] == "coder" and "turn" in s]
    assert [(s["turn"], s["tool"]) for s in coder_steps] == [(1, "inspect_model"), (1, "list_helpers"),
                                                             (2, "run_code"), (3, "run_code")]
    assert {s["coder"] for s in coder_steps} == {"llm:coder-test"}
    assert coder_steps[0]["observation"]["model"]["latent_dim"] == 3
    assert coder_steps[-1]["observation"]["validation"] == "valid"

    coder_requests = [r for r in requests if r.get("tools")]
    assert len(coder_requests) == 3 + 3 + 3
    assert {t["function"]["name"] for t in coder_requests[0]["tools"]} == {"run_code", "inspect_model", "list_helpers"}
    assert all(r["temperature"] == 0 for r in coder_requests)
    second_turns = [r for r in coder_requests if sum(m["role"] == "assistant" for m in r["messages"]) == 1]
    for request in second_turns:  # both tool calls of turn 1 were answered, by id
        asked = [c["id"] for c in request["messages"][2]["tool_calls"]]
        assert [m["tool_call_id"] for m in request["messages"][3:]] == asked
    assert "save_traversal" in coder_requests[0]["messages"][0]["content"]
