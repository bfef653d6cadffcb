"""A SQLite cache of chat-completions answers, so the same request is never sent twice.

The key is the SHA-256 of the endpoint and the request body in canonical JSON, with every
`data:` URL (an image) replaced by the SHA-256 of its bytes: so the model, the messages, the
images, n, temperature, response_format and tools all take part. Running the same traversal again
answers from here; a resumed run never repeats a request that completed.

The file lives in the user's cache folder: $XDG_CACHE_HOME/latent-explainer/llm-responses.sqlite
(XDG_CACHE_HOME defaults to ~/.cache). `--no-cache` (settings.no_cache) turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

CACHE_FILE = "llm-responses.sqlite"
APP_FOLDER = "latent-explainer"


def default_cache_path() -> Path:
    """$XDG_CACHE_HOME (or ~/.cache) / latent-explainer / llm-responses.sqlite."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / APP_FOLDER / CACHE_FILE


def _hash_data_urls(value: Any) -> Any:
    """`value` with every "data:...;base64,..." string replaced by "sha256:<hex of its bytes>"."""
    if isinstance(value, str) and value.startswith("data:"):
        return "sha256:" + hashlib.sha256(value.encode("ascii", "replace")).hexdigest()
    if isinstance(value, dict):
        return {key: _hash_data_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_hash_data_urls(item) for item in value]
    return value


def cache_key(endpoint: str, body: dict[str, Any]) -> str:
    """The hex SHA-256 naming the answer to `body` at `endpoint` (see the module docstring).
    Fields that do not change the answer (stream, timeouts) are left out."""
    kept = {key: value for key, value in body.items() if key not in ("stream", "user", "timeout")}
    canonical = json.dumps({"endpoint": endpoint.rstrip("/"), "body": _hash_data_urls(kept)},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Answers by key, in one SQLite file shared by every run (and safe across threads).

    path: the database file (its folder is created)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        with self._lock, self._connection:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL, created REAL NOT NULL)"
            )

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer, or None."""
        with self._lock:
            row = self._connection.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, response: dict[str, Any]) -> None:
        with self._lock, self._connection:
            self._connection.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)",
                                     (key, json.dumps(response), time.time()))

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._connection.close()
