"""What a running graph tells the user: a live status per latent on a terminal, one line per
finished latent otherwise, nothing with --quiet, or JSON lines with --events jsonl.

Events come from LangGraph's stream (stream_mode="updates", subgraphs=True): each is the
partial state update one node returned, tagged with the subgraph it ran in."""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

LATENT_NODES = ("write_perturbation_code", "run_perturbation_code", "query_vision_model", "verify_explanations")
SHORT = {"write_perturbation_code": "coder", "run_perturbation_code": "sandbox", "query_vision_model": "vision",
         "verify_explanations": "verifier"}


def latent_id(update: dict) -> str | None:
    """The plan id a subgraph update belongs to (from its trace steps or final entry)."""
    for entry in update.get("latents", []) or []:
        return entry["id"]
    for step in reversed(update.get("steps", []) or []):
        if step.get("node") == "planner":
            return step["plan"]["id"]
    return None


class Progress:
    """mode: "lines" (human), "jsonl" (one JSON object per event on stdout) or "quiet"."""

    def __init__(self, mode: str = "lines", stream: TextIO | None = None):
        self.mode = mode
        self.stream = stream or (sys.stdout if mode == "jsonl" else sys.stderr)
        self.live = mode == "lines" and self.stream.isatty()
        self.where: dict[str, str] = {}
        self.total = 0
        self.done = 0
        self.started = time.monotonic()

    def _emit(self, event: dict) -> None:
        print(json.dumps(event | {"t": round(time.monotonic() - self.started, 3)}), file=self.stream, flush=True)

    def _say(self, text: str) -> None:
        if self.live:
            self.stream.write("\r\033[K")
        print(text, file=self.stream, flush=True)
        self._redraw()

    def _redraw(self) -> None:
        if self.live and self.total:
            active = " ".join(f"{k}:{v}" for k, v in list(self.where.items())[:8])
            self.stream.write(f"\r\033[K  [{self.done}/{self.total} done] {active}"[:200])
            self.stream.flush()

    def message(self, text: str) -> None:
        if self.mode == "lines":
            self._say(text)
        elif self.mode == "jsonl":
            self._emit({"event": "message", "text": text})

    def update(self, namespace: tuple, node: str, update: dict | None) -> None:
        """Feed one stream item."""
        update = update or {}
        if node == "plan_traversals" and update:
            self.total = len(update["plans"])
            if self.mode == "jsonl":
                self._emit({"event": "planned", "plans": [p["id"] for p in update["plans"]],
                            "bias_kind": update["bias"]["kind"], "latent_dim": update["model"]["latent_dim"]})
            else:
                self.message(f"  planned {self.total} traversals ({update['bias']['kind']} bias, "
                             f"model latent_dim {update['model']['latent_dim']})")
        elif node in LATENT_NODES and namespace:
            latent = latent_id(update) or namespace[-1].split(":")[0]
            step = (update.get("steps") or [{}])[-1]
            if self.mode == "jsonl":
                self._emit({"event": "node", "latent": latent, "node": SHORT[node], "attempt": step.get("attempt"),
                            **({"decision": step["decision"], "certainty": step["certainty"]} if node == "verify_explanations" else {})})
            self.where[latent] = f"{SHORT[node]}#{step.get('attempt', 1)}"
            self._redraw()
        elif node == "explain_latent" and not namespace:
            for entry in update.get("latents", []) or []:
                self.done += 1
                self.where.pop(entry["id"], None)
                if self.mode == "jsonl":
                    self._emit({"event": "latent_done", "latent": entry["id"], "status": entry["status"],
                                "certainty": entry["certainty"], "attempts": entry["attempts"],
                                "explanation": entry["explanation"]})
                elif self.mode == "lines":
                    text = entry.get("explanation") or entry.get("error") or "No clear explanation"
                    self._say(f"  {entry['id']:>6}  {entry['status']:<9}  certainty {entry['certainty']:.2f}  "
                              f"attempts {entry['attempts']}  {text}")

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()
