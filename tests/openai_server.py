"""A real, scripted OpenAI-compatible chat-completions server for tests.

It listens on 127.0.0.1 on an ephemeral port in a background thread, records every request, and
answers from a script, so client code runs its real HTTP path (openai SDK, langchain-openai):

    with OpenAIServer([TextReply(["a", "b"]), ToolCallReply([ToolCall("run", {"code": "1"})])]) as server:
        config = LLMConfig("openai", "test-model", server.base_url, None, timeout_s=5, max_retries=0)
        ...
        assert server.requests[0]["n"] == 2

Endpoints:
- POST /v1/chat/completions: non-streaming only. `"stream": true` is answered with HTTP 400 and an
  OpenAI-style error saying streaming is not supported (no SSE). A body without `model` or a
  `messages` list is answered with HTTP 400. With `models` given, an unknown model gets the 404
  `model_not_found` error before the script is consulted.
- GET /v1/models: the `models` list (or the one default model).

The script is one of: a single reply (used for every request), a sequence of replies (used in order,
one per chat request), or a callable(request_json) -> reply. A reply is TextReply, JsonReply,
ToolCallReply, ErrorReply (optionally with Retry-After), MalformedReply (a 200 whose body is not a
chat completion) or ResetReply (the connection is closed without an answer). Every answer carries `usage`: prompt tokens are the words of the text parts plus
each image's tokens by OpenAI's image rule (`image_tokens`); completion tokens the words answered.

Simulation for benchmarks and fault tests: `latency_s` sleeps before every chat answer (requests
are served concurrently, so parallel requests overlap); `faults=FaultPlan(rate, seed)` replaces a
seeded random share of chat answers by an injected fault (HTTP 429 with Retry-After, HTTP 500, a
malformed body, or fewer choices than asked), recorded in `faults_injected`. `peak_in_flight` is
the most chat requests the server was answering at once.

A failing script (the callable raised, or the sequence ran out) answers HTTP 500 and, with
strict=True, is raised again as ScriptError when the context exits, so the test fails with it.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "test-model"


@dataclass(frozen=True)
class TextReply:
    """Plain assistant text. Choice i gets texts[i % len(texts)]; the number of choices is the
    request's `n`, capped at `max_choices` (set it below n to act like a server that ignores n)."""

    texts: Sequence[str]
    max_choices: int | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.texts, str) or not self.texts:
            raise ValueError("TextReply.texts must be a non-empty sequence of strings")


@dataclass(frozen=True)
class JsonReply:
    """Structured output: the content is `json.dumps(value)` (what a server returns for a
    json_schema or json_object response_format). One choice per requested `n`."""

    value: Any
    delay_s: float = 0.0


@dataclass(frozen=True)
class ToolCall:
    """One OpenAI tool call: the function `name` with JSON `arguments`; `id` defaults to call_<k>."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class ToolCallReply:
    """An assistant message with `tool_calls` and finish_reason "tool_calls"; `content` is the
    optional text beside them. One choice per requested `n`."""

    calls: Sequence[ToolCall]
    content: str | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error with an OpenAI-style body {"error": {"message", "type", "param", "code"}}."""

    status: int
    message: str
    type: str = "server_error"
    code: str | None = None
    delay_s: float = 0.0
    retry_after: str | None = None


@dataclass(frozen=True)
class MalformedReply:
    """HTTP 200 with a body that is not a chat completion (`body` as raw text)."""

    body: str = '{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess'
    delay_s: float = 0.0


@dataclass(frozen=True)
class ResetReply:
    """No answer: the server closes the connection after reading the request (a reset)."""

    delay_s: float = 0.0


FAULT_KINDS = ("429", "500", "malformed", "fewer_choices")


@dataclass(frozen=True)
class FaultPlan:
    """Inject a fault into a share `rate` of chat answers, chosen by a generator seeded with `seed`;
    the kind is drawn uniformly from `kinds` (FAULT_KINDS). "fewer_choices" answers one choice
    whatever `n` asked (only where n > 1; else it becomes a 500). 429 carries Retry-After:
    `retry_after_s` seconds."""

    rate: float
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after_s: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0 or not set(self.kinds) <= set(FAULT_KINDS) or not self.kinds:
            raise ValueError(f"FaultPlan needs 0 <= rate <= 1 and kinds from {FAULT_KINDS}")


Reply = TextReply | JsonReply | ToolCallReply | ErrorReply | MalformedReply | ResetReply
Script = Reply | Sequence[Reply] | Callable[[dict[str, Any]], Reply]


def model_not_found(model: str) -> ErrorReply:
    """The 404 an OpenAI endpoint gives for a model it does not serve."""
    return ErrorReply(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        type="invalid_request_error",
        code="model_not_found",
    )


def invalid_api_key() -> ErrorReply:
    """The 401 an OpenAI endpoint gives for a key it does not accept."""
    return ErrorReply(401, "Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key")


