"""`latent-explainer sandbox exec` through agent.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    status = main(["sandbox", "exec", *argv])
    out = capsys.readouterr().out
    return status, json.loads(out) if out.strip() else {}


def test_exec_prints_one_json_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "cell.py"
    script.write_text("print('hello')\nopen('made.txt', 'w').write('x')\n")
    status, output = run_cli(capsys, str(script), "--run-dir", str(tmp_path / "run"), "--timeout", "30")
    assert status == 0
    assert output["stdout"] == "hello\n" and output["stderr"] == ""
    assert output["files_written"] == ["made.txt"] and output["error"] is None
    assert (tmp_path / "run" / "made.txt").read_text() == "x"


def test_exec_reports_an_error_in_the_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "bad.py"
    script.write_text("print('before')\nraise ValueError('no good')\n")
    status, output = run_cli(capsys, str(script), "--run-dir", str(tmp_path / "run"), "--sandbox", "off")
    assert status == 1
    assert output["stdout"] == "before\n"
    assert output["error"]["type"] == "ExecutionError"
    assert output["error"]["ename"] == "ValueError" and output["error"]["evalue"] == "no good"


def test_exec_of_a_missing_file_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["sandbox", "exec", str(tmp_path / "missing.py")])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert "missing.py" in captured.err and len(captured.err.strip().splitlines()) == 1


def test_exec_rejects_a_bad_isolation_mode(tmp_path: Path) -> None:
    script = tmp_path / "cell.py"
    script.write_text("1")
    with pytest.raises(SystemExit) as caught:
        main(["sandbox", "exec", str(script), "--sandbox", "maybe"])
    assert caught.value.code == 2
