"""The same graph with `--llm openai:MODEL` against a real local OpenAI-compatible server."""

import base64
import json
from pathlib import Path

import pytest

from agent.cli import main
from tests.openai_server import OpenAIServer, TextReply, ToolCall, ToolCallReply

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"


def reply_for(request: dict):
    """An MLLM stand-in that answers from the latent named in the prompt, returning fewer
    choices than asked for latent z1 (as many servers do). Coder requests (with tools) get the
    template's code back as a run_code call, then a plain answer once it is valid."""
    if request.get("tools"):
        return coder_reply(request)
    user_text = next(part["text"] for part in request["messages"][-1]["content"] if part["type"] == "text")
    if "Latent z0" in user_text:
        return TextReply(["The square moves from left to right."] * request.get("n", 1))
    if "Latent z1" in user_text:
        return TextReply(["The square grows bigger."] * request.get("n", 1), max_choices=1)
    return TextReply([f"Something different number {i}, maybe colour." for i in range(request.get("n", 1))])


def coder_reply(request: dict):
    """Write the traversal from `params` with the project's helpers, then stop."""
    if request["messages"][-1]["role"] == "tool":
        return TextReply(["Done: the traversal is valid."])
    code = ("import torch\nfrom tools.traversal.perturbation import *\nmodel = load_model(params['model_ref'])\n"
            "anchors = make_anchors(model, n=params['n_anchors'], seed=params['seed'])\n"
            "values = torch.tensor(params['values'])\nz = traverse(anchors, params['indices'], values)\n"
            "save_traversal(params['folder'], z=z, frames=decode_in_batches(model, z), values=values)\n")
    return ToolCallReply([ToolCall("run_code", {"code": code})])


@pytest.mark.slow
def test_explain_with_an_openai_compatible_server(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "run"
    with OpenAIServer(reply_for) as server:
        code = main(["explain", "--model", f"{FIXTURE}:build", "--out", str(out), "--llm", "openai:test-vlm",
                     "--llm-base-url", server.base_url, "--n-samples", "3", "--frames", "5",
                     "--max-attempts", "1", "--quiet"])
        requests = list(server.requests)
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["backend"]["vision"] == "openai:test-vlm"
    by_id = {e["id"]: e for e in results["latents"]}
    assert by_id["z0"]["explanation"] == "The square moves from left to right."
    assert by_id["z1"]["samples"] == ["The square grows bigger."] * 3  # filled up by extra requests
    assert by_id["z2"]["status"] == "unclear"
    vision_requests = [r for r in requests if not r.get("tools")]
    first = vision_requests[0]
    assert first["n"] == 3 and first["temperature"] == 1.0
    image_parts = [p for p in first["messages"][-1]["content"] if p["type"] == "image_url"]
    assert len(image_parts) == 1
    png = base64.b64decode(image_parts[0]["image_url"]["url"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    assert "inductive bias" in first["messages"][0]["content"]


def test_unreachable_endpoint_is_one_line(tmp_path, capsys):
    code = main(["explain", "--model", f"{FIXTURE}:build", "--out", str(tmp_path / "run"), "--llm", "openai:x",
                 "--llm-base-url", "http://127.0.0.1:9/v1", "--n-samples", "2", "--frames", "3",
                 "--max-attempts", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert "127.0.0.1:9" in err[-1] and "Traceback" not in "\n".join(err)
