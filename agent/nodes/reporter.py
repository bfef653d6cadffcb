"""Reporter node: results.json (the contract in docs/results.md) and the self-contained
report.html, written into the run folder."""

from __future__ import annotations

import json
from pathlib import Path

from agent.llm.usage import total_usage
from agent.state import RunState

RESULTS_FILE = "results.json"
REPORT_FILE = "report.html"


def build_results(state: RunState) -> dict:
    """The results.json object; latents in plan order."""
    order = {plan["id"]: i for i, plan in enumerate(state.get("plans", []))}
    latents = sorted(state.get("latents", []), key=lambda entry: order.get(entry["id"], len(order)))
    latents = [{k: v for k, v in entry.items() if k != "steps"} for entry in latents]  # steps: see `trace`
    return {
        "run_id": state["run_id"],
        "model": state.get("model", {"ref": state["model_ref"]}),
        "bias": {k: state.get("bias", {}).get(k) for k in ("formula", "kind", "prompt", "sympy")},
        "settings": state["settings"],
        "backend": state["backend"],
        "latents": latents,
        "summary": {status: sum(1 for e in latents if e["status"] == status) for status in ("explained", "unclear", "failed")},
        "usage": total_usage(entry.get("usage") for entry in latents),
    }


def write_outputs(run_dir: str | Path, results: dict) -> tuple[Path, Path]:
    """Write results.json and report.html; returns both paths."""
    from tools.report.html import write_report

    run_dir = Path(run_dir)
    results_path = run_dir / RESULTS_FILE
    results_path.write_text(json.dumps(results, indent=2))
    return results_path, write_report(results, run_dir, REPORT_FILE)


def write_report_files(state: RunState) -> dict:
    """Returns {} (the files are the output); the run's kernel is closed first: no node runs
    code after this one (nor sends an LLM request: the run's LLM session is closed too)."""
    from agent.kernel_pool import close_kernel
    from agent.llm.client import close_session

    close_kernel(state["run_dir"])
    close_session(state["run_dir"])
    write_outputs(state["run_dir"], build_results(state))
    return {}
