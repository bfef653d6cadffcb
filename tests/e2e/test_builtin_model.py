"""The main job: explain every latent of the built-in dSprites beta-TCVAE, offline, and judge
the explanations against ground truth from the dataset's labels (not the describer's own
measurements): encode labelled renders, find what each latent informs (tools/evaluation/ground_truth.py),
and require every latent that carries a factor to be explained with that factor named (one that
carries several may instead be unclear when its anchors show different ones), and every latent
that carries none to be reported unclear."""

import json

import pytest

from agent.cli import main
from tools.evaluation.factor_naming import named_factors
from tools.evaluation.ground_truth import dsprites_ground_truth
from tools.models.builtin import BUILTIN_MODELS
from tools.models.vae.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def builtin_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("builtin") / "run"
    assert main(["explain", "--out", str(out), "--quiet"]) == 0
    return out, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def truth():
    vae = load_checkpoint(BUILTIN_MODELS["dsprites-btcvae"].folder)
    return dsprites_ground_truth(vae.encode, vae.latent_dim, n_images=5000, seed=123)


@pytest.mark.slow
def test_every_latent_matches_ground_truth(builtin_run, truth):
    _, results = builtin_run
    by_id = {entry["id"]: entry for entry in results["latents"]}
    assert len(by_id) == len(truth.latents) == 10
    for latent in truth.latents:
        entry = by_id[f"z{latent.index}"]
        if not latent.factors:
            assert entry["status"] == "unclear", (latent, entry["samples"])
            continue
        if len(latent.factors) > 1 and entry["status"] == "unclear":
            # an entangled latent (z5 moves along a diagonal) whose anchors name different axes:
            # no single meaning holds for all of them, and the grouped gate says so
            assert len(entry["groups"][0]) < len(entry["samples"]), entry["samples"]
            continue
        assert entry["status"] == "explained", (latent, entry["samples"])
        named = named_factors(entry["explanation"])
        assert named & set(latent.factors), (latent.factors, entry["explanation"])


@pytest.mark.slow
def test_results_follow_the_contract(builtin_run):
    out, results = builtin_run
    assert {"run_id", "model", "bias", "settings", "backend", "latents"} <= results.keys()
    assert results["backend"] == {"vision": "offline-analytic", "coder": "template"}
    assert results["bias"]["kind"] == "disentanglement" and results["bias"]["prompt"]
    for entry in results["latents"]:
        assert entry["status"] in ("explained", "unclear", "failed")
        assert (out / entry["strip"]).is_file()
        assert len(entry["frames"]) == results["settings"]["frames"]
    html = (out / "report.html").read_text()
    assert all(entry["id"] in html for entry in results["latents"])
