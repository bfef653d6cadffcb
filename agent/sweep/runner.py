"""Running a sweep: one explain per model, as Ray tasks, then sweep.json and sweep.html.

Steps (`run_sweep`):
1. Check every run folder under the sweep folder: a finished run of the same model, bias and
   settings is reused (and not submitted); a folder of another request is a UserError.
2. Start Ray: a local Ray with `workers` CPUs (no dashboard, a small object store), or connect
   to the cluster at `ray_address`. Each model becomes one task asking for 1 CPU, and 1 GPU
   when it is a diffusion model and the cluster has GPUs; Ray retries a task that raised or
   whose worker died (`retries` times), then the model is reported failed and the others go on.
3. Follow the tasks (agent.sweep.progress), unpack the run folders that came back from workers
   that do not share the sweep folder.
4. Write sweep.json and sweep.html (tools/report/sweep_html.py) from the run folders.

Ray prints its own notices (a task retried, a worker died) on stdout; while Ray runs they go to
DIR/ray.log, so stdout keeps only the sweep's own output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import UserError
from agent.sweep.progress import SweepProgress
from agent.sweep.runs import RESULTS_FILE, folder_state
from agent.sweep.spec import SweepModel
from agent.sweep.task import SWEEP_ID_FILE, unpack_folder

SWEEP_JSON = "sweep.json"
SWEEP_HTML = "sweep.html"
RAY_LOG = "ray.log"
DIFFUSION_FAMILIES = ("ddpm", "sd")
OBJECT_STORE_BYTES = 128 * 1024**2
"""The local Ray's object store: the tasks pass only small dicts (and, from other machines, a
run folder's archive)."""
RAY_ADDRESS = re.compile(r"^(auto|ray://[^\s/:]+:\d{1,5}|[A-Za-z0-9_.-]+:\d{1,5})$")


@dataclass
class SweepRequest:
    """models: the checked models (agent.sweep.spec.sweep_models). bias: the formula for every
    model (None: each model's family default). settings: agent.settings.Settings, the same for
    every model. out: the sweep folder. workers: CPUs of a local Ray (ignored with ray_address).
    ray_address: HOST:PORT of a running cluster's head, "auto", or ray://HOST:PORT (Ray client);
    None starts a local Ray. retries: Ray retries per task. evaluate: score the models that can
    be scored against their labels. n_images, label_seed, anchors: as for `eval`.
    progress: "lines", "jsonl" or "quiet"."""

    models: list[SweepModel]
    bias: str | None
    settings: Any
    out: Path
    workers: int = 1
    ray_address: str | None = None
    retries: int = 1
    evaluate: bool = True
    n_images: int = 10_000
    label_seed: int = 0
    anchors: int = 24
    progress: str = "lines"


@dataclass
class ModelOutcome:
    """One model's line in sweep.json: status waiting | done | failed; reused: its finished run
    folder was reused; host: the machine that ran it; error: why it failed; scoring: None when
    it is scored against labels, else why not."""

    model: SweepModel
    status: str = "waiting"
    reused: bool = False
    host: str | None = None
    elapsed_s: float | None = None
    error: str | None = None
    scoring: str | None = None
    extra: dict = field(default_factory=dict)


def scoring_plan(ref: str) -> str | None:
    """None when the model can be scored against labels (eval's step 1), else why not."""
    from tools.evaluation.model_ground_truth import labelled_model

    try:
        labelled_model(ref)
    except UserError as error:
        return str(error)
    return None


def make_job(request: SweepRequest, model: SweepModel, sweep_id: str, scored: bool) -> dict:
    """The plain dict a task runs (agent.sweep.task.explain_model)."""
    return {
        "ref": model.ref, "bias": request.bias, "settings": request.settings.to_dict(),
        "run_dir": str(request.out / model.name), "sweep_dir": str(request.out), "sweep_id": sweep_id,
        "evaluate": {"n_images": request.n_images, "label_seed": request.label_seed, "anchors": request.anchors}
        if scored else None,
    }


