"""LLMClient: one chat-completions request with retries, the response cache, usage accounting,
the token budget and a bound on requests in flight. Every role sends through it: the vision
node calls `chat` with a JSON body; the coder and the router use langchain's ChatOpenAI, whose
HTTP requests `chat_model` routes through `chat` by an httpx transport.

Failures, in one place (`LLMClient._send`):
- retried (agent/llm/retry.py): 408/409/429/5xx, timeouts, connection errors, malformed bodies;
- a refusal before the endpoint ever answered (connection refused, HTTP 401/403/404) raises
  LLMUnavailable: a wrong URL, key or model stops the run with one line;
- otherwise a request that still fails raises LLMRequestFailed (one line): the latent it served
  ends "failed" with that reason and the others go on;
- a spent budget raises BudgetExhausted before anything is sent (checked when a request gets
  its slot; requests already in flight finish, so a run may pass the budget by at most
  max_concurrency answers).
A server that returns fewer choices than `n` is asked for the rest (a follow-up with the
missing `n`); an answer with no choices at all counts as malformed.

An LLMSession holds what one run's clients share (cache, budget, in-flight bound, run usage);
`session_for(key, settings)` finds or makes it, `close_session(key)` lets it go.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from agent.llm.cache import ResponseCache, cache_key
from agent.llm.retry import RetryPolicy, is_retryable_status, retry_after_seconds
from agent.llm.usage import TokenBudget, Usage, current_usage
from agent.llm_config import PLACEHOLDER_API_KEY, LLMConfig, LLMUnavailable

if TYPE_CHECKING:
    import httpx
    from langchain_openai import ChatOpenAI

    from agent.settings import Settings

MAX_TOP_UPS = 16
"""Follow-up requests for missing choices before a short answer counts as a failure."""

DEFAULT_MAX_CONCURRENCY = 16


class LLMRequestFailed(Exception):
    """A request that failed after its retries (or could not be retried); the message is one line
    naming the endpoint, the model, the attempts and the last problem."""


class LLMHTTPError(LLMRequestFailed):
    """The endpoint refused a request with a status that retrying cannot change (e.g. 400).
    status: the HTTP status; body: the parsed error body ({} when not JSON)."""

    def __init__(self, message: str, status: int, body: dict) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass
class LLMSession:
    """What one run's requests share.

    cache: the response cache, or None (--no-cache). budget: the token budget. policy: retries.
    max_concurrency: requests in flight at once, across latents and roles. usage: the run's total.
    """

    cache: ResponseCache | None = None
    budget: TokenBudget = field(default_factory=TokenBudget)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.max_concurrency)
        self.lock = threading.Lock()
        self.answered: set[str] = set()  # endpoints that have answered at least once
        self.stopped: LLMUnavailable | None = None  # set by a refused first request: nothing more is sent
        self.in_flight = 0
        self.peak_in_flight = 0
        self._http: httpx.Client | None = None
        self._clients: dict[LLMConfig, LLMClient] = {}

    @property
    def http(self) -> httpx.Client:
        import httpx

        with self.lock:
            if self._http is None:
                limits = httpx.Limits(max_connections=self.max_concurrency * 2, max_keepalive_connections=self.max_concurrency)
                self._http = httpx.Client(limits=limits)
            return self._http

    def client(self, config: LLMConfig) -> LLMClient:
        """The client of `config` in this session (one per config)."""
        with self.lock:
            found = self._clients.get(config)
            if found is None:
                found = self._clients[config] = LLMClient(config, self)
            return found

    def close(self) -> None:
        with self.lock:
            if self._http is not None:
                self._http.close()
                self._http = None
        if self.cache is not None:
            self.cache.close()


_sessions: dict[str, LLMSession] = {}
_sessions_lock = threading.Lock()


def session_from_settings(settings: Settings) -> LLMSession:
    """A new session from a run's settings: no_cache, budget_tokens, llm_max_retries,
    max_concurrency."""
    return LLMSession(
        cache=None if settings.no_cache else ResponseCache(),
        budget=TokenBudget(settings.budget_tokens),
        policy=RetryPolicy(max_retries=settings.llm_max_retries),
        max_concurrency=settings.max_concurrency,
    )


def session_for(key: str, settings: Settings) -> LLMSession:
    """The session of run `key` (its folder), made from `settings` on first use."""
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = session_from_settings(settings)
        return session


def close_session(key: str) -> LLMSession | None:
    """Forget run `key`'s session (closing its connections); returns it, or None."""
    with _sessions_lock:
        session = _sessions.pop(key, None)
    if session is not None:
        session.close()
    return session


