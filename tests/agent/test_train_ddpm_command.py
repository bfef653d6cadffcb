"""`latent-explainer train-ddpm`: user mistakes are one line with exit 2; a tiny run writes a
checkpoint that `--model FOLDER` loads as a DDPM."""

import json

import pytest

from agent.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "--steps must be at least 1"),
        (["--image-size", "24"], "--image-size must divide 64"),
        (["--channels", "4,x"], "not a comma-separated list"),
        (["--channels", "4,8,8,8", "--image-size", "4"], "--channels 4,8,8,8 with --image-size 4"),
        (["--ema-decay", "1"], "--ema-decay must be in [0, 1)"),
        (["--save-every-minutes", "0"], "--save-every-minutes must be positive"),
        (["--threads", "-1"], "--threads must be at least 0"),
        (["--dataset", "mnist"], "invalid choice"),
    ],
)
def test_one_clear_line(argv, message, capsys, tmp_path):
    try:
        code = main(["train-ddpm", "--out", str(tmp_path / "out"), *argv])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0]


def test_tiny_run_writes_a_ddpm_checkpoint(capsys, tmp_path):
    from tools.models.ddpm.model import is_ddpm_checkpoint
    from tools.models.references import parse_model_ref

    out = tmp_path / "ddpm"
    code = main(["train-ddpm", "--out", str(out), "--channels", "4,8", "--image-size", "8", "--steps", "2",
                 "--batch-size", "2", "--no-basis", "--device", "cpu"])
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"checkpoint": str(out)}
    assert is_ddpm_checkpoint(out) and not (out / "hspace_basis.safetensors").exists()
    assert parse_model_ref(str(out)).kind == "checkpoint"


def test_init_from_continues_a_checkpoint_and_keeps_its_record(capsys, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--steps", "2", "--batch-size", "2", "--no-basis", "--device", "cpu"]
    assert main(["train-ddpm", "--out", str(first), "--channels", "4,8", "--image-size", "8", *common]) == 0
    assert main(["train-ddpm", "--out", str(second), "--init-from", str(first), *common, "--seed", "1"]) == 0
    record = json.loads((second / "config.json").read_text())
    assert record["model"]["block_out_channels"] == [4, 8] and record["model"]["image_size"] == 8
    assert [stage["read_from"] for stage in record["training"]["earlier_stages"]] == [str(first)]
    assert record["training"]["steps_done"] == 2


def test_init_from_a_folder_that_is_not_a_ddpm_is_one_line(capsys, tmp_path):
    code = main(["train-ddpm", "--out", str(tmp_path / "out"), "--init-from", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not a DDPM checkpoint folder" in err[0]


@pytest.mark.parametrize(("argv", "message"), [
    (["--channels", "4,8"], "--channels cannot be combined with --init-from"),
    (["--seed", "0"], "--seed 0 was already used to train"),
])
def test_init_from_refuses_architecture_flags_and_a_used_seed(argv, message, capsys, tmp_path):
    first = tmp_path / "first"
    assert main(["train-ddpm", "--out", str(first), "--channels", "4,8", "--image-size", "8", "--steps", "1",
                 "--batch-size", "2", "--no-basis", "--device", "cpu", "--seed", "0"]) == 0
    capsys.readouterr()
    code = main(["train-ddpm", "--out", str(tmp_path / "second"), "--init-from", str(first), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
