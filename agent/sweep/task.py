"""One model of a sweep, as a Ray task: explain it (or resume its run), score it against its
labels when it can be scored, and hand the run folder back.

The task is a generator (a Ray streaming generator): it yields {"event": "started", ...} when a
worker picks it up (the sweep's "running" count) and {"event": "finished", ...} at the end.
Ray retries the task when it raises or its worker dies (max_retries); a retry finds the
checkpoint the failed attempt left and resumes from it.

Where the run folder is written: a worker that sees the sweep folder (the same machine, or a
shared file system; told by the sweep's id file in it) writes the run folder in place; any other
worker writes it to a scratch folder and returns it as a tar archive, which the driver unpacks
(agent.sweep.runner).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SWEEP_ID_FILE = ".sweep-id"


def sees_sweep_folder(sweep_dir: Path, sweep_id: str) -> bool:
    """Whether this process sees the driver's sweep folder (same machine or shared file system)."""
    try:
        return (sweep_dir / SWEEP_ID_FILE).read_text().strip() == sweep_id
    except OSError:
        return False


def pack_folder(folder: Path) -> bytes:
    """The folder as a gzipped tar archive (paths relative to it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def unpack_folder(data: bytes, folder: Path) -> None:
    """Unpack pack_folder's archive into folder (created); refuses members that leave it."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(folder, filter="data")


def explain_model(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Run one model's job (built by agent.sweep.runner.make_job: ref, bias, settings, run_dir,
    sweep_dir, sweep_id, evaluate {n_images, label_seed, anchors} or None); yields the
    started and finished events. A UserError or any other exception propagates to Ray."""
    from agent.run import CHECKPOINT_FILE, RunRequest, run_explain
    from agent.settings import Settings
    from agent.sweep.runs import folder_state

    host = socket.gethostname()
    yield {"event": "started", "host": host, "pid": os.getpid()}
    started = time.monotonic()
    run_dir = Path(job["run_dir"])
    in_place = sees_sweep_folder(Path(job["sweep_dir"]), job["sweep_id"])
    scratch = None if in_place else Path(tempfile.mkdtemp(prefix="latent-explainer-sweep-"))
    work_dir = run_dir if scratch is None else scratch / run_dir.name
    try:
        state = folder_state(work_dir, job["ref"], job["bias"], job["settings"])
        if state.kind != "finished":
            if state.kind == "new" and (work_dir / CHECKPOINT_FILE).exists():
                (work_dir / CHECKPOINT_FILE).unlink()  # an empty checkpoint of an attempt that saved nothing
            run_explain(RunRequest(job["ref"], job["bias"], Settings.from_record(job["settings"]), work_dir, "quiet",
                                   resume=state.kind == "unfinished"))
        evaluation = None
        if job.get("evaluate") is not None and not (state.kind == "finished" and state.evaluated):
            evaluation = score_run(work_dir, job["ref"], Settings.from_record(job["settings"]), **job["evaluate"])
        archive = pack_folder(work_dir) if scratch is not None else None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    yield {"event": "finished", "host": host, "elapsed_s": round(time.monotonic() - started, 2),
           "resumed": state.kind == "unfinished", "evaluated": evaluation is not None, "archive": archive}


def score_run(run_dir: Path, ref: str, settings: Any, n_images: int, label_seed: int, anchors: int) -> dict:
    """Score a finished run against the labels of the data its model was trained on: the
    steps 2, 4 and 5 of `latent-explainer eval` (ground truth, factor accuracy, MIG, gating),
    written to the run folder's evaluation.json; returns the evaluation."""
    from agent.evaluation import evaluate_run, measure_disentanglement, measure_truth

    measured = measure_truth(ref, n_images, label_seed, settings.device, anchors, settings.traversal_range)
    return evaluate_run(run_dir, measured.truth, ref, measure_disentanglement(measured))
