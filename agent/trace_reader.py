"""Reading a run back from its SQLite checkpoints, for `latent-explainer trace`.

A finished latent's steps live in the parent graph's `latents` entries; a latent still in
progress when the run stopped is read from its pending subgraph task."""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import UserError
from agent.run import CHECKPOINT_FILE, open_checkpoint_db


@dataclass
class RunTrace:
    """run_dir; values: the parent graph's state; latents: finished entries (with steps);
    in_progress: per unfinished latent, its partial LatentState; finished: the graph ended."""

    run_dir: Path
    values: dict
    latents: list[dict]
    in_progress: list[dict] = field(default_factory=list)
    finished: bool = False


def find_run(name: str, root: Path = Path("runs")) -> Path:
    """A run folder by path or by name under runs/."""
    for candidate in (Path(name), root / name):
        if (candidate / CHECKPOINT_FILE).is_file():
            return candidate.resolve()
    raise UserError(f"no run {name!r}: expected a run folder with {CHECKPOINT_FILE} (see `latent-explainer trace`)")


def read_trace(run_dir: Path) -> RunTrace:
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agent.graph import build_graph

    with closing(open_checkpoint_db(run_dir)) as connection:
        graph = build_graph(SqliteSaver(connection))
        config = {"configurable": {"thread_id": run_dir.name}}
        snapshot = graph.get_state(config, subgraphs=True)
        values = dict(snapshot.values or {})
        latents = list(values.get("latents", []))
        in_progress = []
        for task in snapshot.tasks:  # branches of a superstep the run did not complete
            sub_values = dict(getattr(getattr(task, "state", None), "values", None) or {})
            plan = sub_values.get("job", {}).get("plan", {})
            if not plan or plan.get("id") in {e["id"] for e in latents}:
                continue
            if sub_values.get("latents"):  # the branch finished: its final entry
                latents += sub_values["latents"]
            else:
                in_progress.append(sub_values)
    return RunTrace(run_dir, values, latents, in_progress, finished=not snapshot.next)


def list_runs(root: Path = Path("runs")) -> list[dict]:
    """One summary per run folder under root, newest first."""
    rows = []
    for folder in sorted(root.glob("*/"), key=lambda p: p.stat().st_mtime, reverse=True):
        if not (folder / CHECKPOINT_FILE).is_file():
            continue
        results = folder / "results.json"
        row = {"run": folder.name, "path": str(folder)}
        try:
            trace = read_trace(folder)
            counts = {s: sum(1 for e in trace.latents if e["status"] == s) for s in ("explained", "unclear", "failed")}
            row |= {"model": trace.values.get("model_ref"), "state": "finished" if trace.finished else "stopped",
                    **counts, "in_progress": len(trace.in_progress)}
        except Exception as error:  # a damaged checkpoint must not hide the other runs
            row |= {"state": f"unreadable ({type(error).__name__})"}
        row["results"] = str(results) if results.is_file() else None
        rows.append(row)
    return rows


def format_usage(usage: dict | None) -> str:
    """One line of LLM cost: "3 requests (1 retry), 1200 prompt + 90 completion tokens, 2 cache
    hits"; "" when there were no requests and no cache hits."""
    if not usage or not (usage.get("requests") or usage.get("cache_hits")):
        return ""
    retries = usage.get("retries", 0)
    return (f"{usage.get('requests', 0)} requests ({retries} retr{'y' if retries == 1 else 'ies'}), "
            f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion tokens, "
            f"{usage.get('cache_hits', 0)} cache hits")


def format_step(step: dict) -> list[str]:
    """Human lines for one trace step."""
    node = step.get("node")
    if node == "planner":
        plan = step["plan"]
        return [f"plan: traverse latents {plan['indices']} over {plan['values']} ({plan['kind']})",
                f"bias prompt: {step.get('bias_prompt', '')}"]
    if node == "coder" and step.get("tool"):
        lines = [f"[attempt {step['attempt']}] coder turn {step.get('turn')} ({step.get('coder')}): {step['tool']}"]
        if step.get("code"):
            lines += ["    " + line for line in step["code"].splitlines()]
        if step.get("observation") is not None:
            lines.append(f"    observation: {json.dumps(step['observation'])[:600]}")
        return lines
    if node == "coder":
        reused = f", reusing the code of shape {step.get('shape')}" if step.get("reused") else ""
        head = f"[attempt {step['attempt']}] code ({step.get('coder')}{reused}):"
        tail = [f"    coder error: {step['error']}"] if step.get("error") else []
        if format_usage(step.get("usage")):
            tail.append(f"    LLM: {format_usage(step['usage'])}")
        return [head, *("    " + line for line in (step.get("code") or "").splitlines()), *tail]
    if node == "sandbox":
        lines = [f"[attempt {step['attempt']}] sandbox: traversal {step.get('traversal')}, strip {step.get('strip')}"]
        if step.get("frames"):
            lines.append(f"    frames: {', '.join(step['frames'])}")
        if step.get("error"):
            lines.append(f"    error: {step['error']}")
        return lines
    if node == "vision":
        lines = [f"[attempt {step['attempt']}] vision ({step['backend']}), pixel change {step.get('pixel_change')}:"]
        if step.get("system_prompt"):
            lines.append(f"    prompt: {step['system_prompt']!r} / {step.get('user_prompt')!r}")
        lines += [f"    sample {i + 1}: {s}" for i, s in enumerate(step.get("samples", []))]
        if format_usage(step.get("usage")):
            lines.append(f"    LLM: {format_usage(step['usage'])}")
        if step.get("error"):
            lines.append(f"    error: {step['error']}")
        return lines
    if node == "verifier":
        return [f"[attempt {step['attempt']}] verifier: certainty {step['certainty']}, decision {step['decision']} ({step['reason']})"]
    if node == "fidelity":
        if step.get("error"):
            return [f"[attempt {step['attempt']}] fidelity: not scored ({step['error']})"]
        chance = step.get("chance", {})
        return [f"[attempt {step['attempt']}] fidelity ({step.get('simulator')}, {step.get('trials')} trials on fresh "
                f"anchors, seed {step.get('seed')}): detection {step.get('detection')} (chance {chance.get('detection')}),"
                f" direction {step.get('direction')} (chance {chance.get('direction')})",
                f"    claims: {json.dumps(step.get('claims'))}; distractors: {', '.join(step.get('distractor_ids', []))}"]
    return [json.dumps(step)]
