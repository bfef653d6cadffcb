"""One-off chat requests outside a run's session (the router, formula repair): a langchain chat
model that sends through the one LLM client, and endpoint failures as one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from agent.llm_config import LLMConfig, LLMUnavailable, describe_endpoint_error

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI


def build_chat_model(config: LLMConfig, temperature: float = 1.0, n: int = 1, cache: bool = True) -> ChatOpenAI:
    """A langchain chat-completions client for `config` that asks for `n` choices at `temperature`,
    sending through the one LLM client (agent/llm/client.py): config.max_retries retries with
    backoff, the response cache (unless cache=False), usage charged to agent.llm.usage.current_usage.
    For one-off requests outside a run (the router); a run's nodes use their run's session."""
    from agent.llm.cache import ResponseCache
    from agent.llm.client import LLMSession
    from agent.llm.retry import RetryPolicy

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    session = LLMSession(cache=ResponseCache() if cache else None, policy=RetryPolicy(max_retries=config.max_retries))
    return session.client(config).chat_model(temperature=temperature, n=n)


@contextmanager
def endpoint_errors_as_unavailable(config: LLMConfig) -> Iterator[None]:
    """Turn the OpenAI client's failures and requests that failed after their retries inside the
    block into LLMUnavailable (one line naming the endpoint, the model and what happened), for a
    command that cannot go on without the answer (the router); other exceptions pass through."""
    import openai

    from agent.llm.client import LLMRequestFailed

    try:
        yield
    except openai.APIError as error:
        raise LLMUnavailable(describe_endpoint_error(config, error)) from error
    except LLMRequestFailed as error:
        raise LLMUnavailable(str(error)) from None