def client_for(key: str, settings: Settings, config: LLMConfig) -> LLMClient:
    """The client of `config` in run `key`'s session."""
    return session_for(key, settings).client(config)


class LLMClient:
    """Chat completions at one endpoint and model (config), within a session."""

    def __init__(self, config: LLMConfig, session: LLMSession) -> None:
        self.config = config
        self.session = session
        self.response_format_rejected = False
        """Set when the endpoint refused a response_format: later requests go in plain text."""

    @property
    def where(self) -> str:
        return f"LLM endpoint {self.config.endpoint} (model {self.config.model!r})"

    def chat(self, body: dict[str, Any], usage: Usage | None = None) -> dict[str, Any]:
        """The chat.completion answer to `body` (its "model" is set to config.model), from the
        cache or the endpoint; exactly body["n"] choices (default 1), numbered from 0.

        usage: charged with requests, tokens and cache hits (default: current_usage, if any);
        the session's run total is charged too."""
        body = {**body, "model": self.config.model}
        charge = [u for u in (usage or current_usage.get(), self.session.usage) if u is not None]
        store = self.session.cache
        key = cache_key(self.config.endpoint, body) if store is not None else ""
        if store is not None:
            found = store.get(key)
            if found is not None:
                for u in charge:
                    u.add(cache_hits=1)
                return found
        answer = self._complete(body, charge)
        if store is not None:
            store.put(key, answer)
        return answer

    def _complete(self, body: dict[str, Any], charge: list[Usage]) -> dict[str, Any]:
        """Send `body`, asking again for choices the server left out."""
        wanted = int(body.get("n") or 1)
        answer = self._send(body, charge)
        choices = list(answer["choices"])
        for _ in range(MAX_TOP_UPS):
            if len(choices) >= wanted:
                break
            more = self._send({**body, "n": wanted - len(choices)}, charge)
            choices += more["choices"]
            for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
                answer.setdefault("usage", {})
                answer["usage"][name] = int(answer["usage"].get(name) or 0) + int((more.get("usage") or {}).get(name) or 0)
        if len(choices) < wanted:
            raise LLMRequestFailed(f"{self.where} returned {len(choices)} of {wanted} choices after {MAX_TOP_UPS} follow-ups")
        answer["choices"] = [{**choice, "index": i} for i, choice in enumerate(choices[:wanted])]
        return answer

    def _send(self, body: dict[str, Any], charge: list[Usage]) -> dict[str, Any]:
        """One request with retries (see the module docstring); returns the parsed answer,
        which has at least one choice."""
        import httpx

        session, config = self.session, self.config
        url = config.endpoint.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {config.api_key or PLACEHOLDER_API_KEY}"}
        attempts = session.policy.max_retries + 1
        problem = ""
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                with session.slots:
                    if session.stopped is not None:
                        raise session.stopped
                    session.budget.check()  # once a slot is free: requests that waited see what the others spent
                    self._enter()
                    try:
                        for u in charge:
                            u.add(requests=1, retries=1 if attempt else 0)
                        response = session.http.post(url, json=body, headers=headers, timeout=config.timeout_s)
                    finally:
                        self._leave()
            except httpx.TimeoutException:
                problem = f"did not answer within {config.timeout_s:g} s"
            except httpx.TransportError as error:
                if isinstance(error, httpx.ConnectError) and not self._answered():
                    self._stop(f"cannot reach {self.where}: {_one_line(str(error)) or type(error).__name__}; check the "
                               "base URL (--llm-base-url or OPENAI_BASE_URL) and that the server is running")
                problem = f"connection failed ({type(error).__name__}: {_one_line(str(error))})"
            else:
                status = response.status_code
                if status == 200:
                    answer, problem = _parse_answer(response)
                    if answer is not None:
                        self._mark_answered()
                        tokens = answer.get("usage") or {}
                        prompt, completion = int(tokens.get("prompt_tokens") or 0), int(tokens.get("completion_tokens") or 0)
                        for u in charge:
                            u.add(prompt_tokens=prompt, completion_tokens=completion)
                        session.budget.spend(prompt + completion)
                        return answer
                else:
                    detail, error_body = _error_detail(response)
                    if not is_retryable_status(status):
                        self._refused(status, detail)
                        raise LLMHTTPError(f"{self.where} refused the request (HTTP {status}: {detail})", status, error_body)
                    problem = f"HTTP {status}: {detail}"
                    retry_after = retry_after_seconds(response.headers.get("retry-after"))
            if attempt + 1 < attempts:
                time.sleep(session.policy.wait_s(attempt, retry_after))
        raise LLMRequestFailed(f"{self.where} failed {attempts} attempt{'s' if attempts > 1 else ''}; last: {problem}")

    def _refused(self, status: int, detail: str) -> None:
        """A refusal before the endpoint ever answered stops the run (LLMUnavailable)."""
        if self._answered() or status not in (401, 403, 404):
            return
        if status in (401, 403):
            self._stop(f"{self.where} refused the API key (HTTP {status}: {detail}); set --llm-api-key or OPENAI_API_KEY")
        self._stop(f"{self.where} answered HTTP 404 ({detail}); check the model name and that the base URL ends in /v1")

    def _stop(self, message: str) -> None:
        """Raise LLMUnavailable(message); the session sends nothing more (other requests raise it too)."""
        error = LLMUnavailable(message)
        with self.session.lock:
            self.session.stopped = self.session.stopped or error
        raise error

    def _answered(self) -> bool:
        with self.session.lock:
            return self.config.endpoint in self.session.answered

    def _mark_answered(self) -> None:
        with self.session.lock:
            self.session.answered.add(self.config.endpoint)

    def _enter(self) -> None:
        with self.session.lock:
            self.session.in_flight += 1
            self.session.peak_in_flight = max(self.session.peak_in_flight, self.session.in_flight)

    def _leave(self) -> None:
        with self.session.lock:
            self.session.in_flight -= 1

    def chat_model(self, temperature: float = 0.0, n: int = 1) -> ChatOpenAI:
        """A langchain ChatOpenAI whose requests go through `chat` (retries, cache, usage:
        charged to current_usage). The SDK's own retries are off."""
        import httpx2
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=self.config.model,
            base_url=self.config.endpoint,
            api_key=self.config.api_key or PLACEHOLDER_API_KEY,
            max_retries=0,
            temperature=temperature,
            n=n,
            use_responses_api=False,
            http_client=httpx2.Client(transport=_transport_class()(self)),
        )


