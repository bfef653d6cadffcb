"""The scripted test server speaks enough of the OpenAI protocol for the real clients: plain HTTP,
langchain-openai tool calling and structured output."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from pydantic import BaseModel

from agent.llm.chat import build_chat_model
from agent.llm_config import LLMConfig
from tests.openai_server import (
    JsonReply,
    OpenAIServer,
    ScriptError,
    TextReply,
    ToolCall,
    ToolCallReply,
)


def post(url: str, body: dict) -> tuple[int, dict]:
    """POST JSON; (status, parsed JSON answer) for success and HTTP errors alike."""
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def config_for(server: OpenAIServer) -> LLMConfig:
    return LLMConfig("openai", "test-model", server.base_url, None, timeout_s=5, max_retries=0)


def test_plain_http_answer_has_choices_and_usage():
    with OpenAIServer(TextReply(["one", "two"]), models=["m"]) as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        status, answer = post(server.base_url + "/chat/completions", {"model": "m", "messages": [], "n": 3})
        with urllib.request.urlopen(server.base_url + "/models", timeout=5) as response:
            models = json.loads(response.read())

    assert status == 200
    assert answer["object"] == "chat.completion"
    assert [c["message"]["content"] for c in answer["choices"]] == ["one", "two", "one"]
    assert {c["finish_reason"] for c in answer["choices"]} == {"stop"}
    usage = answer["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert [m["id"] for m in models["data"]] == ["m"]


def test_stream_bad_body_unknown_model_and_route_are_http_errors():
    with OpenAIServer(TextReply(["x"]), models=["m"]) as server:
        url = server.base_url + "/chat/completions"
        stream_status, stream_answer = post(url, {"model": "m", "messages": [], "stream": True})
        bad_status, _ = post(url, {"messages": []})
        model_status, model_answer = post(url, {"model": "other", "messages": []})
        route_status, _ = post(server.base_url + "/completions", {"model": "m", "prompt": "x"})
        assert len(server.records) == 4 and server.requests[0]["stream"] is True

    assert stream_status == 400 and "streaming is not supported" in stream_answer["error"]["message"]
    assert bad_status == 400
    assert model_status == 404 and model_answer["error"]["code"] == "model_not_found"
    assert route_status == 404


def test_exhausted_script_answers_500_and_fails_the_test_at_exit():
    with pytest.raises(ScriptError, match="script ran out"):
        with OpenAIServer([TextReply(["only"])]) as server:
            url = server.base_url + "/chat/completions"
            assert post(url, {"model": "m", "messages": []})[0] == 200
            status, answer = post(url, {"model": "m", "messages": []})
            assert status == 500 and "ran out" in answer["error"]["message"]


def test_tool_call_round_trip_through_langchain():
    script = [
        ToolCallReply([ToolCall("run_code", {"code": "print(1)"}, id="call_a")]),
        TextReply(["done: 1"]),
    ]

    def run_code(code: str) -> str:
        """Run Python code in the sandbox and return its output."""
        return "1"

    with OpenAIServer(script) as server:
        model = build_chat_model(config_for(server)).bind_tools([run_code])
        first = model.invoke([("user", "print one")])
        assert first.tool_calls == [{"name": "run_code", "args": {"code": "print(1)"}, "id": "call_a", "type": "tool_call"}]
        assert first.response_metadata["finish_reason"] == "tool_calls"
        from langchain_core.messages import HumanMessage, ToolMessage

        final = model.invoke([HumanMessage("print one"), first, ToolMessage("1", tool_call_id="call_a")])
        first_body, second_body = server.requests

    assert final.content == "done: 1"
    assert first_body["tools"][0]["function"]["name"] == "run_code"
    assert "code" in first_body["tools"][0]["function"]["parameters"]["properties"]
    assert second_body["messages"][1]["tool_calls"][0]["id"] == "call_a"
    assert second_body["messages"][2] == {"role": "tool", "content": "1", "tool_call_id": "call_a"}
    assert final.usage_metadata["total_tokens"] > 0


class RunSpecish(BaseModel):
    model: str
    n_samples: int


def test_structured_output_json_schema_and_function_calling():
    script = [
        JsonReply({"model": "dsprites", "n_samples": 5}),
        ToolCallReply([ToolCall("RunSpecish", {"model": "celeba", "n_samples": 3})]),
    ]
    with OpenAIServer(script) as server:
        chat = build_chat_model(config_for(server), temperature=0.0)
        by_schema = chat.with_structured_output(RunSpecish).invoke("explain dsprites, 5 samples")
        by_tool = chat.with_structured_output(RunSpecish, method="function_calling").invoke("celeba, 3")
        schema_body, tool_body = server.requests

    assert by_schema == RunSpecish(model="dsprites", n_samples=5)
    assert by_tool == RunSpecish(model="celeba", n_samples=3)
    assert schema_body["response_format"]["type"] == "json_schema"
    assert schema_body["response_format"]["json_schema"]["name"] == "RunSpecish"
    assert tool_body["tools"][0]["function"]["name"] == "RunSpecish"


def test_stop_returns_promptly_while_a_reply_is_delayed():
    outcome: list[BaseException] = []

    def call(url: str) -> None:
        try:
            post(url, {"model": "m", "messages": []})
        except (OSError, http.client.HTTPException) as error:
            outcome.append(error)

    with OpenAIServer(TextReply(["late"], delay_s=30.0)) as server:
        client = threading.Thread(target=call, args=(server.base_url + "/chat/completions",))
        client.start()
        deadline = time.monotonic() + 5
        while not server.records and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.monotonic()
    client.join(timeout=5)

    assert time.monotonic() - start < 5.0
    assert not client.is_alive()
    assert len(outcome) == 1  # the connection closed without an answer


def test_image_tokens_follow_openais_worked_examples():
    from tests.openai_server import image_tokens

    assert image_tokens(1024, 1024) == 765  # OpenAI's example: 1024 x 1024 at high detail
    assert image_tokens(2048, 4096) == 1105  # and 2048 x 4096
    assert image_tokens(4096, 8192, detail="low") == 85
    assert image_tokens(64, 64) == 255  # one tile, however small


def test_faults_latency_and_retry_after_are_served():
    import httpx

    from tests.openai_server import FaultPlan, MalformedReply

    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}
    with OpenAIServer(TextReply(["a"]), faults=FaultPlan(1.0, seed=0, kinds=("429",), retry_after_s=2)) as server:
        answer = httpx.post(server.base_url + "/chat/completions", json=body)
        assert answer.status_code == 429 and answer.headers["retry-after"] == "2"
        assert server.faults_injected == ["429"]
    with OpenAIServer(TextReply(["a"]), faults=FaultPlan(1.0, kinds=("fewer_choices",)), latency_s=0.2) as server:
        started = time.monotonic()
        answer = httpx.post(server.base_url + "/chat/completions", json=body).json()
        assert time.monotonic() - started >= 0.2 and len(answer["choices"]) == 1
    with OpenAIServer(MalformedReply()) as server:
        answer = httpx.post(server.base_url + "/chat/completions", json=body)
        assert answer.status_code == 200
        with pytest.raises(ValueError):
            answer.json()
