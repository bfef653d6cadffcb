"""What the LLM cost: requests sent, prompt and completion tokens (the server's `usage`), cache
hits and retries; and the run's token budget.

A Usage is a plain counter, one per latent (kept in the graph state as a dict) and one per run
(the sum). `current_usage` names the counter that requests made inside a block are charged to,
for calls that pass through langchain (the coder, the router) and cannot take it as an argument.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields

from agent.errors import UserError

USAGE_FIELDS = ("requests", "prompt_tokens", "completion_tokens", "cache_hits", "retries")


@dataclass
class Usage:
    """requests: HTTP requests sent (retries included). prompt_tokens / completion_tokens: summed
    from the answers' `usage` (0 where a server sends none). cache_hits: requests answered from
    the response cache instead. retries: requests that repeated a failed one."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    retries: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + int(value))

    def to_dict(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_dict(cls, data: dict | None) -> Usage:
        return cls(**{name: int((data or {}).get(name, 0)) for name in USAGE_FIELDS})


def add_usage(*parts: dict | None) -> dict[str, int]:
    """The field-wise sum of usage dicts (None and missing fields count 0)."""
    return {name: sum(int((part or {}).get(name, 0)) for part in parts) for name in USAGE_FIELDS}


def total_usage(parts: Iterable[dict | None]) -> dict[str, int]:
    return add_usage(*parts)


current_usage: ContextVar[Usage | None] = ContextVar("latent_explainer_current_usage", default=None)


@contextmanager
def charging(usage: Usage) -> Iterator[Usage]:
    """Charge every request made in this block (in this thread/context) to `usage`."""
    token = current_usage.set(usage)
    try:
        yield usage
    finally:
        current_usage.reset(token)


class BudgetExhausted(UserError):
    """The run's token budget (settings.budget_tokens) is spent; no new request is sent. A latent
    that meets it ends "unclear" with reason "budget"."""


@dataclass
class TokenBudget:
    """limit: tokens (prompt + completion) the run may spend; None: no limit. spent: so far."""

    limit: int | None = None
    spent: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise BudgetExhausted when spent has reached limit."""
        with self._lock:
            if self.limit is not None and self.spent >= self.limit:
                raise BudgetExhausted(f"budget: {self.spent} of {self.limit} tokens spent (--budget-tokens)")

    def spend(self, tokens: int) -> None:
        with self._lock:
            self.spent += int(tokens)

    def to_dict(self) -> dict:
        return asdict(self)
