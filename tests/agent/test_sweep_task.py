"""One model's task, run directly (no Ray): a worker that does not see the sweep folder (another
machine without a shared file system) explains the model in a scratch folder and hands the run
folder back as an archive; unpacked on the driver's side it is a finished run that the next
sweep reuses."""

from agent.settings import Settings
from agent.sweep.runs import folder_state
from agent.sweep.task import SWEEP_ID_FILE, explain_model, unpack_folder


def test_a_worker_on_another_machine_returns_the_run_folder(tmp_path):
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    (sweep_dir / SWEEP_ID_FILE).write_text("the-driver's-sweep\n")
    settings = Settings(n_samples=2, frames=3, max_attempts=1).to_dict()
    run_dir = sweep_dir / "dsprites-btcvae"
    job = {"ref": "builtin:dsprites-btcvae", "bias": None, "settings": settings, "run_dir": str(run_dir),
           "sweep_dir": str(sweep_dir), "sweep_id": "a sweep this worker cannot see", "evaluate": None}
    started, finished = list(explain_model(job))
    assert started["event"] == "started" and finished["event"] == "finished"
    assert not run_dir.exists()  # nothing was written into the driver's folder
    unpack_folder(finished["archive"], run_dir)
    assert (run_dir / "results.json").is_file() and (run_dir / "report.html").is_file()
    state = folder_state(run_dir, "builtin:dsprites-btcvae", None, settings)
    assert state.kind == "finished" and not state.evaluated
