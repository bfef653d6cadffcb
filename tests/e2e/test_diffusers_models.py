"""`explain --model diffusers:...`, `sd:... --prompt ...` and `--mount` end to end, with tiny
pipelines saved by save_pretrained into a temporary folder (CPU, random weights, no hub)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.cli import main
from tests.fixtures.tiny_diffusers import save_tiny_ddpm_pipeline, save_tiny_stable_diffusion

TINY = ["--directions", "2", "--inference-steps", "2", "--n-samples", "2", "--frames", "3", "--max-attempts", "1"]
CONTRACT = {"id", "indices", "status", "explanation", "certainty", "threshold", "samples", "gamma", "attempts",
            "frames", "strip", "measurements", "error"}


def _readable(folder: Path) -> Path:
    """As root the sandbox's kernel runs as nobody: make the folder readable by everyone."""
    for path in [folder, *folder.parents[:1], *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    """Bases go to a per-test user cache, never the real ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "latent-explainer" / "hspace"


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    save_tiny_ddpm_pipeline(root / "ddpm")
    save_tiny_stable_diffusion(root / "sd")
    return _readable(root)


def _check_contract(out: Path, results: dict, ids: set[str]) -> None:
    by_id = {entry["id"]: entry for entry in results["latents"]}
    assert set(by_id) == ids
    for entry in results["latents"]:
        assert CONTRACT <= entry.keys()
        assert entry["status"] in ("explained", "unclear"), entry["error"]
        assert len(entry["frames"]) == 3 and entry["frames"] == sorted(entry["frames"])
        assert all((out / f).is_file() for f in entry["frames"])
    assert (out / "report.html").is_file()


@pytest.mark.slow
def test_stable_diffusion_is_explained_under_the_prompt(tmp_path, pipelines):
    out = tmp_path / "run"
    code = main(["explain", "--model", f"sd:{pipelines / 'sd'}", "--prompt", "a red square", "--guidance-scale", "1",
                 "--out", str(out), *TINY])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["model"]["family"] == "sd" and results["model"]["metadata"]["prompt"] == "a red square"
    assert results["bias"]["kind"] == "conditional" and results["bias"]["formula"] == r"p(z_i \mid t)"
    assert results["settings"]["prompt"] == "a red square"
    _check_contract(out, results, {"z0", "z1"})


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err)
    assert err[-1].startswith("latent-explainer: error:")
    return err[-1]


@pytest.mark.parametrize("ref", ["diffusers:google/ddpm-cifar10-32", "sd:stable-diffusion-v1-5/stable-diffusion-v1-5"])
def test_a_hub_id_offline_is_one_line_naming_the_missing_files_and_the_fetch(tmp_path, capsys, monkeypatch, ref):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    hub_id = ref.split(":", 1)[1]
    assert main(["explain", "--model", ref, "--prompt", "a face", "--out", str(tmp_path / "run")]) == 2
    line = _one_error_line(capsys)
    assert "not in the Hugging Face cache" in line and "offline" in line
    assert "missing" in line and "model_index.json" in line and f"download {hub_id}" in line


def test_a_partly_cached_hub_pipeline_names_the_missing_component(tmp_path, capsys, monkeypatch, pipelines):
    """A snapshot in the cache layout that lacks the UNet's weights: the line names unet/."""
    import shutil

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = tmp_path / "hub" / "models--someone--tiny-ddpm" / "snapshots" / "abc123"
    shutil.copytree(pipelines / "ddpm", snapshot)
    for weights in (snapshot / "unet").glob("*.safetensors"):
        weights.unlink()
    assert main(["explain", "--model", "diffusers:someone/tiny-ddpm", "--out", str(tmp_path / "run")]) == 2
    assert "missing unet/*.safetensors" in _one_error_line(capsys)


def test_sd_without_a_prompt_is_one_line(tmp_path, capsys, pipelines):
    assert main(["explain", "--model", f"sd:{pipelines / 'sd'}", "--out", str(tmp_path / "run")]) == 2
    assert "give --prompt TEXT" in _one_error_line(capsys)


def test_a_text_to_image_pipeline_given_as_diffusers_points_at_sd(tmp_path, capsys, pipelines):
    code = main(["explain", "--model", f"diffusers:{pipelines / 'sd'}", "--out", str(tmp_path / "run"), *TINY])
    assert code == 2
    assert "use sd:FOLDER --prompt TEXT" in _one_error_line(capsys)


MODEL_FILE = '''
import torch

CHECKPOINT = {checkpoint!r}


class Square:
    latent_dim = 2
    name = "square-from-a-checkpoint"

    def __init__(self, step):
        self.step = step

    def decode(self, z):
        coords = torch.arange(32, dtype=torch.float32) + 0.5
        cx = 16 + self.step * z[:, 0].clamp(-3, 3)
        half = (5 + z[:, 1].clamp(-3, 3))[:, None, None]
        dx = (coords[None, None, :] - cx[:, None, None]).abs()
        dy = (coords[None, :, None] - 16).abs()
        return torch.sigmoid(4 * (half - torch.maximum(dx, dy)))[:, None]


def build():
    return Square(float(torch.load(CHECKPOINT)["step"]))
'''


@pytest.fixture
def model_beside_its_weights(tmp_path):
    """~/proj/model.py reads ~/ckpt/model.pt (here under /tmp, which the sandbox also hides)."""
    import torch

    (tmp_path / "ckpt").mkdir()
    (tmp_path / "proj").mkdir()
    torch.save({"step": torch.tensor(4.0)}, tmp_path / "ckpt" / "model.pt")
    (tmp_path / "proj" / "model.py").write_text(MODEL_FILE.format(checkpoint=str(tmp_path / "ckpt" / "model.pt")))
    for path in [tmp_path, *tmp_path.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return tmp_path


def test_weights_outside_the_sandbox_get_an_error_naming_mount(tmp_path, capsys, model_beside_its_weights):
    root = model_beside_its_weights
    code = main(["explain", "--model", f"{root / 'proj' / 'model.py'}:build", "--out", str(root / "run"),
                 "--n-samples", "2", "--frames", "3"])
    assert code == 2
    line = _one_error_line(capsys)
    assert "cannot see" in line and f"--mount {root / 'ckpt'}" in line


@pytest.mark.slow
def test_weights_from_a_mounted_folder_load(tmp_path, model_beside_its_weights):
    root = model_beside_its_weights
    out = root / "run"
    code = main(["explain", "--model", f"{root / 'proj' / 'model.py'}:build", "--mount", str(root / "ckpt"),
                 "--out", str(out), "--n-samples", "3", "--frames", "5", "--max-attempts", "2", "--quiet"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    by_id = {entry["id"]: entry for entry in results["latents"]}
    assert by_id["z0"]["status"] == "explained" and "left to right" in by_id["z0"]["explanation"]
    assert results["settings"]["mount"] == [str(root / "ckpt")]


def test_a_mount_that_does_not_exist_is_one_line(tmp_path, capsys):
    assert main(["explain", "--model", "builtin:dsprites-ddpm", "--mount", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "run")]) == 2
    assert f"--mount {tmp_path / 'nope'}: no such file or folder" in _one_error_line(capsys)


@pytest.mark.slow
def test_diffusers_pipeline_is_explained_and_a_resumed_run_reuses_its_basis(tmp_path, pipelines, user_cache, capsys):
    """Killed after its first direction, the run is resumed: the basis the killed kernel wrote
    into the run folder is loaded, not computed again (the user cache is still empty: a killed
    run never copied it there); the finished run keeps the basis in the user cache."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    args = ["--model", f"diffusers:{pipelines / 'ddpm'}", *TINY]
    env = os.environ | {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    process = subprocess.Popen([sys.executable, "-m", "agent.cli", "explain", *args, "--out", str(out),
                                "--events", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               start_new_session=True, env=env)
    first, deadline = [], time.monotonic() + 240
    for line in process.stdout:
        event = json.loads(line)
        first.append(event)
        if event["event"] == "latent_done":
            os.killpg(process.pid, signal.SIGKILL)
            break
        assert time.monotonic() < deadline
    process.wait()
    assert any("power iteration" in e.get("text", "") for e in first)  # progress of the long step
    assert list((out / "cache" / "hspace").glob("hspace-*.safetensors")) and not user_cache.exists()

    assert main(["explain", "--resume", str(out), "--events", "jsonl"]) == 0
    texts = [json.loads(line).get("text", "") for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any("h-space basis from the cache" in t and str(out) in t for t in texts)
    assert not any("power iteration" in t for t in texts)
    results = json.loads((out / "results.json").read_text())
    assert results["model"]["family"] == "ddpm" and results["bias"]["kind"] == "disentanglement"
    assert results["model"]["latent_dim"] == 3 and results["model"]["image_shape"] == [3, 8, 8]
    assert results["model"]["metadata"]["hspace"]["rank"] == 2
    assert results["model"]["metadata"]["hspace"]["num_inference_steps"] == 2
    _check_contract(out, results, {"z0", "z1"})
    assert len(list(user_cache.glob("hspace-*.safetensors"))) == 1  # kept for the next run
