"""When a failed chat-completions request is tried again, and after how long.

Retried: HTTP 408, 409, 429 and 5xx answers, timeouts, connection errors (refused, reset,
closed mid-answer) and malformed bodies (not JSON, no `choices`). Not retried: other 4xx answers
(a bad key, an unknown model, a rejected parameter): asking again cannot change them.

Waits grow exponentially with full jitter (AWS Architecture Blog, "Exponential backoff and
jitter", 2015): attempt a (0-based) waits uniform(0, min(cap, base * 2**a)). A server's
`Retry-After` (seconds or an HTTP date) replaces the wait when it is longer, up to `cap`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({408, 409, 429})
"""4xx statuses worth retrying (timeout, conflict, rate limit); every 5xx is retried too."""


def is_retryable_status(status: int) -> bool:
    """True for RETRYABLE_STATUS and every 5xx."""
    return status in RETRYABLE_STATUS or 500 <= status <= 599


@dataclass(frozen=True)
class RetryPolicy:
    """max_retries: extra attempts after the first (settings.llm_max_retries). base_s: the first
    backoff ceiling. cap_s: the longest single wait (a Retry-After beyond it is cut to it)."""

    max_retries: int = 4
    base_s: float = 0.5
    cap_s: float = 30.0

    def wait_s(self, attempt: int, retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt is 0-based)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** attempt)
        jittered = (rng or random).uniform(0, ceiling)
        if retry_after_s is not None:
            return min(self.cap_s, max(jittered, retry_after_s))
        return jittered


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header as seconds: a number of seconds, or an HTTP date (seconds from now);
    None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import time

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
