"""Running the graph for one request from the CLI or the Python API: the run folder, the SQLite
checkpointer, progress lines, and the guarantee that whatever finished is written even when the
run stops early."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from agent.settings import Settings

CHECKPOINT_FILE = "checkpoints.sqlite"


@dataclass
class RunRequest:
    """model_ref: a tools.models.references reference. bias_formula: None for the family's default.
    out: the run folder (None: a new folder under runs/). settings: agent.settings.Settings.
    progress: "lines", "jsonl" or "quiet". resume: continue the run in `out` from its checkpoint."""

    model_ref: str
    bias_formula: str | None
    settings: Settings
    out: Path | None = None
    progress: str = "lines"
    resume: bool = False


def open_checkpoint_db(run_dir: Path) -> sqlite3.Connection:
    """The run's SQLite checkpoint database (wrap it in langgraph's SqliteSaver)."""
    return sqlite3.connect(str(run_dir / CHECKPOINT_FILE), check_same_thread=False)


def run_explain(request: RunRequest) -> Path:
    """Run the graph (or resume it); returns the run folder holding results.json and
    report.html. Whatever finished is written even when the run stops early."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agent.graph import build_graph
    from agent.kernel_pool import close_kernel, register_model, set_progress
    from agent.llm.client import close_session
    from agent.nodes.reporter import build_results, write_outputs
    from agent.nodes.run_setup import backend_names, new_run_dir
    from agent.progress import Progress

    run_dir = request.out.resolve() if request.resume and request.out else new_run_dir(request.out, request.model_ref)
    settings = request.settings
    inputs = {"run_id": run_dir.name, "run_dir": str(run_dir), "model_ref": request.model_ref,
              "bias_formula": request.bias_formula}
    # LangGraph's thread pool also runs the stream's waiter task (stream(..., subgraphs=True)):
    # one thread more than the latent branches, or a pool of one deadlocks. LLM requests in
    # flight are bounded by settings.max_concurrency in the client (agent/llm/client.py).
    config = {"configurable": {"thread_id": run_dir.name}, "max_concurrency": settings.max_concurrency + 1}
    progress = Progress(request.progress)
    verb = "resuming" if request.resume else "explaining"
    progress.message(f"latent-explainer: {verb} {request.model_ref} in {run_dir}")
    set_progress(str(run_dir), progress.message)  # the model's progress lines from the sandbox
    if request.resume:  # the run set-up node will not run again: show the kernel the model again
        register_model(str(run_dir), request.model_ref, settings)
    started = time.monotonic()
    with closing(open_checkpoint_db(run_dir)) as connection:
        graph = build_graph(SqliteSaver(connection))
        finished = False
        try:
            for namespace, chunk in graph.stream(None if request.resume else inputs, config, context=settings,
                                                 stream_mode="updates", subgraphs=True):
                for node, update in chunk.items():
                    progress.update(namespace, node, update)
            finished = True
        finally:
            progress.close()
            close_kernel(str(run_dir))
            close_session(str(run_dir))
            if not finished:  # keep what finished: partial results from the last checkpoint
                saved = graph.get_state(config).values
                if saved.get("latents"):
                    record = {"settings": settings.to_dict(), "backend": backend_names(settings)}
                    write_outputs(run_dir, build_results({**inputs, **record, **saved}))
    progress.message(f"latent-explainer: done in {time.monotonic() - started:.1f} s: "
                     f"{run_dir / 'results.json'}, {run_dir / 'report.html'}")
    return run_dir