def check_ray_address(address: str) -> str:
    """The address, checked for form (HOST:PORT, auto, ray://HOST:PORT); UserError otherwise."""
    if not RAY_ADDRESS.match(address.strip()):
        raise UserError(f"--ray {address!r} is not a Ray address; give HOST:PORT of the head node (as `ray start "
                        "--head` printed it), ray://HOST:PORT, or auto")
    return address.strip()


def reachable(address: str, timeout_s: float = 3.0) -> None:
    """UserError unless something accepts a TCP connection at the address's HOST:PORT (Ray itself
    waits minutes for a head that is not there); "auto" is left to Ray."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as error:
        raise UserError(f"nothing answers at the Ray address {address!r} ({error.__class__.__name__}: {error}); "
                        "is `ray start --head` running there, and is the port open?") from None


def start_ray(request: SweepRequest) -> str:
    """Start a local Ray or connect to a cluster; returns where, in words ("on ..."). UserError when the
    cluster cannot be reached."""
    import ray

    common = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if request.ray_address is None:
        try:
            # "local": a Ray of its own, even when `ray start` left a cluster on this machine
            ray.init(address="local", num_cpus=request.workers, object_store_memory=OBJECT_STORE_BYTES, **common)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise UserError(f"could not start a local Ray: {first} (details in {request.out / RAY_LOG})") from None
        return f"on a local Ray with {request.workers} worker{'s' * (request.workers != 1)}"
    address = check_ray_address(request.ray_address)
    reachable(address)
    try:
        if address.startswith("ray://"):
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(address=address, **common)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        hint = ("" if os.environ.get("RAY_AUTH_MODE", "").lower() == "token" else
                "; a cluster started with RAY_AUTH_MODE=token needs RAY_AUTH_MODE=token and its token here too "
                "(docs/sweep.md)")
        raise UserError(f"could not connect to the Ray cluster at {address!r}: {first}{hint}") from None
    resources = ray.cluster_resources()
    return (f"on the Ray cluster at {address} ({int(resources.get('CPU', 0))} CPUs, "
            f"{int(resources.get('GPU', 0))} GPUs)")


def task_options(request: SweepRequest, model: SweepModel, cluster_gpus: float) -> dict:
    """Ray resources and retries of one model's task: a GPU for a diffusion model when the
    cluster has one and the run may use it (device auto or cuda)."""
    wants_gpu = (model.family in DIFFUSION_FAMILIES and cluster_gpus >= 1
                 and str(request.settings.device).startswith(("auto", "cuda")))
    return {"num_cpus": 1, "num_gpus": 1 if wants_gpu else 0, "max_retries": request.retries,
            "retry_exceptions": True, "name": f"explain {model.name}"}


def placed_job(job: dict, options: dict, cluster_gpus: float) -> dict:
    """The job as its task runs it: on a cluster with GPUs, a task that reserved none runs its
    model on the CPU (device auto -> cpu), so it never takes a GPU that Ray gave another task."""
    if options["num_gpus"] == 0 and cluster_gpus >= 1 and job["settings"]["device"] == "auto":
        return {**job, "settings": {**job["settings"], "device": "cpu"}}
    return job


def error_line(error: BaseException) -> str:
    """One line for a task that failed after its retries: the original exception of a
    RayTaskError, else the first line of Ray's message (a worker that died, a task lost)."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}".splitlines()[0]
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".strip()


def _sweep_id(out: Path) -> str:
    path = out / SWEEP_ID_FILE
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    sweep_id = uuid.uuid4().hex
    path.write_text(sweep_id + "\n")
    return sweep_id


def _summary(run_dir: Path) -> dict:
    results = json.loads((run_dir / RESULTS_FILE).read_text(encoding="utf-8"))
    return results.get("summary") or {}


