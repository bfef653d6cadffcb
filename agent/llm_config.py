"""Which LLM every role uses: the `--llm` spec, the chat client built from it, and the one-line
error raised when its endpoint cannot serve a request.

`--llm openai:MODEL` selects any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
LM Studio, ...); no spec (or `offline`) keeps the offline defaults. langchain-openai is imported
only when a client is built, so the CLI stays fast when no LLM is configured.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.errors import UserError

if TYPE_CHECKING:

    from agent.settings import Settings

PROVIDERS = ("openai",)
"""Providers a spec may name; "openai" means any OpenAI-compatible chat-completions endpoint."""

OFFLINE_SPECS = ("", "offline")
"""Specs that select the offline defaults (as does no spec at all)."""

DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""The endpoint used when neither a flag nor OPENAI_BASE_URL names one (the OpenAI SDK default)."""

PLACEHOLDER_API_KEY = "not-needed"
"""Sent when no key is configured: local servers ignore it, and the client refuses to start without
one."""

ALLOWED_FORMS = "'openai:MODEL' (any OpenAI-compatible endpoint, e.g. openai:gpt-4o), 'offline', or nothing"

ROLES = ("vision", "coder", "router")
"""The LLM roles; each may use its own model (settings <role>_llm), else settings.llm."""

TEMPLATE_CODER_SPEC = "template"
"""A coder spec that selects the deterministic code template even when --llm names a model."""


class LLMUnavailable(UserError):
    """The configured endpoint could not serve a request: unreachable, refused, too slow, no such
    model, or a key it does not accept. The message is one line naming the base URL."""


@dataclass(frozen=True)
class LLMConfig:
    """How to reach the chat model that every LLM role uses.

    provider: "openai" (any OpenAI-compatible chat-completions endpoint).
    model: the model name the endpoint serves, e.g. "gpt-4o" or "llava:13b".
    base_url: e.g. "http://127.0.0.1:8000/v1"; None means DEFAULT_BASE_URL.
    api_key: None means no key (PLACEHOLDER_API_KEY is sent); kept out of repr.
    timeout_s: seconds one HTTP request may take before it is abandoned.
    max_retries: extra attempts on connection errors, 408/409/429 and 5xx answers.
    """

    provider: str
    model: str
    base_url: str | None
    api_key: str | None = field(repr=False)
    timeout_s: float = 60.0
    max_retries: int = 1

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise UserError(f"LLM provider {self.provider!r} is not supported; allowed: {', '.join(PROVIDERS)}")
        if not self.model or self.model != self.model.strip() or any(c.isspace() for c in self.model):
            raise UserError(f"LLM model name {self.model!r} is not valid; it must be non-empty, without spaces")
        if self.base_url is not None and not re.match(r"https?://[^/\s]+", self.base_url):
            raise UserError(f"LLM base URL {self.base_url!r} is not valid; it must start with http:// or https://")
        if not self.timeout_s > 0:
            raise UserError(f"LLM timeout {self.timeout_s!r} s is not valid; it must be > 0")
        if self.max_retries < 0:
            raise UserError(f"LLM max retries {self.max_retries!r} is not valid; it must be >= 0")

    @property
    def endpoint(self) -> str:
        """The base URL requests go to, e.g. "http://127.0.0.1:8000/v1"."""
        return self.base_url or DEFAULT_BASE_URL


def parse_llm_spec(
    spec: str | None,
    base_url: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] = os.environ,
    timeout_s: float | None = None,
) -> LLMConfig | None:
    """Read the `--llm` flag.

    None, "" and "offline" -> None (the offline defaults). "openai:MODEL" -> LLMConfig, with
    base_url from the flag, else env OPENAI_BASE_URL, else None (DEFAULT_BASE_URL), and api_key from
    the flag, else env OPENAI_API_KEY, else None. Empty values count as not given. Anything else
    raises UserError naming the value and the allowed forms.
    """
    if spec is None or spec.strip() in OFFLINE_SPECS:
        return None
    provider, sep, model = spec.partition(":")
    if not sep or provider not in PROVIDERS or not model or any(c.isspace() for c in model):
        raise UserError(f"--llm {spec!r} is not understood; allowed: {ALLOWED_FORMS}")
    return LLMConfig(
        provider=provider,
        model=model,
        base_url=base_url or env.get("OPENAI_BASE_URL") or None,
        api_key=api_key or env.get("OPENAI_API_KEY") or None,
        timeout_s=float(timeout_s) if timeout_s is not None else 60.0,
    )


def role_config(settings: Settings, role: str, env: Mapping[str, str] = os.environ) -> LLMConfig | None:
    """The LLMConfig of `role` ("vision", "coder", "router") from a run's settings: its own
    setting (e.g. --coder-llm), else --llm; None is the role's offline default. The coder also
    takes "template" (the code template). A bad spec raises UserError naming the flag."""
    if role not in ROLES:
        raise ValueError(f"unknown LLM role {role!r}; roles: {ROLES}")
    spec = settings.llm_spec(role)
    if role == "coder" and spec is not None and spec.strip() == TEMPLATE_CODER_SPEC:
        return None
    try:
        return parse_llm_spec(spec, base_url=settings.llm_base_url, env=env, timeout_s=settings.llm_timeout_s)
    except UserError:
        if getattr(settings, f"{role}_llm") in (None, ""):
            raise
        extra = f", or {TEMPLATE_CODER_SPEC!r}" if role == "coder" else ""
        raise UserError(f"--{role}-llm {spec!r} is not understood; allowed: {ALLOWED_FORMS}{extra}") from None


def check_role_specs(settings: Settings) -> None:
    """Fail early (UserError, one line) on any role's bad spec."""
    for role in ROLES:
        role_config(settings, role)


def describe_endpoint_error(config: LLMConfig, error: Exception) -> str:
    """One line saying what went wrong at `config`'s endpoint and what to check."""
    import openai

    where = f"LLM endpoint {config.endpoint} (model {config.model!r})"
    if isinstance(error, openai.APITimeoutError):
        return f"{where} did not answer within {config.timeout_s:g} s; check that the server is up, or raise the timeout"
    if isinstance(error, openai.APIConnectionError):
        cause = _one_line(str(error.__cause__ or error)).rstrip(".")
        return (f"cannot reach {where}: {cause}; check the base URL (--llm-base-url or OPENAI_BASE_URL) "
                "and that the server is running")
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        detail = _one_line(error.message)
        if status in (401, 403):
            return f"{where} refused the API key (HTTP {status}: {detail}); set --llm-api-key or OPENAI_API_KEY"
        if status == 404:
            return f"{where} answered HTTP 404 ({detail}); check the model name and that the base URL ends in /v1"
        return f"{where} failed the request (HTTP {status}: {detail})"
    return f"{where} failed: {_one_line(str(error))}"


def _one_line(text: str, limit: int = 300) -> str:
    """`text` with whitespace runs collapsed to one space, cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
