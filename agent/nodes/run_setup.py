"""Run set-up node: the run folder, the run's name, the backend names and the settings record,
so that a graph started with only a model reference (LangGraph Studio, `langgraph dev`,
`graph.invoke`) runs like one started by the CLI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import UserError
from agent.settings import Settings, settings_of
from agent.state import RunState

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

RUNS_ROOT = Path("runs")


def new_run_dir(out: Path | None, model_ref: str, root: Path = RUNS_ROOT) -> Path:
    """`out` as given (created), or root/<time>-<model>; UserError when it cannot be made."""
    try:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            return out.resolve()
        name = model_ref.replace("builtin:", "").replace("/", "_").replace(":", "_").strip("._")[-40:] or "model"
        run_dir = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
        suffix = 1
        while run_dir.exists():
            suffix += 1
            run_dir = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{suffix}"
        run_dir.mkdir(parents=True)
        return run_dir.resolve()
    except OSError as error:
        where = out if out is not None else root
        raise UserError(f"cannot make the run folder {str(where)!r}: {error.strerror or error}; "
                        "give --out a folder you can write to") from None


def backend_names(settings: Settings) -> dict:
    """What produced the explanations and the code, as shown in every output."""
    from agent.nodes.coder import coder_name

    return {"vision": settings.vision_backend, "coder": coder_name(settings)}


def prepare_run(state: RunState, runtime: Runtime[Settings]) -> dict:
    """Returns {run_id, run_dir, settings, backend}; makes the run folder when none is given and
    makes the model's folder visible to the run's sandbox kernel."""
    from agent.kernel_pool import register_model

    if not state.get("model_ref"):
        raise UserError("the run needs a model_ref, e.g. {'model_ref': 'builtin:dsprites-btcvae'}")
    settings = settings_of(runtime)
    given = state.get("run_dir")
    run_dir = new_run_dir(Path(given) if given else None, state["model_ref"])
    register_model(str(run_dir), state["model_ref"], settings)
    return {
        "run_id": state.get("run_id") or run_dir.name,
        "run_dir": str(run_dir),
        "settings": settings.to_dict(),
        "backend": backend_names(settings),
    }
