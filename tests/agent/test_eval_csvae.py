"""`latent-explainer eval` and `calibrate` end to end on a tiny CSVAE checkpoint of procedural
3DShapes, and the one-line refusals of models without ground truth.

The checkpoint is freshly built with the residual w posterior, so q(w | x, y) is its prior: each
attribute's w is that attribute (tests/tools/evaluation/test_labelled_encoders.py). The labels therefore
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
from tests.tools.evaluation.test_labelled_encoders import ATTRIBUTE_FACTOR, tiny_csvae
from tools.data.shapes3d import sample_batch
from tools.models.csvae.model import save_csvae
from tools.models.csvae.training import shapes3d_attributes
from tools.models.vae.checkpoint import save_checkpoint

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
    # the two models' 9 latents (7 active), the hard negatives' 8 (4) and the corpus's 16 tuning sets (8)
    assert "over 33 latents (19 active) of 4 model(s)" in stdout
    entry = json.loads(path.read_text())["entries"][0]
    assert {pair["model"] for pair in entry["stats"]["pairs"]} == {str(models[0]), str(models[1]), "hard-negatives",
                                                                    "gate-corpus-tuning"}
    assert -1 <= entry["threshold"] <= 1


@pytest.mark.slow
def test_eval_of_a_ddpm_reads_the_directions_with_the_factor_probe(short_tmp, capsys):
    """A random 32x32 DDPM of dSprites (fast h-space settings stored in its checkpoint): eval
    measures its truth with the shipped dsprites_32 probe, explains it, and reports no DCI/SAP."""
    from tools.models.ddpm.model import DDPMConfig, build_unet, save_ddpm

    torch.manual_seed(0)
    fast = {"rank": 2, "num_inference_steps": 4, "guidance_steps": 2, "reference_samples": 2,
            "power_iterations": 3, "edit_t": 0.6, "gamma": 0.5}
    config = DDPMConfig(image_size=32, block_out_channels=(4, 8), norm_num_groups=4, attention_head_dim=4,
                        extra={"hspace": fast})
    folder = save_ddpm(build_unet(config).eval(), config, short_tmp / "ddpm", {"note": "random weights"})
    for path in (short_tmp, folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    code, stdout, err = run_cli(capsys, "eval", "--model", str(folder), "--out", str(short_tmp / "run"), "--json",
                                "--anchors", "2", *FAST)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["ground_truth"]["method"].startswith("factor probe")
    assert [row["latent"] for row in summary["latents"]] == ["z0", "z1"]
    assert summary["dci"] is None and summary["sap"] is None


def test_quality_benchmark_runs_every_labelled_builtin(capsys):
    spec = importlib.util.spec_from_file_location("quality", ROOT / "benchmarks" / "quality.py")
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    assert quality.labelled_builtin_models() == ["builtin:dsprites-btcvae", "builtin:shapes3d-csvae",
                                                  "builtin:dsprites-ddpm"]
