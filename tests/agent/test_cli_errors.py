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