@cache
def _transport_class() -> type:
    """An httpx2 transport class (the openai SDK's HTTP stack) that answers POST
    .../chat/completions through an LLMClient's `chat`. A refusal that retrying cannot change
    (LLMHTTPError, e.g. HTTP 400) goes back as that HTTP answer, so the SDK raises its own error
    for it; the others (LLMRequestFailed, LLMUnavailable, BudgetExhausted) pass through the SDK
    unchanged."""
    import httpx2

    class ClientTransport(httpx2.BaseTransport):
        def __init__(self, client: LLMClient) -> None:
            self.client = client

        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
                return httpx2.Response(404, json={"error": {"message": f"not routed: {request.url.path}"}})
            try:
                return httpx2.Response(200, json=self.client.chat(json.loads(request.read())))
            except LLMHTTPError as error:  # the SDK raises its own error for the status (BadRequestError...)
                body = error.body or {"error": {"message": str(error), "type": "invalid_request_error"}}
                return httpx2.Response(error.status, json=body)

    return ClientTransport


def _parse_answer(response: httpx.Response) -> tuple[dict[str, Any] | None, str]:
    """(the answer, "") when the body is a chat.completion with at least one choice carrying a
    message; else (None, what is wrong)."""
    try:
        answer = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, f"malformed answer (not JSON: {_one_line(response.text, 80)!r})"
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not isinstance(choices, list) or not choices:
        return None, "malformed answer (no choices)"
    if not all(isinstance(c, dict) and isinstance(c.get("message"), dict) for c in choices):
        return None, "malformed answer (a choice without a message)"
    return answer, ""


def _error_detail(response: httpx.Response) -> tuple[str, dict]:
    """(one line from an OpenAI-style error body, the parsed body or {})."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _one_line(response.text, 200) or response.reason_phrase, {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return _one_line(str(body["error"].get("message") or body["error"])), body
    return _one_line(json.dumps(body), 200), body if isinstance(body, dict) else {}


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
