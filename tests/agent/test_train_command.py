"""`latent-explainer train`: values no run can use are one line with exit 2 before any training
starts; `--init-from` keeps the earlier stage in its record and refuses a seed an earlier stage
used (it would replay the same data)."""

import json

import pytest

from agent.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--beta", "-1"], "--beta must be positive, got -1.0"),
        (["--lr", "0"], "--lr must be positive"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--max-minutes", "0"], "--max-minutes must be positive"),
        (["--save-every-minutes", "-5"], "--save-every-minutes must be positive"),
        (["--kl-warmup-steps", "-1"], "--kl-warmup-steps must be at least 0"),
        (["--threads", "-2"], "--threads must be at least 0"),
        (["--mi-weight", "-0.1"], "--mi-weight must be at least 0"),
        (["--loss", "beta_vae", "--dim-kl-weight", "0.1"], "weight the terms of --family vae --loss beta_tcvae only"),
        (["--capacity-max", "20", "--mi-weight", "0.1"], "do not apply under capacity control"),
        (["--family", "csvae", "--adversary-lr", "0"], "--adversary-lr must be positive"),
    ],
)
def test_unusable_values_are_one_line_before_training(argv, message, capsys, tmp_path):
    out = tmp_path / "out"
    code = main(["train", "--out", str(out), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_init_from_records_the_earlier_stage_and_refuses_its_seed(capsys, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--steps", "1", "--batch-size", "4", "--threads", "1", "--device", "cpu"]
    assert main(["train", "--out", str(first), "--seed", "0", *common]) == 0
    assert main(["train", "--out", str(second), "--init-from", str(first), "--seed", "1", "--beta", "2",
                 "--mi-weight", "0.5", *common]) == 0
    saved = json.loads((second / "config.json").read_text())
    record = saved["training"]
    assert (saved["model"]["mi_weight"], saved["model"]["dim_kl_weight"]) == (0.5, 1.0)
    assert [stage["read_from"] for stage in record["earlier_stages"]] == [str(first)]
    assert record["settings"]["command"].startswith("latent-explainer train ") and "--beta 2.0" in record["settings"]["command"]
    assert f"--init-from {first}" in record["settings"]["command"]
    assert "--seed 0" in record["earlier_stages"][0]["settings"]["command"]
    capsys.readouterr()
    code = main(["train", "--out", str(tmp_path / "third"), "--init-from", str(second), "--seed", "0", *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--seed 0 was already used to train" in err[0] and "0, 1" in err[0]
