"""Wall time of `latent-explainer sweep` over the three built-in models on a local Ray with 1
and with 2 workers (each into a fresh folder, so nothing is reused), then the sweep table of
the last run as Markdown (per model: status, time, explained / unclear / failed, the scores
against the labels; per latent: status, certainty and explanation).

    .venv/bin/python benchmarks/sweep_builtins.py --out /tmp/sweep-bench [--workers 1 2] [sweep flags...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

MODELS = ("builtin:dsprites-btcvae", "builtin:shapes3d-csvae", "builtin:dsprites-ddpm")


def _number(value, digits=3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(sweep: dict) -> str:
    """The sweep as Markdown: one summary row per model, then its latents."""
    lines = ["| model | status | time (s) | explained / unclear / failed | factor accuracy | MIG | gating AUC |",
             "|---|---|---:|---|---:|---:|---:|"]
    for model in sweep["models"]:
        summary = model.get("summary") or {}
        ev = model.get("evaluation") or {}
        counts = " / ".join(str(summary.get(k, 0)) for k in ("explained", "unclear", "failed"))
        lines.append(f"| `{model['title']}` | {model['status']} | {_number(model.get('elapsed_s'), 1)} | {counts} | "
                     f"{_number(ev.get('factor_accuracy'))} | {_number(ev.get('mig'))} | {_number(ev.get('gating_auc'))} |")
    for model in sweep["models"]:
        lines += ["", f"`{model['title']}`:", "", "| latent | status | certainty | explanation |", "|---|---|---:|---|"]
        for latent in model.get("latents") or []:
            text = latent.get("explanation") if latent.get("status") == "explained" else "No clear explanation"
            lines.append(f"| {latent['id']} | {latent['status']} | {_number(latent.get('certainty'), 2)} | {text} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args, extra = parser.parse_known_args()
    walls = {}
    for workers in args.workers:
        out = args.out / f"workers-{workers}"
        if out.exists():
            sys.exit(f"{out} exists; give a fresh --out so that nothing is reused")
        argv = [sys.executable, "-m", "agent.cli", "sweep", *(a for m in MODELS for a in ("--model", m)),
                "--workers", str(workers), "--out", str(out), *extra]
        started = time.monotonic()
        code = subprocess.call(argv)
        walls[workers] = time.monotonic() - started
        print(f"workers {workers}: exit {code}, wall {walls[workers]:.1f} s (the whole command)", flush=True)
    print()
    walls = {w: wall for w, wall in walls.items() if (args.out / f"workers-{w}" / "sweep.json").is_file()}
    for workers, wall in walls.items():
        sweep = json.loads((args.out / f"workers-{workers}" / "sweep.json").read_text())
        per_model = ", ".join(f"{m['name']} {_number(m.get('elapsed_s'), 1)} s" for m in sweep["models"])
        print(f"- {workers} worker(s): {wall:.1f} s wall (sweep {sweep['sweep']['wall_s']:.1f} s; {per_model})")
    print()
    if walls:
        print(table(json.loads((args.out / f"workers-{max(walls)}" / "sweep.json").read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
