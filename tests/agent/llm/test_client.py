"""LLMClient over real HTTP against the local OpenAI-compatible server: retries on every fault
kind, the first-request refusal, the response cache, usage accounting, the budget and the bound
on requests in flight."""

from __future__ import annotations

import threading
import time

import pytest

from agent.llm.cache import ResponseCache, cache_key
from agent.llm.client import LLMHTTPError, LLMRequestFailed, LLMSession
from agent.llm.retry import RetryPolicy, retry_after_seconds
from agent.llm.usage import BudgetExhausted, TokenBudget, Usage, charging
from agent.llm_config import LLMConfig, LLMUnavailable
from tests.openai_server import (
    ErrorReply,
    FaultPlan,
    MalformedReply,
    OpenAIServer,
    ResetReply,
    TextReply,
    invalid_api_key,
)

FAST = RetryPolicy(max_retries=3, base_s=0.01, cap_s=0.5)


def config_for(server: OpenAIServer | None, timeout_s: float = 5.0, url: str | None = None) -> LLMConfig:
    return LLMConfig("openai", "test-model", url or server.base_url, None, timeout_s=timeout_s)


def body(text: str = "hello", n: int = 1) -> dict:
    return {"messages": [{"role": "user", "content": text}], "n": n, "temperature": 1.0}


def test_each_fault_kind_is_retried_until_an_answer(tmp_path):
    script = [ErrorReply(429, "slow down", retry_after="0.2"), ErrorReply(503, "busy"), MalformedReply(),
              ResetReply(), TextReply(["ok"])]
    session = LLMSession(policy=RetryPolicy(max_retries=4, base_s=0.01, cap_s=0.5))
    usage = Usage()
    with OpenAIServer(script) as server:
        started = time.monotonic()
        answer = session.client(config_for(server)).chat(body(), usage)
        elapsed = time.monotonic() - started
    assert answer["choices"][0]["message"]["content"] == "ok"
    assert usage.requests == 5 and usage.retries == 4
    assert elapsed >= 0.2  # the 429's Retry-After was honoured
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert session.usage.to_dict() == usage.to_dict()


def test_a_request_that_keeps_failing_is_one_line_after_its_retries():
    with OpenAIServer(ErrorReply(500, "boom")) as server:
        client = LLMSession(policy=FAST).client(config_for(server))
        with pytest.raises(LLMRequestFailed) as caught:
            client.chat(body())
        assert len(server.requests) == FAST.max_retries + 1
    message = str(caught.value)
    assert "\n" not in message and "4 attempts" in message and "HTTP 500: boom" in message


def test_timeouts_are_retried_then_reported():
    with OpenAIServer([TextReply(["late"], delay_s=1.0), TextReply(["in time"])]) as server:
        answer = LLMSession(policy=FAST).client(config_for(server, timeout_s=0.3)).chat(body())
    assert answer["choices"][0]["message"]["content"] == "in time"


def test_fewer_choices_than_asked_are_asked_for_again():
    with OpenAIServer(TextReply(["a", "b", "c"], max_choices=2)) as server:
        answer = LLMSession(policy=FAST).client(config_for(server)).chat(body(n=5))
        asked = [r["n"] for r in server.requests]
    assert asked == [5, 3, 1]
    assert [c["index"] for c in answer["choices"]] == [0, 1, 2, 3, 4]


def test_refusal_before_any_answer_stops_the_run_but_later_refusals_are_latent_level():
    with OpenAIServer(invalid_api_key()) as server:
        with pytest.raises(LLMUnavailable, match="refused the API key"):
            LLMSession(policy=FAST).client(config_for(server)).chat(body())
        assert len(server.requests) == 1  # not retried
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        LLMSession(policy=FAST).client(config_for(None, url="http://127.0.0.1:9/v1")).chat(body())
    with OpenAIServer([TextReply(["ok"]), invalid_api_key()]) as server:
        client = LLMSession(policy=FAST).client(config_for(server))
        client.chat(body("first"))
        with pytest.raises(LLMHTTPError) as caught:
            client.chat(body("second"))
    assert caught.value.status == 401 and not isinstance(caught.value, LLMUnavailable)


def test_the_cache_answers_a_repeated_request_without_sending_it(tmp_path):
    image = "data:image/png;base64," + "A" * 100
    request = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}],
               "n": 2, "temperature": 1.0}
    with OpenAIServer(TextReply(["x", "y"])) as server:
        first_usage, second_usage = Usage(), Usage()
        LLMSession(cache=ResponseCache(tmp_path / "c.sqlite"), policy=FAST).client(config_for(server)).chat(request, first_usage)
        again = LLMSession(cache=ResponseCache(tmp_path / "c.sqlite"), policy=FAST).client(config_for(server))
        answer = again.chat(request, second_usage)
        again.chat({**request, "temperature": 0.5}, second_usage)  # a different key: sent
        sent = len(server.requests)
    assert [c["message"]["content"] for c in answer["choices"]] == ["x", "y"]
    assert sent == 2
    assert first_usage.requests == 1 and second_usage.cache_hits == 1 and second_usage.requests == 1
    key = cache_key("http://h/v1", request)
    assert key == cache_key("http://h/v1/", request)
    assert key != cache_key("http://h/v1", {**request, "n": 3})
    other_image = {**request, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": image + "B"}}]}]}
    assert key != cache_key("http://h/v1", other_image)


def test_the_budget_stops_new_requests_once_spent():
    session = LLMSession(policy=FAST, budget=TokenBudget(limit=1))
    with OpenAIServer(TextReply(["one two three"])) as server:
        client = session.client(config_for(server))
        client.chat(body("first"))
        with pytest.raises(BudgetExhausted, match="budget"):
            client.chat(body("second"))
        assert len(server.requests) == 1


def test_requests_in_flight_are_bounded_by_the_session():
    session = LLMSession(policy=FAST, max_concurrency=3)
    with OpenAIServer(TextReply(["ok"]), latency_s=0.2) as server:
        client = session.client(config_for(server))
        threads = [threading.Thread(target=client.chat, args=(body(f"q{i}"),)) for i in range(9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        peak = server.peak_in_flight
    assert peak == 3 and session.peak_in_flight == 3


def test_langchain_requests_go_through_the_client_and_are_charged():
    from langchain_core.messages import HumanMessage

    session = LLMSession(policy=FAST)
    usage = Usage()
    with OpenAIServer([ErrorReply(500, "once"), TextReply(["hi there"])]) as server:
        chat = session.client(config_for(server)).chat_model(temperature=0.0)
        with charging(usage):
            reply = chat.invoke([HumanMessage("hello")])
    assert reply.content == "hi there"
    assert usage.requests == 2 and usage.retries == 1 and usage.completion_tokens > 0


def test_twenty_percent_faults_all_end_answered():
    session = LLMSession(policy=RetryPolicy(max_retries=6, base_s=0.01, cap_s=0.2))
    with OpenAIServer(TextReply(["a", "b"]), faults=FaultPlan(0.2, seed=3, retry_after_s=0.01)) as server:
        client = session.client(config_for(server))
        answers = [client.chat(body(f"q{i}", n=2)) for i in range(30)]
        injected = server.faults_injected
    assert all(len(a["choices"]) == 2 for a in answers)
    assert len(injected) >= 3 and set(injected) <= {"429", "500", "malformed", "fewer_choices"}


def test_retry_after_reads_seconds_and_dates():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    policy = RetryPolicy(max_retries=2, base_s=1.0, cap_s=4.0)
    assert 0 <= policy.wait_s(5) <= 4.0 and policy.wait_s(0, retry_after_s=3.0) == 3.0
