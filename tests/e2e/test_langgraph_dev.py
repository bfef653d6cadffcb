"""One run through the real `langgraph dev` server (langgraph-cli[inmem]) over HTTP: the graph
that langgraph.json names, with the platform's own checkpointer and a plain input."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).with_name("langgraph")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, body: dict | None = None, timeout: float = 10) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@pytest.mark.slow
@pytest.mark.skipif(not LANGGRAPH.exists() and not shutil.which("langgraph"), reason="langgraph-cli is not installed")
def test_a_run_through_langgraph_dev_over_http(tmp_path):
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    # --allow-blocking: the nodes are synchronous (subprocess kernel, file I/O), which the dev
    # server's blocking-call detector would otherwise refuse inside its event loop.
    server = subprocess.Popen(
        [str(LANGGRAPH if LANGGRAPH.exists() else shutil.which("langgraph")), "dev", "--port", str(port), "--host",
         "127.0.0.1", "--no-browser", "--no-reload", "--allow-blocking"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1"},
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _request(f"{base}/ok", timeout=2).get("ok"):
                    break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "langgraph dev did not start in 90 s"
            time.sleep(0.5)
        run_dir = tmp_path / "run"
        final = _request(f"{base}/runs/wait", {
            "assistant_id": "latent_explainer",
            "input": {"model_ref": "builtin:dsprites-btcvae", "run_dir": str(run_dir)},
            "context": {"n_samples": 2, "frames": 3, "max_attempts": 1},
        }, timeout=300)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()
    assert "__error__" not in final, final
    assert final["run_dir"] == str(run_dir) and (run_dir / "results.json").is_file()
    assert len(final["latents"]) == 10 and final["settings"]["n_samples"] == 2
    assert {entry["status"] for entry in final["latents"]} <= {"explained", "unclear"}