@contextlib.contextmanager
def ray_output_to(path: Path) -> Iterator[None]:
    """While Ray runs, what it writes through Python (its loggers, and the notices it prints on
    stdout: a task retried, a worker died) goes to `path`, so the terminal and --events jsonl
    keep only the sweep's own output (agent.sweep.progress holds the real streams)."""
    logger = logging.getLogger("ray")
    with open(path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        saved = logger.handlers[:]
        logger.handlers = [logging.StreamHandler(log)]  # ray.init clears them; its warnings then reach sys.stderr
        try:
            yield
        finally:
            logger.handlers = saved


def run_sweep(request: SweepRequest) -> tuple[Path, list[ModelOutcome]]:
    """Steps 1-4 of the module docstring; returns the sweep folder and each model's outcome."""
    started = time.monotonic()
    out = request.out.resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
        sweep_id = _sweep_id(out)
    except OSError as error:
        raise UserError(f"cannot write the sweep folder {str(out)!r}: {error.strerror or error}") from None
    request.out = out
    if request.ray_address is not None:
        check_ray_address(request.ray_address)
    outcomes = [ModelOutcome(model) for model in request.models]
    progress = SweepProgress(request.progress, len(outcomes))
    jobs: list[tuple[ModelOutcome, dict]] = []
    for outcome in outcomes:  # step 1: all folders checked before any work
        model = outcome.model
        outcome.scoring = scoring_plan(model.ref) if request.evaluate else "not asked (--no-eval)"
        state = folder_state(out / model.name, model.ref, request.bias, request.settings.to_dict())
        if state.kind == "finished" and (state.evaluated or outcome.scoring is not None):
            outcome.status, outcome.reused = "done", True
        else:
            jobs.append((outcome, make_job(request, model, sweep_id, outcome.scoring is None)))
    where = "without Ray: every model's finished run is reused"
    if jobs:
        with ray_output_to(out / RAY_LOG):
            where = start_ray(request)
            try:
                progress.sweep_started(request.models, where)
                _report_reused(outcomes, out, progress)
                _run_jobs(jobs, request, progress)
            finally:
                import ray

                ray.shutdown()
    else:
        progress.sweep_started(request.models, where)
        _report_reused(outcomes, out, progress)
    from agent.sweep.report import write_sweep

    wall_s = round(time.monotonic() - started, 2)
    json_path, html_path = write_sweep(out, request, outcomes, where, wall_s)
    progress.sweep_done(str(json_path), str(html_path), wall_s)
    return out, outcomes


def _report_reused(outcomes: list[ModelOutcome], out: Path, progress: SweepProgress) -> None:
    for outcome in outcomes:
        if outcome.reused:
            progress.reused(outcome.model, _summary(out / outcome.model.name))


def _run_jobs(jobs: list[tuple[ModelOutcome, dict]], request: SweepRequest, progress: SweepProgress) -> None:
    """Submit every job, then follow the streaming tasks until each has finished or failed."""
    import ray

    from agent.sweep.task import explain_model

    remote = ray.remote(explain_model)
    gpus = ray.cluster_resources().get("GPU", 0)
    pending = {}
    for outcome, job in sorted(jobs, key=lambda item: item[0].model.family not in DIFFUSION_FAMILIES):
        # the slow ones (diffusion models) first, so that they do not start last and make the sweep wait
        options = task_options(request, outcome.model, gpus)
        generator = remote.options(**options).remote(placed_job(job, options, gpus))
        pending[generator] = outcome
    running: set[int] = set()
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for generator in ready:
            outcome = pending[generator]
            key = id(outcome)
            try:
                event = ray.get(next(generator))
            except StopIteration:
                del pending[generator]
                continue
            except Exception as error:  # the task failed after its retries, or was lost
                del pending[generator]
                outcome.status, outcome.error = "failed", error_line(error)
                progress.model_failed(outcome.model, outcome.error, key in running)
                running.discard(key)
                continue
            if event["event"] == "started":
                outcome.host = event["host"]
                if key not in running:
                    running.add(key)
                    progress.model_started(outcome.model, event["host"])
            elif event["event"] == "finished":
                run_dir = request.out / outcome.model.name
                if event.get("archive"):
                    unpack_folder(event["archive"], run_dir)
                outcome.status, outcome.elapsed_s = "done", event["elapsed_s"]
                outcome.extra = {"resumed": event["resumed"]}
                progress.model_done(outcome.model, _summary(run_dir), event["elapsed_s"], key in running)
                running.discard(key)

