"""The one LLM client every role (vision, coder, router) sends its requests through.

- retry.py: which failures are retried and how long to wait (exponential backoff with jitter,
  Retry-After honoured).
- cache.py: the SQLite response cache in the user's cache folder.
- usage.py: request, token and cache-hit counts, per latent and per run, and the token budget.
- client.py: LLMClient (one chat-completions request with retries, cache and accounting), the
  httpx transport that routes langchain's requests through it, and the per-run session.
"""
