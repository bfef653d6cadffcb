"""sample_explanations against a real local OpenAI-compatible HTTP server."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time

import pytest
from PIL import Image

from agent.llm_config import LLMConfig, LLMUnavailable
from agent.vision_client import sample_explanations
from tests.openai_server import OpenAIServer, TextReply


def tiny_png() -> bytes:
    """A 4x4 RGB PNG with one red pixel."""
    image = Image.new("RGB", (4, 4), (0, 0, 0))
    image.putpixel((1, 2), (255, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def config_for(base_url: str, model: str = "test-model") -> LLMConfig:
    return LLMConfig("openai", model, base_url, None, timeout_s=5.0, max_retries=0)


def image_parts(body: dict) -> list[dict]:
    return [
        part
        for message in body["messages"]
        if isinstance(message["content"], list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]


def test_one_request_carries_image_once_and_asks_for_n_choices():
    png = tiny_png()
    with OpenAIServer(TextReply(["size grows", "object gets bigger", "scale increases"])) as server:
        texts = sample_explanations(config_for(server.base_url), "You explain latents.", "What changes?", png, 3, 0.7)
        requests = server.requests

    assert texts == ["size grows", "object gets bigger", "scale increases"]
    assert len(requests) == 1
    body = requests[0]
    assert body["n"] == 3
    assert body["temperature"] == 0.7
    assert body["model"] == "test-model"
    assert body["messages"][0] == {"role": "system", "content": "You explain latents."}
    user = body["messages"][1]
    assert user["role"] == "user"
    assert [part["type"] for part in user["content"]] == ["text", "image_url"]
    assert user["content"][0]["text"] == "What changes?"
    parts = image_parts(body)
    assert len(parts) == 1
    prefix = "data:image/png;base64,"
    url = parts[0]["image_url"]["url"]
    assert url.startswith(prefix)
    assert base64.b64decode(url[len(prefix) :]) == png


def test_server_ignoring_n_is_filled_up_with_single_choice_requests():
    with OpenAIServer(TextReply(["moves right"], max_choices=1)) as server:
        texts = sample_explanations(config_for(server.base_url), "sys", "What changes?", tiny_png(), 4)
        requests = server.requests

    assert texts == ["moves right"] * 4
    assert len(requests) == 4
    assert requests[0]["n"] == 4
    assert all(body.get("n", 1) == 1 for body in requests[1:])
    assert all(len(image_parts(body)) == 1 for body in requests)


def test_partial_choices_are_kept_and_only_the_missing_number_is_requested():
    with OpenAIServer(TextReply(["a", "b"], max_choices=2)) as server:
        texts = sample_explanations(config_for(server.base_url), "sys", "q", tiny_png(), 5)
        assert len(server.requests) == 1 + 3

    assert len(texts) == 5
    assert texts[:2] == ["a", "b"]
    assert texts[2:] == ["a", "a", "a"]


def test_fill_up_requests_run_in_parallel():
    missing = 3
    barrier = threading.Barrier(missing, timeout=5)

    def script(body: dict) -> TextReply:
        if body.get("n", 1) > 1:
            return TextReply(["first"], max_choices=1)
        barrier.wait()  # breaks (HTTP 500, ScriptError) unless all fill-up requests are in flight at once
        return TextReply(["extra"])

    with OpenAIServer(script) as server:
        texts = sample_explanations(config_for(server.base_url), "sys", "q", tiny_png(), 1 + missing)

    assert texts == ["first"] + ["extra"] * missing


def test_more_choices_than_asked_are_cut_to_n():
    def script(body: dict) -> TextReply:
        return TextReply(["x", "y", "z"])

    with OpenAIServer(script) as server:
        # The server answers n choices; ask for 2 and check exactly 2 come back from 1 request.
        texts = sample_explanations(config_for(server.base_url), "", "q", tiny_png(), 2)
        body = server.requests[0]

    assert texts == ["x", "y"]
    assert [message["role"] for message in body["messages"]] == ["user"]


def test_server_with_no_choices_is_unavailable():
    with OpenAIServer(TextReply(["never"], max_choices=0)) as server:
        with pytest.raises(LLMUnavailable, match="returned no choices"):
            sample_explanations(config_for(server.base_url), "sys", "q", tiny_png(), 2)


def test_unreachable_endpoint_fails_fast_with_one_line_naming_the_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"  # closed now: nothing listens there

    start = time.monotonic()
    with pytest.raises(LLMUnavailable) as caught:
        sample_explanations(config_for(base_url), "sys", "q", tiny_png(), 3)
    elapsed = time.monotonic() - start

    message = str(caught.value)
    assert base_url in message
    assert "cannot reach" in message
    assert "--llm-base-url" in message  # the flag `explain` really has
    assert "\n" not in message
    assert elapsed < 5.0


def test_unknown_model_is_unavailable_naming_model_and_url():
    with OpenAIServer(TextReply(["unused"]), models=["llava"]) as server:
        with pytest.raises(LLMUnavailable) as caught:
            sample_explanations(config_for(server.base_url, model="gpt-nope"), "sys", "q", tiny_png(), 2)
        base_url = server.base_url

    message = str(caught.value)
    assert "HTTP 404" in message and "'gpt-nope'" in message and base_url in message
    assert "\n" not in message


def test_bad_arguments_are_rejected_before_any_request():
    with OpenAIServer(TextReply(["unused"])) as server:
        with pytest.raises(ValueError, match="PNG"):
            sample_explanations(config_for(server.base_url), "sys", "q", b"GIF89a....", 2)
        with pytest.raises(ValueError, match="n must be >= 1"):
            sample_explanations(config_for(server.base_url), "sys", "q", tiny_png(), 0)
        assert server.requests == []