class ScriptError(AssertionError):
    """The script failed to answer a request (it raised, or the sequence ran out)."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received: method, path, lower-cased headers, and the JSON body (None
    for GET or an unparsable body)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class _State:
    """What the handler threads share, guarded by `lock`."""

    script: Script
    models: tuple[str, ...] | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    records: list[RecordedRequest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    next_reply: int = 0
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    stopping: threading.Event = field(default_factory=threading.Event)
    connections: set[socket.socket] = field(default_factory=set)
    latency_s: float = 0.0
    faults: FaultPlan | None = None
    fault_rng: random.Random | None = None
    faults_injected: list[str] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0


class OpenAIServer:
    """A scripted OpenAI-compatible server on 127.0.0.1, running while the context is open.

    script: see the module docstring. models: the model names served (None: any model is accepted
    and GET /v1/models lists DEFAULT_MODEL). strict: raise ScriptError at exit if the script failed.
    latency_s: seconds slept before every chat answer. faults: a FaultPlan, or None. port: 0 for an
    ephemeral port, or a given one (e.g. an earlier server's, to serve the same base URL again).
    """

    def __init__(self, script: Script, models: Sequence[str] | None = None, strict: bool = True,
                 latency_s: float = 0.0, faults: FaultPlan | None = None, port: int = 0) -> None:
        self._port = port
        self._state = _State(script=script, models=tuple(models) if models is not None else None,
                             latency_s=latency_s, faults=faults,
                             fault_rng=random.Random(faults.seed) if faults is not None else None)
        self._strict = strict
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> OpenAIServer:
        state = self._state
        handler = type("BoundHandler", (_Handler,), {"state": state})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-test-server", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.stop()
        if self._strict and exc_type is None and self.errors:
            raise ScriptError("; ".join(self.errors))

    def stop(self) -> None:
        """Stop serving, wake delayed replies and close open connections (idempotent)."""
        if self._httpd is None:
            return
        self._state.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._state.lock:
            open_connections = list(self._state.connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    @property
    def port(self) -> int:
        """The ephemeral TCP port on 127.0.0.1."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it inside `with OpenAIServer(...)`")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. "http://127.0.0.1:PORT/v1"."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat-completions requests received so far, in arrival order."""
        return [r.body for r in self.records if r.path == "/v1/chat/completions" and r.body is not None]

    @property
    def records(self) -> list[RecordedRequest]:
        """Every request received so far (any path and method), in arrival order."""
        with self._state.lock:
            return list(self._state.records)

    @property
    def faults_injected(self) -> list[str]:
        """The kinds of the faults injected so far, in order."""
        with self._state.lock:
            return list(self._state.faults_injected)

    @property
    def peak_in_flight(self) -> int:
        """The most chat requests answered at the same time so far."""
        with self._state.lock:
            return self._state.peak_in_flight

    @property
    def errors(self) -> list[str]:
        """Script failures so far, one line each."""
        with self._state.lock:
            return list(self._state.errors)


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests from the shared `state` (set on a per-server subclass)."""

    state: _State
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.connections.add(self.connection)

    def finish(self) -> None:
        with self.state.lock:
            self.state.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read `records`, not stderr."""

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/") == "/v1/models":
            names = self.state.models if self.state.models is not None else (DEFAULT_MODEL,)
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "tests"} for name in names]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(ErrorReply(404, f"no route GET {self.path}", type="invalid_request_error"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        self._record(body if isinstance(body, dict) else None)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(ErrorReply(404, f"no route POST {self.path}", type="invalid_request_error"))
            return
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            self._send_error(ErrorReply(400, "body must be JSON with 'model' and a 'messages' list", "invalid_request_error"))
            return
        if body.get("stream"):
            self._send_error(ErrorReply(400, "streaming is not supported by this test server; send stream=false", "invalid_request_error"))
            return
        if self.state.models is not None and body["model"] not in self.state.models:
            self._send_error(model_not_found(body["model"]))
            return
        with self.state.lock:
            self.state.in_flight += 1
            self.state.peak_in_flight = max(self.state.peak_in_flight, self.state.in_flight)
        try:
            self._answer(body)
        finally:
            with self.state.lock:
                self.state.in_flight -= 1

    def _answer(self, body: dict[str, Any]) -> None:
        reply = self._next_reply(body)
        delay = reply.delay_s + self.state.latency_s
        if delay and self.state.stopping.wait(delay):
            return
        fault = self._fault(body)
        if fault == "429":
            reply = ErrorReply(429, "Rate limit reached; injected fault", type="rate_limit_error",
                               retry_after=f"{self.state.faults.retry_after_s:g}")
        elif fault == "500":
            reply = ErrorReply(500, "The server had an error; injected fault")
        elif fault == "malformed":
            reply = MalformedReply()
        elif fault == "fewer_choices" and isinstance(reply, TextReply):
            reply = TextReply(reply.texts, max_choices=1)
        elif fault == "fewer_choices" and isinstance(reply, JsonReply):
            reply = TextReply([json.dumps(reply.value)], max_choices=1)
        if isinstance(reply, ResetReply):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif isinstance(reply, ErrorReply):
            self._send_error(reply)
        elif isinstance(reply, MalformedReply):
            self._send_raw(200, reply.body.encode("utf-8"))
        else:
            self._send_json(200, self._completion(body, reply))

    def _fault(self, body: dict[str, Any]) -> str | None:
        """The fault to inject into this answer (drawn from the plan), or None."""
        plan = self.state.faults
        if plan is None:
            return None
        with self.state.lock:
            if self.state.fault_rng.random() >= plan.rate:
                return None
            kind = self.state.fault_rng.choice(plan.kinds)
            if kind == "fewer_choices" and int(body.get("n") or 1) < 2:
                kind = "500"
            self.state.faults_injected.append(kind)
        return kind

    def _record(self, body: dict[str, Any] | None) -> None:
        headers = {key.lower(): value for key, value in self.headers.items()}
        with self.state.lock:
            self.state.records.append(RecordedRequest(self.command, self.path, headers, body))

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        """The script's reply to `body`; a script failure becomes a recorded HTTP 500."""
        script = self.state.script
        try:
            if isinstance(script, TextReply | JsonReply | ToolCallReply | ErrorReply | MalformedReply | ResetReply):
                return script
            if callable(script):
                return script(body)
            with self.state.lock:
                index = self.state.next_reply
                self.state.next_reply += 1
            if index >= len(script):
                raise ScriptError(f"script ran out: request {index + 1} but only {len(script)} replies")
            return script[index]
        except Exception as error:  # any script failure is reported to the test
            line = f"script failed on request for model {body.get('model')!r}: {type(error).__name__}: {error}"
            with self.state.lock:
                self.state.errors.append(line)
            return ErrorReply(500, line)

    def _completion(self, body: dict[str, Any], reply: TextReply | JsonReply | ToolCallReply) -> dict[str, Any]:
        """A chat.completion object answering `body` with `reply`."""
        n = int(body.get("n") or 1)
        with self.state.lock:
            number = next(self.state.ids)
        if isinstance(reply, TextReply):
            count = n if reply.max_choices is None else min(n, reply.max_choices)
            messages = [{"role": "assistant", "content": reply.texts[i % len(reply.texts)]} for i in range(count)]
            finish = "stop"
        elif isinstance(reply, JsonReply):
            messages = [{"role": "assistant", "content": json.dumps(reply.value)} for _ in range(n)]
            finish = "stop"
        else:
            calls = [
                {
                    "id": call.id or f"call_{number}_{k}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for k, call in enumerate(reply.calls)
            ]
            messages = [{"role": "assistant", "content": reply.content, "tool_calls": calls} for _ in range(n)]
            finish = "tool_calls"
        prompt_tokens = prompt_token_count(body.get("messages") or [])
        completion_tokens = sum(_word_count(json.dumps(m)) for m in messages)
        return {
            "id": f"chatcmpl-test-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {"index": i, "message": message, "finish_reason": finish, "logprobs": None}
                for i, message in enumerate(messages)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _send_error(self, reply: ErrorReply) -> None:
        error = {"message": reply.message, "type": reply.type, "param": None, "code": reply.code}
        headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
        self._send_raw(reply.status, json.dumps({"error": error}).encode("utf-8"), headers)

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send_raw(status, json.dumps(payload).encode("utf-8"))

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (e.g. its timeout); nothing to answer


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG file's IHDR chunk."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) < 24:
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def image_tokens(width: int, height: int, detail: str = "high") -> int:
    """Prompt tokens of one image by OpenAI's rule for GPT-4o-class models: 85 at low detail;
    else fit within 2048 x 2048, scale the short side down to 768, and charge 85 + 170 per
    512-px tile."""
    if detail == "low":
        return 85
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


def prompt_token_count(messages: list[Any]) -> int:
    """Words of every text part plus image_tokens of every data-URL PNG image part (a stand-in
    for a tokenizer that keeps the image rule exact)."""
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        parts = content if isinstance(content, list) else [content]
        for part in parts:
            if isinstance(part, str):
                total += _word_count(part)
            elif isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url") or {}
                url = str(image.get("url", ""))
                try:
                    width, height = png_size(base64.b64decode(url.split(",", 1)[1]))
                    total += image_tokens(width, height, image.get("detail", "high"))
                except (ValueError, IndexError):
                    total += 85
            elif isinstance(part, dict):
                total += _word_count(str(part.get("text", "")))
        if isinstance(message, dict) and message.get("tool_calls"):
            total += _word_count(json.dumps(message["tool_calls"]))
    return total


def _word_count(text: str) -> int:
    """Whitespace-separated words in `text`: the server's stand-in for a token count."""
    return len(text.split())
