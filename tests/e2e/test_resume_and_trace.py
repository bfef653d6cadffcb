"""A run killed midway is listed as stopped, `trace` shows its steps, and `explain --resume`
finishes it without recomputing the latents that had finished."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.cli import main

CLI = [sys.executable, "-m", "agent.cli"]


def _kill_after_latents(out: Path, count: int) -> list[str]:
    process = subprocess.Popen([*CLI, "explain", "--out", str(out), "--events", "jsonl"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    finished, deadline = [], time.monotonic() + 240
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "latent_done":
            finished.append(event["latent"])
            if len(finished) >= count:
                os.killpg(process.pid, signal.SIGKILL)
                break
        assert time.monotonic() < deadline
    process.wait()
    return finished


@pytest.mark.slow
def test_killed_run_is_traced_and_resumed(tmp_path, capsys):
    out = tmp_path / "run"
    finished = _kill_after_latents(out, 2)
    assert not (out / "results.json").exists()

    assert main(["trace", "--runs-dir", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["state"] == "stopped" and listed[0]["explained"] + listed[0]["unclear"] >= 2

    assert main(["trace", str(out), "--latent", finished[0]]) == 0
    shown = capsys.readouterr().out
    assert "plan: traverse latents" in shown and "code (template)" in shown and "verifier: certainty" in shown

    assert main(["explain", "--resume", str(out), "--events", "jsonl"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    recomputed = {e["latent"] for e in events if e["event"] == "node"}
    assert not recomputed & set(finished)
    results = json.loads((out / "results.json").read_text())
    assert len(results["latents"]) == 10

    assert main(["trace", "--runs-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["state"] == "finished"
