"""`latent-explainer eval` and `calibrate` end to end on a tiny CSVAE checkpoint of procedural
3DShapes, and the one-line refusals of models without ground truth.

The checkpoint is freshly built with the residual w posterior, so q(w | x, y) is its prior: each
attribute's w is that attribute (tests/tools/test_labelled_encoders.py). The labels therefore
say which factor every explained group controls, whatever the describer makes of the frames of
a random decoder."""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path

import pytest
import torch

from agent.cli import main
from agent.commands.eval import format_report
from tests.agent.test_eval_command import tiny_labelled_vae
from tests.tools.test_labelled_encoders import ATTRIBUTE_FACTOR, tiny_csvae
from tools.checkpoint import save_checkpoint
from tools.csvae import save_csvae
from tools.shapes3d import sample_batch
from tools.train_csvae import shapes3d_attributes

FAST = ["--n-samples", "2", "--frames", "4", "--max-attempts", "1", "--n-images", "400", "--quiet"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(tiny CSVAE folder, tiny dSprites VAE folder), readable by the sandbox's user."""
    folder = tmp_path_factory.mktemp("models")
    csvae = tiny_csvae()
    batch = sample_batch(64, torch.Generator().manual_seed(3))
    csvae.fit_directions_and_anchors(batch.images, shapes3d_attributes(batch.factors))
    paths = save_csvae(csvae, folder / "csvae"), save_checkpoint(tiny_labelled_vae(), folder / "vae")
    folder.chmod(0o755)
    return paths


@pytest.fixture
def short_tmp():
    """A short folder path: the sandbox's Unix sockets live in the run folder (108-byte limit)."""
    with tempfile.TemporaryDirectory(prefix="lx-cs-", dir="/tmp") as folder:
        yield Path(folder)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_eval_of_a_csvae_scores_each_attribute_group_against_its_factor(models, short_tmp, capsys):
    out = short_tmp / "run"
    code, stdout, err = run_cli(capsys, "eval", "--model", str(models[0]), "--out", str(out), "--json", *FAST)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["ground_truth"]["dataset"] == "shapes3d"
    assert summary["ground_truth"]["method"] == "labels, through the csvae's encoder"
    rows = {row["latent"]: row for row in summary["latents"]}
    assert set(rows) == set(ATTRIBUTE_FACTOR)  # the conditional bias: one entry per attribute
    for name, factor in ATTRIBUTE_FACTOR.items():
        assert rows[name]["truth"] == [factor] and rows[name]["active"], rows[name]
    assert summary["n_active"] == 6 and summary["gating_auc"] is None  # one class only
    assert 0 <= summary["mig"] <= 1 and 0 <= summary["sap"] <= 1 and set(summary["dci"]) == {
        "disentanglement", "completeness", "informativeness"}
    results = json.loads((out / "results.json").read_text())
    assert [entry["indices"] for entry in results["latents"]] == [[2 + i] for i in range(6)]  # w's coordinates
    table = format_report(summary)
    assert "orientation_positive orientation" in table and "(400 labelled shapes3d images)" in table


@pytest.mark.slow
def test_calibrate_pools_a_csvae_and_a_vae(models, short_tmp, capsys):
    path = short_tmp / "cal.json"
    code, stdout, err = run_cli(capsys, "calibrate", "--model", str(models[0]), "--model", str(models[1]),
                                "--out", str(path), "--runs-dir", str(short_tmp / "runs"), *FAST)
    assert code == 0, err
    assert "over 9 latents (7 active) of 2 model(s)" in stdout
    entry = json.loads(path.read_text())["entries"][0]
    assert {pair["model"] for pair in entry["stats"]["pairs"]} == {str(models[0]), str(models[1])}
    assert -1 <= entry["threshold"] <= 1


@pytest.mark.parametrize("command", ["eval", "calibrate"])
def test_a_model_family_without_ground_truth_is_one_line(command, tmp_path, capsys):
    code, _, err = run_cli(capsys, command, "--model", "builtin:dsprites-ddpm", "--out", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1
    assert "eval has no ground truth for ddpm models yet ('builtin:dsprites-ddpm'); it measures the families " \
           "vae, csvae" in err
    assert not (tmp_path / "out").exists()


def test_quality_benchmark_runs_the_models_with_ground_truth_and_refuses_others(capsys):
    spec = importlib.util.spec_from_file_location("quality", ROOT / "benchmarks" / "quality.py")
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    assert quality.labelled_builtin_models() == ["builtin:dsprites-btcvae", "builtin:shapes3d-csvae"]
    assert quality.main(["--model", "builtin:dsprites-ddpm", "--file", "/nonexistent/BENCHMARKS.md"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no ground truth for ddpm models yet" in err
