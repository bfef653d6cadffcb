"""`latent-explainer trace [RUN] [--latent zK] [--json]`: list runs, or show every step of one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("trace", help="list runs, or show each latent's steps in a run")
    p.add_argument("run_name", metavar="RUN", nargs="?", help="run folder or name under runs/ (omit to list runs)")
    p.add_argument("--latent", help="only this latent, e.g. z3")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where runs are listed from")
    p.set_defaults(run=run)


def _print_runs(rows: list[dict]) -> None:
    if not rows:
        print("no runs yet (latent-explainer explain writes them under runs/)")
    for row in rows:
        counts = " ".join(f"{k} {row[k]}" for k in ("explained", "unclear", "failed", "in_progress") if k in row)
        print(f"{row['run']}  {row.get('state', '?'):<9} {row.get('model', '?')}  {counts}")


def run(args: argparse.Namespace) -> int:
    from agent.errors import UserError
    from agent.trace_reader import find_run, format_step, format_usage, list_runs, read_trace

    if not args.run_name:
        rows = list_runs(args.runs_dir)
        print(json.dumps(rows, indent=2)) if args.json else _print_runs(rows)
        return 0
    trace = read_trace(find_run(args.run_name, args.runs_dir))
    entries = [dict(e, state="finished") for e in trace.latents]
    entries += [{"id": s["job"]["plan"]["id"], "status": "in progress", "state": "in progress",
                 "steps": s.get("steps", [])} for s in trace.in_progress]
    if args.latent:
        entries = [e for e in entries if e["id"] == args.latent]
        if not entries:
            raise UserError(f"no latent {args.latent!r} in run {trace.run_dir.name}")
    if args.json:
        print(json.dumps({"run": trace.run_dir.name, "finished": trace.finished, "model": trace.values.get("model"),
                          "bias": trace.values.get("bias"), "latents": entries}, indent=2, default=str))
        return 0
    bias = trace.values.get("bias", {})
    print(f"run {trace.run_dir.name} ({'finished' if trace.finished else 'stopped before the end'})")
    print(f"model: {trace.values.get('model_ref')}   bias ({bias.get('kind')}): {bias.get('formula')}")
    for entry in entries:
        print(f"\n== {entry['id']}: {entry['status']}" + (f", certainty {entry['certainty']}" if "certainty" in entry else "")
              + (f", fidelity detection {entry['fidelity']['detection']} direction {entry['fidelity']['direction']}"
                 if entry.get("fidelity") else ""))
        for step in entry.get("steps", []):
            for line in format_step(step):
                print("  " + line)
        if entry.get("explanation"):
            print(f"  explanation: {entry['explanation']}")
        if format_usage(entry.get("usage")):
            print(f"  LLM: {format_usage(entry['usage'])}")
    return 0
