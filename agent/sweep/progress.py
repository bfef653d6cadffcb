"""What a running sweep tells the user, per model: reused, started, done, failed, with the
counts across the sweep (done / running / failed / waiting). Modes as `explain` has
(agent.progress): "lines" on stderr, "jsonl" (one JSON object per event on stdout) or "quiet"."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from agent.sweep.spec import SweepModel


class SweepProgress:
    """mode: "lines", "jsonl" or "quiet". stream: where lines/events go (default: stderr for
    lines, stdout for jsonl)."""

    def __init__(self, mode: str, total: int, stream: TextIO | None = None):
        self.mode = mode
        self.stream = stream or (sys.stdout if mode == "jsonl" else sys.stderr)
        self.total = total
        self.done = self.running = self.failed = 0
        self.started = time.monotonic()

    def counts(self) -> dict[str, int]:
        waiting = self.total - self.done - self.running - self.failed
        return {"done": self.done, "running": self.running, "failed": self.failed, "waiting": waiting}

    def _emit(self, event: dict[str, Any]) -> None:
        if self.mode == "jsonl":
            print(json.dumps(event | self.counts() | {"t": round(time.monotonic() - self.started, 3)}),
                  file=self.stream, flush=True)

    def _say(self, text: str) -> None:
        if self.mode == "lines":
            c = self.counts()
            print(f"  [{c['done']}/{self.total} done, {c['running']} running, {c['failed']} failed] {text}",
                  file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self.mode == "lines":
            print(text, file=self.stream, flush=True)
        self._emit({"event": "message", "text": text})

    def sweep_started(self, models: list[SweepModel], where: str) -> None:
        self._emit({"event": "sweep_started", "models": [m.title for m in models], "ray": where})
        self.message(f"latent-explainer: sweeping {len(models)} model{'s' * (len(models) != 1)} {where}")

    def reused(self, model: SweepModel, summary: dict) -> None:
        self.done += 1
        self._emit({"event": "model_reused", "model": model.title, "run": model.name, "summary": summary})
        self._say(f"{model.title}: reused the finished run {model.name}/ ({_counts(summary)})")

    def model_started(self, model: SweepModel, host: str) -> None:
        self.running += 1
        self._emit({"event": "model_started", "model": model.title, "run": model.name, "host": host})
        self._say(f"{model.title}: started on {host}")

    def model_done(self, model: SweepModel, summary: dict, elapsed_s: float, was_running: bool) -> None:
        self.running -= was_running
        self.done += 1
        self._emit({"event": "model_done", "model": model.title, "run": model.name, "summary": summary,
                    "elapsed_s": elapsed_s})
        self._say(f"{model.title}: done in {elapsed_s:.1f} s ({_counts(summary)})")

    def model_failed(self, model: SweepModel, error: str, was_running: bool) -> None:
        self.running -= was_running
        self.failed += 1
        self._emit({"event": "model_failed", "model": model.title, "run": model.name, "error": error})
        self._say(f"{model.title}: FAILED: {error}")

    def sweep_done(self, sweep_json: str, sweep_html: str, wall_s: float) -> None:
        self._emit({"event": "sweep_done", "sweep_json": sweep_json, "sweep_html": sweep_html, "wall_s": wall_s})
        self.message(f"latent-explainer: sweep done in {wall_s:.1f} s: {self.done} done, {self.failed} failed; "
                     f"{sweep_json}, {sweep_html}")


def _counts(summary: dict) -> str:
    return ", ".join(f"{summary.get(k, 0)} {k}" for k in ("explained", "unclear", "failed"))
