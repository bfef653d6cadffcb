"""The LLM coder through `explain --llm openai:MODEL` against a real local OpenAI-compatible server
with real tool calls: it inspects, writes broken code, reads the error and repairs it, once for
the plan shape; the next latent's check fails that code, so it is repaired once; the last latent
reuses the repaired code with its own params. Coder sessions: 1 shape + 1 repair."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from agent.cli import main
from agent.trace_reader import read_trace
from tests.openai_server import OpenAIServer, TextReply, ToolCall, ToolCallReply

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"
N_SAMPLES, FRAMES = 3, 5

GOOD = ("import torch\nfrom tools.traversal.perturbation import decode_in_batches, load_model, make_anchors, "
        "save_traversal, traverse\nmodel = load_model(params['model_ref'], device=params['device'])\n"
        "anchors = make_anchors(model, n=params['n_anchors'], seed=params['seed'])\n"
        "values = torch.tensor(params['values'])\n"
        "z = traverse(anchors, indices=params['indices'], values=values, mode=params['mode'])\n"
        "save_traversal(params['folder'], z=z, frames=decode_in_batches(model, z), values=values)\n")


def coder_reply(request: dict) -> ToolCallReply:
    """A first session: turn 1 inspect_model and list_helpers; turn 2 code with a NameError; turn 3,
    once the NameError came back, code that only works for the latent it was written for. A repair
    session (its task says the shape's code failed): the general code at once."""
    task = request["messages"][1]["content"]
    params = ast.literal_eval(re.search(r"^params = (.*)$", task, re.MULTILINE).group(1))
    if "failed for this traversal" in task:
        assert "written only for" in task
        return ToolCallReply([ToolCall("run_code", {"code": GOOD})])
    turn = 1 + sum(m["role"] == "assistant" for m in request["messages"])
    if turn == 1:
        return ToolCallReply([ToolCall("inspect_model", {}), ToolCall("list_helpers", {})])
    if turn == 2:
        return ToolCallReply([ToolCall("run_code", {"code": GOOD.replace("z = traverse(", "z = travers(")})])
    observation = json.loads(request["messages"][-1]["content"])
    assert observation["error"]["ename"] == "NameError"
    only = f"if params['plan_id'] != {params['plan_id']!r}:\n    raise ValueError('written only for {params['plan_id']}')\n"
    return ToolCallReply([ToolCall("run_code", {"code": only + GOOD})])


def vision_reply(request: dict) -> TextReply:
    user_text = next(part["text"] for part in request["messages"][-1]["content"] if part["type"] == "text")
    text = "The square moves from left to right." if user_text.startswith("Latent z0,") else "The square grows bigger."
    return TextReply([text])


def reply_for(request: dict):
    return coder_reply(request) if request.get("tools") else vision_reply(request)


@pytest.mark.slow
def test_llm_coder_writes_code_once_per_shape_and_repairs_it_over_http(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LATENT_EXPLAINER_CODER_MAX_TURNS", "3")
    out = tmp_path / "run"
    with OpenAIServer(reply_for) as server:
        code = main(["explain", "--model", f"{FIXTURE}:build", "--out", str(out), "--vision-llm", "openai:vision-test",
                     "--coder-llm", "openai:coder-test", "--llm-base-url", server.base_url, "--n-samples", str(N_SAMPLES), "--frames", str(FRAMES),
                     "--max-attempts", "1", "--quiet"])
        requests = list(server.requests)
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    by_id = {e["id"]: e for e in results["latents"]}
    assert by_id["z0"]["status"] == "explained" and by_id["z0"]["explanation"] == "The square moves from left to right."
    assert by_id["z1"]["status"] == "explained" and by_id["z2"]["status"] == "unclear"  # z2 does nothing

    coder_requests = [r for r in requests if r.get("tools")]
    assert {r["model"] for r in coder_requests} == {"coder-test"}  # each role asks its own model
    assert {r["model"] for r in requests if not r.get("tools")} == {"vision-test"}
    assert results["backend"] == {"vision": "openai:vision-test", "coder": "llm:coder-test"}
    first_session = [r for r in coder_requests if "failed for this traversal" not in r["messages"][1]["content"]]
    repairs = [r for r in coder_requests if "failed for this traversal" in r["messages"][1]["content"]]
    assert len(first_session) == 3 and len(repairs) == 1  # 1 shape + 1 repair; the third latent reused the code
    assert {t["function"]["name"] for t in coder_requests[0]["tools"]} == {"run_code", "inspect_model", "list_helpers"}
    assert all(r["temperature"] == 0 for r in coder_requests)
    second_turn = [r for r in first_session if sum(m["role"] == "assistant" for m in r["messages"]) == 1][0]
    asked = [c["id"] for c in second_turn["messages"][2]["tool_calls"]]
    assert [m["tool_call_id"] for m in second_turn["messages"][3:]] == asked  # both calls answered, by id
    assert (out / "coder" / "absolute-disentanglement.py").read_text() == GOOD

    traced = {e["id"]: e for e in read_trace(out).latents}
    coder_steps = {i: [s for s in e["steps"] if s["node"] == "coder"] for i, e in traced.items()}
    sessions = {i: [s for s in steps if "turns" in s] for i, steps in coder_steps.items()}
    reused = {i: [s for s in steps if s.get("reused")] for i, steps in coder_steps.items()}
    assert sorted(len(s) for s in sessions.values()) == [0, 1, 1]  # one latent wrote, one repaired, one reused
    assert sum(len(r) for r in reused.values()) == 2  # the repairing latent tried the code first
    assert sum(s["usage"]["requests"] for steps in sessions.values() for s in steps) == len(coder_requests)
