"""The MLLM path end to end against the real local OpenAI-compatible server (tests/openai_server.py):
a vision-only model beside the template coder, under injected faults, accounted, then answered
from the response cache on a re-run; the token budget; a refused key on the first request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from tests.openai_server import ErrorReply, FaultPlan, JsonReply, OpenAIServer, invalid_api_key

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"
ANSWERS = {
    "z0": {"explanation": "The square moves from left to right.", "claims": [{"property": "position_x", "change": "left_to_right"}]},
    "z1": {"explanation": "The square grows bigger.", "claims": [{"property": "size", "change": "bigger"}]},
    "z2": {"explanation": "The square gets brighter.", "claims": [{"property": "brightness", "change": "lighter"}]},
}


def vision_only(request: dict):
    """A vision model without tool calling (LLaVA through Ollama, many vLLM deployments): a
    request with tools is refused; otherwise it answers from the latent named in the prompt."""
    if request.get("tools"):
        return ErrorReply(400, "this model does not support tools", type="invalid_request_error")
    text = next(part["text"] for part in request["messages"][-1]["content"] if part["type"] == "text")
    latent = text.split()[1].rstrip(",")
    return JsonReply(ANSWERS[latent])


def explain(out: Path, base_url: str, *extra: str) -> int:
    return main(["explain", "--model", f"{FIXTURE}:build", "--out", str(out), "--llm", "openai:llava",
                 "--coder-llm", "template", "--llm-base-url", base_url, "--n-samples", "3", "--frames", "5",
                 "--max-attempts", "1", "--quiet", *extra])


@pytest.mark.slow
def test_vision_only_model_under_faults_is_accounted_then_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    faults = FaultPlan(0.4, seed=1, retry_after_s=0.05)
    with OpenAIServer(vision_only, faults=faults) as server:
        code = explain(tmp_path / "first", server.base_url, "--llm-max-retries", "8")
        sent, injected, port = list(server.requests), server.faults_injected, server.port
    assert code == 0 and "Traceback" not in capsys.readouterr().err
    results = json.loads((tmp_path / "first" / "results.json").read_text())
    assert results["backend"] == {"vision": "openai:llava", "coder": "template"}
    assert not any(r.get("tools") for r in sent)  # the vision-only model never got a coder request
    assert injected  # faults really happened, and were retried
    by_id = {e["id"]: e for e in results["latents"]}
    assert {i: e["status"] for i, e in by_id.items()} == {"z0": "explained", "z1": "explained", "z2": "unclear"}
    assert by_id["z2"]["reason"].startswith("frames barely change")  # latent 2 of the fixture does nothing
    assert by_id["z1"]["explanation"] == "The square grows bigger."
    assert by_id["z1"]["sample_claims"] == [[{"property": "size", "change": "bigger"}]] * 3
    run = results["usage"]
    assert run["requests"] == len(sent) and run["cache_hits"] == 0
    assert run["retries"] >= 1 and run["prompt_tokens"] > 0 and run["completion_tokens"] > 0
    assert sum(e["usage"]["requests"] for e in by_id.values()) == len(sent)
    report = (tmp_path / "first" / "report.html").read_text()
    assert f"LLM cost</dt><dd>{run['requests']} requests, {run['prompt_tokens']} prompt" in report
    capsys.readouterr()
    assert main(["trace", str(tmp_path / "first")]) == 0
    shown = capsys.readouterr().out
    assert f"LLM: {by_id['z1']['usage']['requests']} requests" in shown and "retr" in shown

    texts = [r["messages"][-1]["content"][0]["text"] for r in sent]
    user_text = next(text for text in texts if text.startswith("Latent z0,"))
    assert "3 rows" in user_text and "just-noticeable differences" in user_text  # numbers with units
    for quantity in results["latents"][0]["measurements"]["quantities"].values():
        assert not quantity.get("phrase") or quantity["phrase"] not in user_text  # no describer phrases

    with OpenAIServer(vision_only, port=port) as server:  # the same traversals again: all from the cache
        assert explain(tmp_path / "again", server.base_url) == 0
        assert server.requests == []
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again["usage"]["requests"] == 0 and again["usage"]["cache_hits"] == 3
    assert [e["samples"] for e in again["latents"]] == [e["samples"] for e in results["latents"]]

    with OpenAIServer(vision_only, port=port) as server:  # --no-cache sends them again
        assert explain(tmp_path / "uncached", server.base_url, "--no-cache") == 0
        assert len(server.requests) == 3


@pytest.mark.slow
def test_budget_stops_new_requests_and_leaves_the_rest_unclear(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with OpenAIServer(vision_only) as server:
        code = explain(tmp_path / "run", server.base_url, "--budget-tokens", "1", "--max-concurrency", "1")
        sent = len(server.requests)
    assert code == 0 and sent == 1
    latents = json.loads((tmp_path / "run" / "results.json").read_text())["latents"]
    budget = [e for e in latents if e["status"] == "unclear" and e["reason"].startswith("budget:")]
    assert len(budget) == 2 and all(e["usage"]["requests"] == 0 for e in budget)


def test_a_key_refused_on_the_first_request_stops_the_run_with_one_line(tmp_path, capsys):
    with OpenAIServer(invalid_api_key()) as server:
        code = explain(tmp_path / "run", server.base_url, "--max-concurrency", "1")
        sent = len(server.requests)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and sent == 1
    assert "refused the API key" in err[-1] and "Traceback" not in "\n".join(err)


def test_a_vision_only_model_as_coder_fails_each_latent_with_the_reason(tmp_path, monkeypatch, capsys):
    """Without --coder-llm template, the coder's tool-calling requests are refused (HTTP 400):
    every latent ends "failed" naming that, the run still ends with exit 0 and no traceback."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with OpenAIServer(vision_only) as server:
        code = main(["explain", "--model", f"{FIXTURE}:build", "--out", str(tmp_path / "run"), "--llm", "openai:llava",
                     "--llm-base-url", server.base_url, "--n-samples", "2", "--frames", "3", "--max-attempts", "1",
                     "--quiet"])
    assert code == 0 and "Traceback" not in capsys.readouterr().err
    latents = json.loads((tmp_path / "run" / "results.json").read_text())["latents"]
    assert {e["status"] for e in latents} == {"failed"}
    assert all("HTTP 400" in e["error"] and "does not support tools" in e["error"] for e in latents)
