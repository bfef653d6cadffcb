"""sample_explanations against a real local OpenAI-compatible HTTP server: one request for n
structured answers with the image once, the plain-text fallback when response_format is
rejected, and the errors it leaves to the caller."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from agent.llm.client import LLMRequestFailed, LLMSession
from agent.llm.retry import RetryPolicy
from agent.llm.usage import Usage
from agent.llm_config import LLMConfig, LLMUnavailable
from agent.vision_client import parse_structured, sample_explanations
from tests.openai_server import ErrorReply, JsonReply, OpenAIServer, TextReply, model_not_found
from tools.certainty.claims import EXPLANATION_JSON_SCHEMA

FAST = RetryPolicy(max_retries=1, base_s=0.01, cap_s=0.1)


def tiny_png() -> bytes:
    """A 4x4 RGB PNG with one red pixel."""
    image = Image.new("RGB", (4, 4), (0, 0, 0))
    image.putpixel((1, 2), (255, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def client_for(base_url: str, model: str = "test-model"):
    return LLMSession(policy=FAST).client(LLMConfig("openai", model, base_url, None, timeout_s=5.0))


def image_parts(body: dict) -> list[dict]:
    return [part for message in body["messages"] if isinstance(message["content"], list)
            for part in message["content"] if part.get("type") == "image_url"]


ANSWER = {"explanation": "The square moves from left to right.", "claims": [{"property": "Position_X", "change": "left_to_right"}]}


def test_one_request_carries_image_once_and_asks_for_n_structured_choices():
    png = tiny_png()
    usage = Usage()
    with OpenAIServer(JsonReply(ANSWER)) as server:
        answer = sample_explanations(client_for(server.base_url), "You explain latents.", "What changes?", png, 3, 0.7, usage)
        requests = server.requests
    assert answer.samples == ["The square moves from left to right."] * 3
    assert answer.claims == [[{"property": "position_x", "change": "left_to_right"}]] * 3
    assert answer.structured
    assert len(requests) == 1 and usage.requests == 1
    body = requests[0]
    assert body["n"] == 3 and body["temperature"] == 0.7 and body["model"] == "test-model"
    assert body["response_format"] == {"type": "json_schema", "json_schema": EXPLANATION_JSON_SCHEMA}
    assert body["messages"][0] == {"role": "system", "content": "You explain latents."}
    assert [part["type"] for part in body["messages"][1]["content"]] == ["text", "image_url"]
    parts = image_parts(body)
    assert len(parts) == 1
    assert base64.b64decode(parts[0]["image_url"]["url"].split(",", 1)[1]) == png


def test_a_server_rejecting_response_format_is_asked_in_plain_text_from_then_on():
    def reply(request):
        if "response_format" in request:
            return ErrorReply(400, "response_format is not supported", type="invalid_request_error")
        return TextReply(["The object grows.", "It gets bigger."])

    with OpenAIServer(reply) as server:
        client = client_for(server.base_url)
        first = sample_explanations(client, "sys", "q", tiny_png(), 2)
        second = sample_explanations(client, "sys", "q2", tiny_png(), 2)
        formats = ["response_format" in r for r in server.requests]
    assert first.samples == ["The object grows.", "It gets bigger."] and first.claims == [[], []]
    assert not first.structured and not second.structured
    assert formats == [True, False, False]


def test_server_ignoring_n_is_asked_for_the_rest():
    with OpenAIServer(TextReply(['{"explanation": "x", "claims": []}'], max_choices=1)) as server:
        answer = sample_explanations(client_for(server.base_url), "sys", "q", tiny_png(), 4)
        asked = [r["n"] for r in server.requests]
    assert answer.samples == ["x"] * 4 and asked == [4, 3, 2, 1]


def test_persistent_server_errors_fail_the_request_not_the_run():
    with OpenAIServer([TextReply(["ok"]), ErrorReply(500, "down"), ErrorReply(500, "down")]) as server:
        client = client_for(server.base_url)
        sample_explanations(client, "sys", "q", tiny_png(), 1)
        with pytest.raises(LLMRequestFailed, match="HTTP 500: down"):
            sample_explanations(client, "sys", "q2", tiny_png(), 1)


def test_unknown_model_on_the_first_request_is_unavailable_naming_model_and_url():
    with OpenAIServer(TextReply(["x"]), models=["real-model"]) as server:
        with pytest.raises(LLMUnavailable) as caught:
            sample_explanations(client_for(server.base_url, model="gpt-nope"), "sys", "q", tiny_png(), 2)
        base_url = server.base_url
    message = str(caught.value)
    assert "gpt-nope" in message and base_url in message and "\n" not in message
    assert model_not_found("gpt-nope").status == 404


def test_bad_arguments_are_rejected_before_any_request():
    with OpenAIServer(TextReply(["x"])) as server:
        with pytest.raises(ValueError, match="PNG"):
            sample_explanations(client_for(server.base_url), "sys", "q", b"GIF89a....", 2)
        with pytest.raises(ValueError, match="n must be"):
            sample_explanations(client_for(server.base_url), "sys", "q", tiny_png(), 0)
        assert server.requests == []


def test_parse_structured_keeps_text_and_valid_claims():
    assert parse_structured("No clear change.") == ("No clear change.", [])
    fenced = '```json\n{"explanation": "Grows.", "claims": [{"property": "size", "change": "bigger"}, {"oops": 1}]}\n```'
    assert parse_structured(fenced) == ("Grows.", [{"property": "size", "change": "bigger"}])
    assert parse_structured('{"claims": []}') == ('{"claims": []}', [])
