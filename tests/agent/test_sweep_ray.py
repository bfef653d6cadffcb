"""`latent-explainer sweep` on a local Ray with two workers (small settings): two built-ins
explained and scored against their labels, a model that fails once and is retried by Ray (the
retry resumes its run), a model that always fails reported failed while the others finish;
then the same sweep again reuses every finished run (results.json untouched) and a sweep with
other settings into the same folder is refused."""

import contextlib
import io
import json

import pytest

from agent.cli import main

SMALL = ["--n-samples", "2", "--frames", "3", "--max-attempts", "1", "--n-images", "300"]

TINY_MODEL = '''
from pathlib import Path

import torch


class Tiny:
    """z0 moves a bright bar from left to right; z1 changes nothing."""

    latent_dim = 2
    name = "tiny"

    def decode(self, z):
        columns = torch.arange(16.0)
        centre = 7.5 + 4 * torch.tanh(z[:, :1])
        bar = (columns[None, :] - centre).abs() < 2
        return bar[:, None, None, :].float().expand(-1, 1, 16, 16).contiguous()


def build():
    {body}
    return Tiny()
'''
FLAKY = TINY_MODEL.format(body='marker = Path("first-attempt-failed")  # the kernel runs in the run folder\n'
                                '    if not marker.exists():\n'
                                '        marker.write_text("1")\n'
                                '        raise RuntimeError("flaky on the first attempt")')
BROKEN = TINY_MODEL.format(body='raise RuntimeError("this model is broken on purpose")')


def _sweep(argv, capsys):
    code = main(["sweep", *argv, "--events", "jsonl"])
    out = capsys.readouterr().out
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return code, events


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    root.chmod(0o755)  # the sandbox runs a model file's kernel as another user
    (root / "flaky.py").write_text(FLAKY)
    (root / "broken.py").write_text(BROKEN)
    models = root / "models.yaml"
    models.write_text("- builtin:dsprites-btcvae beta=4\n"
                      "- model: builtin:shapes3d-csvae\n  labels: {seed: 0}\n"
                      f"- {root / 'flaky.py'}:build\n"
                      f"- {root / 'broken.py'}:build\n")
    return root, ["--models", str(models), "--out", str(root / "out"), "--workers", "2", "--retries", "1", *SMALL]


@pytest.fixture(scope="module")
def first_run(sweep_folder):
    root, argv = sweep_folder
    stdout = io.StringIO()  # capsys is function-scoped: capture by hand
    with contextlib.redirect_stdout(stdout):
        code = main(["sweep", *argv, "--events", "jsonl"])
    events = [json.loads(line) for line in stdout.getvalue().splitlines() if line.startswith("{")]
    sweep = json.loads((root / "out" / "sweep.json").read_text())
    return code, events, sweep


@pytest.mark.slow
def test_the_others_finish_while_one_model_fails(first_run, sweep_folder):
    root, _ = sweep_folder
    code, events, sweep = first_run
    assert code == 1  # a failed model makes the sweep's exit non-zero
    by_title = {m["title"]: m for m in sweep["models"]}
    assert [m["status"] for m in sweep["models"]] == ["done", "done", "done", "failed"]
    broken = by_title[f"{root / 'broken.py'}:build"]
    assert "this model is broken on purpose" in broken["error"] and "\n" not in broken["error"]
    failed = [e for e in events if e["event"] == "model_failed"]
    assert len(failed) == 1 and failed[0]["model"] == broken["title"]
    done = [e["model"] for e in events if e["event"] == "model_done"]
    assert sorted(done) == sorted(t for t in by_title if t != broken["title"])
    assert {e["model"] for e in events if e["event"] == "model_started"} == set(by_title)
    assert events[-2]["event"] == "sweep_done" and events[-2]["done"] == 3 and events[-2]["failed"] == 1


@pytest.mark.slow
def test_each_model_has_its_run_folder_and_the_table_says_what_it_found(first_run, sweep_folder):
    root, _ = sweep_folder
    _, _, sweep = first_run
    out = root / "out"
    for model in sweep["models"][:3]:
        results = json.loads((out / model["run_dir"] / "results.json").read_text())
        assert results["model"]["ref"] == model["ref"]
        assert [latent["id"] for latent in model["latents"]] == [latent["id"] for latent in results["latents"]]
        assert all((out / latent["strip"]).is_file() for latent in model["latents"])
        assert results["settings"]["frames"] == 3 and results["settings"]["n_samples"] == 2
    assert sweep["models"][0]["labels"] == {"beta": "4"} and sweep["models"][1]["labels"] == {"seed": "0"}
    page = (out / "sweep.html").read_text()
    for model in sweep["models"]:
        assert model["ref"] in page
    assert "this model is broken on purpose" in page and "z9" in page and "data:image/png;base64," in page
    assert "<script" not in page


@pytest.mark.slow
def test_labelled_models_are_scored_and_the_others_say_why_not(first_run):
    _, _, sweep = first_run
    for model in sweep["models"][:2]:
        evaluation = model["evaluation"]
        assert model["scoring"] is None
        assert 0 <= evaluation["factor_accuracy"] <= 1 and 0 <= evaluation["mig"] <= 1
        assert evaluation["gating_auc"] is None or 0 <= evaluation["gating_auc"] <= 1
        assert evaluation["ground_truth"]["n_images"] == 300
    for model in sweep["models"][2:]:
        assert model["evaluation"] is None and "FILE.py:FN" not in (model["scoring"] or "x")
        assert "file reference" in model["scoring"]


@pytest.mark.slow
def test_a_retried_model_resumes_its_run(first_run, sweep_folder):
    root, _ = sweep_folder
    _, _, sweep = first_run
    flaky = sweep["models"][2]
    assert flaky["status"] == "done" and flaky["resumed"] is True
    assert (root / "out" / flaky["run_dir"] / "first-attempt-failed").is_file()  # the first attempt ran there
    assert "retries remaining" in (root / "out" / "ray.log").read_text()


@pytest.mark.slow
def test_a_second_run_reuses_the_finished_runs(first_run, sweep_folder, capsys):
    root, argv = sweep_folder
    out = root / "out"
    kept = [out / name / file for name in ("dsprites-btcvae-beta4", "shapes3d-csvae-seed0", "flaky-build")
            for file in ("results.json", "report.html", "checkpoints.sqlite")]
    kept += [out / "dsprites-btcvae-beta4" / "evaluation.json"]
    before = {path: path.stat().st_mtime_ns for path in kept}
    code, events = _sweep([*argv, "--retries", "0"], capsys)  # retries do not change what a run is
    assert code == 1
    assert {path: path.stat().st_mtime_ns for path in kept} == before
    reused = [e["model"] for e in events if e["event"] == "model_reused"]
    assert len(reused) == 3
    assert [e["event"] for e in events if e["event"] in ("model_started", "model_done", "model_failed")] == \
        ["model_started", "model_failed"]  # only the broken model runs again
    sweep = json.loads((out / "sweep.json").read_text())
    assert [m["reused"] for m in sweep["models"]] == [True, True, True, False]
    assert sweep["models"][0]["evaluation"]["mig"] is not None  # still read from the reused folder


@pytest.mark.slow
def test_other_settings_into_the_same_folder_are_refused(first_run, sweep_folder, capsys):
    _, argv = sweep_folder
    changed = [a if a != "3" else "4" for a in argv]  # --frames 4
    code = main(["sweep", *changed, "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "holds a run of other settings (frames=3)" in err[0]
