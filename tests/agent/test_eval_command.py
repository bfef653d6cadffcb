"""`latent-explainer eval` and `calibrate` end to end on a tiny VAE checkpoint built by hand:
its encoder puts the sprite's pixel mass (which tells scale and shape) into z0 with a small
posterior variance and leaves z1, z2 at exactly N(0, 1) (no information), and its decoder reads
only z0. So the labels make z0 active and z1, z2 inactive, whatever the describer says."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from agent.cli import main
from agent.commands.eval import format_report
from agent.settings import Settings
from tools.certainty.calibration import load_threshold
from tools.certainty.semantic_groups import SEMANTIC_MEASURE
from tools.certainty.similarity import SIMILARITY_MEASURE
from tools.data.dsprites import render
from tools.evaluation.ground_truth import labelled_factors
from tools.models.vae.checkpoint import save_checkpoint
from tools.models.vae.model import BurgessVAE, VAEConfig

FAST = ["--n-samples", "2", "--frames", "4", "--max-attempts", "1", "--n-images", "400", "--quiet"]


def tiny_labelled_vae(dataset: str = "dsprites") -> BurgessVAE:
    """The checkpoint of the module docstring (seeded)."""
    torch.manual_seed(0)
    vae = BurgessVAE(VAEConfig(latent_dim=3, hidden_channels=8, hidden_dim=32, dataset=dataset))
    with torch.no_grad():
        for layer in vae.encoder:
            if hasattr(layer, "weight"):  # positive weights, no biases: outputs grow with pixel mass
                layer.weight.abs_()
                layer.bias.zero_()
        head = vae.encoder[-1]  # rows 0-2: means, rows 3-5: log-variances
        head.weight[1:].zero_()
        raw = vae.encode(render(labelled_factors(256, seed=9)))[0][:, 0]
        head.weight[0] /= raw.std()
        head.bias[0] = -raw.mean() / raw.std()  # z0 standardised over the data
        head.bias[3] = -4.0  # small posterior variance: KL of z0 about 2 nats
        vae.decoder[0].weight[:, 1:].zero_()  # the decoder ignores z1 and z2
        vae.decoder[0].weight[:, 0] *= 30
        vae.decoder[-1].weight *= 30  # saturated images, so z0's traversal is visible
    return vae


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "tiny"
    save_checkpoint(tiny_labelled_vae(), folder)
    folder.parent.chmod(0o755)  # the sandbox reads it as another user
    return folder


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_eval_scores_the_run_writes_the_roc_and_links_it(checkpoint, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(capsys, "eval", "--model", str(checkpoint), "--out", str(out), "--json", *FAST)
    assert code == 0
    summary = json.loads(stdout)
    assert {"factor_accuracy", "gating_auc", "mig", "threshold", "dci", "sap", "text"} <= summary.keys()
    calibrated = Settings().threshold  # the shipped calibration, when there is one
    assert summary["threshold"] == calibrated and summary["similarity_measure"] == SIMILARITY_MEASURE
    rows = {row["latent"]: row for row in summary["latents"]}
    assert rows["z0"]["active"] and rows["z0"]["truth"]
    for name in ("z1", "z2"):  # carry nothing, and the decoder ignores them
        assert rows[name]["truth_label"] == "inactive" and rows[name]["status"] == "unclear"
    correct = rows["z0"]["status"] == "explained" and rows["z0"]["named_true"]
    assert summary["factor_accuracy"] == (1.0 if correct else 0.0)
    assert summary["gating_auc"] == (1.0 if rows["z0"]["certainty"] > 0 else 0.5)
    assert 0 <= summary["mig"] <= 1 and 0 <= summary["sap"] <= 1
    assert set(summary["dci"]) == {"disentanglement", "completeness", "informativeness"}
    assert summary["text"]["n"] == (1 if rows["z0"]["status"] == "explained" else 0)

    with Image.open(out / "roc.png") as image:
        assert image.format == "PNG" and image.size == (480, 480)
    assert json.loads((out / "evaluation.json").read_text()) == summary
    results = json.loads((out / "results.json").read_text())
    assert {"label": "ROC of certainty against ground-truth activity", "path": "roc.png"} in results["links"]
    report = (out / "report.html").read_text()
    assert 'alt="ROC of certainty against ground-truth activity"' in report

    table = format_report(summary).splitlines()
    assert table[0].split()[:4] == ["latent", "truth", "status", "certainty"]
    assert [line.split()[0] for line in table[1:4]] == ["z0", "z1", "z2"]
    assert any(line.startswith("factor accuracy") for line in table)
    explained_true = int(correct and rows["z0"]["fidelity"] is not None)
    assert summary["fidelity"]["named_true"]["n"] == explained_true and summary["fidelity"]["rest"]["n"] == 0
    assert any(line.startswith("fidelity") and "naming a true factor" in line for line in table)


@pytest.fixture
def short_tmp():
    """A folder with a short path: the sandbox's Unix sockets live in the run folder, and a
    socket path must stay under 108 bytes (pytest's tmp_path is long)."""
    with tempfile.TemporaryDirectory(prefix="lx-cal-", dir="/tmp") as folder:
        yield Path(folder)


@pytest.mark.slow
def test_calibrate_cross_validates_a_threshold_per_measure(checkpoint, tmp_path, short_tmp, capsys):
    path = tmp_path / "cal.json"
    code, stdout, err = run_cli(capsys, "calibrate", "--model", str(checkpoint), "--out", str(path),
                                "--runs-dir", str(short_tmp / "runs"), *FAST)
    assert code == 0 and "leave-one-model-out folds" in stdout and "held out: F1" in stdout, err
    entries = {e["measure"]: e for e in json.loads(path.read_text())["entries"]}
    assert set(entries) == {SIMILARITY_MEASURE, SEMANTIC_MEASURE}
    for measure, entry in entries.items():
        cv = entry["stats"]["cross_validation"]
        assert entry["backend"] == "offline-analytic" and entry["threshold"] == cv["threshold"]
        models = [str(checkpoint), "hard-negatives", "gate-corpus-tuning"]
        assert {fold["held_out"] for fold in cv["folds"]} | set(cv["skipped"]) == set(models)
        assert entry["stats"]["models"] == models and entry["stats"]["latents"] == 3 + 8 + 16  # the corpus's tuning half
        found = load_threshold("offline-analytic", measure, path, env={})
        assert found[0] == entry["threshold"] and "leave-one-model-out" in found[1]
    assert (tmp_path / "cal-groups-roc.png").is_file() and (tmp_path / "cal-cosine-roc.png").is_file()
    assert len(entries[SEMANTIC_MEASURE]["stats"]["runs"]) == 2


def test_a_decoder_only_model_is_refused_before_any_work(tmp_path, capsys):
    model_file = tmp_path / "m.py"
    model_file.write_text("def build():\n    return None\n")
    code, _, err = run_cli(capsys, "eval", "--model", f"{model_file}:build", "--out", str(tmp_path / "run"))
    assert code == 2 and err.count("\n") == 1 and "is a file reference" in err
    assert not (tmp_path / "run").exists()


def test_a_model_of_an_unlabelled_dataset_is_refused(tmp_path, capsys):
    folder = save_checkpoint(BurgessVAE(VAEConfig(latent_dim=2, hidden_channels=4, hidden_dim=8, dataset="faces")),
                             tmp_path / "faces")
    code, _, err = run_cli(capsys, "eval", "--model", str(folder), "--out", str(tmp_path / "run"))
    assert code == 2 and "trained on dataset 'faces'; eval measures ground truth only for dsprites" in err
    code, _, err = run_cli(capsys, "calibrate", "--model", str(folder), "--out", str(tmp_path / "c.json"))
    assert code == 2 and "dataset 'faces'" in err
    code, _, err = run_cli(capsys, "calibrate", "--model", str(folder), "--threshold", "0.5")
    assert code == 2 and "--threshold 0.5 has no meaning for calibrate" in err


def test_too_few_probe_anchors_is_one_line_before_any_work(tmp_path, capsys):
    code, _, err = run_cli(capsys, "eval", "--anchors", "0", "--out", str(tmp_path / "run"))
    assert code == 2 and err.count("\n") == 1 and "--anchors must be at least 2" in err
    assert not (tmp_path / "run").exists()
