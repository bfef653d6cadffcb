"""Every user mistake at the CLI: one line, non-zero exit, no traceback."""

import pytest

from agent.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explain", "--frobnicate"], "unrecognized arguments"),
        (["explain", "--n-samples", "one"], "invalid int value"),
        (["explain", "--n-samples", "1"], "n_samples must be at least 2"),
        (["explain", "--llm", "claude"], "claude"),
        (["explain", "--model", "no/such/folder"], "not found"),
        (["explain", "--device", "tpu"], "tpu"),
        (["trace", "no-such-run"], "no run 'no-such-run'"),
        (["nonsense"], "invalid choice"),
        (["train", "--out", "ckpt", "--capacity-max", "-5"], "capacity control needs"),
        (["explain", "--out", "/proc/x"], "cannot make the run folder '/proc/x'"),
        (["explain", "--widen-factor", "0.5"], "widen_factor must be at least 1"),
    ],
)
def test_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own exits
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


def _checkpoint_copy(tmp_path):
    import shutil

    from tools.models.builtin import BUILTIN_MODELS

    folder = tmp_path / "ckpt"
    shutil.copytree(BUILTIN_MODELS["dsprites-btcvae"].folder, folder)
    return folder


@pytest.mark.parametrize(("damage", "message"), [
    (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:1000]),
     "model.safetensors is not a readable safetensors file"),
    (lambda f: (f / "config.json").write_text('{"training": {}}'), "config.json has no 'model' configuration"),
])
def test_a_damaged_checkpoint_says_which_file(damage, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = _checkpoint_copy(tmp_path)
    damage(folder)
    code = main(["explain", "--model", str(folder), "--quiet", "--n-samples", "2", "--frames", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
