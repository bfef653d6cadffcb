"""How a model inside the sandbox kernel reports progress during long steps (an h-space basis,
decoding): lines on stderr with PROGRESS_PREFIX, which the host's kernel pool passes on to the
user while the cell runs (agent/kernel_pool.py). Torch-free, so the host can import it."""

from __future__ import annotations

import sys

PROGRESS_PREFIX = "latent-explainer progress: "


def progress_line(text: str) -> None:
    """Print one progress line to stderr (flushed, so the host sees it at once)."""
    print(f"{PROGRESS_PREFIX}{text}", file=sys.stderr, flush=True)
