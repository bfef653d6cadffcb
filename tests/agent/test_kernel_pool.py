"""The run's kernel: what register_model shows it, the model options set in its first cell (and
again after a restart), and progress lines passed on while a cell runs."""

from __future__ import annotations

import pytest

from agent.errors import UserError
from agent.kernel_pool import _pooled, close_kernel, register_model, run_cell, set_progress
from sandbox.isolation import bwrap_problem
from tools.models.progress import PROGRESS_PREFIX

SETTINGS = {"sandbox": "auto", "cell_timeout_s": 60.0, "directions": 3, "inference_steps": 7, "guidance_scale": 2.0}


def test_options_reach_the_kernel_and_survive_a_restart_and_progress_is_passed_on(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    model_file = tmp_path / "proj" / "m.py"
    model_file.parent.mkdir()
    model_file.write_text("def build(): pass\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lines: list[str] = []
    set_progress(str(run_dir), lines.append)
    register_model(str(run_dir), f"{model_file}:build", SETTINGS | {"mount": [str(tmp_path / "proj")]})
    probe = "from tools.models.loading import model_options as o; print(o().directions, o().inference_steps, o().visible_paths)"
    try:
        assert run_cell(str(run_dir), SETTINGS, probe).stdout.split()[:2] == ["3", "7"]
        _pooled(str(run_dir), SETTINGS).kernel.restart()
        assert run_cell(str(run_dir), SETTINGS, probe).stdout.split()[:2] == ["3", "7"]
        code = f"import sys\nprint({PROGRESS_PREFIX + 'half way'!r}, file=sys.stderr)\nprint('other', file=sys.stderr)"
        run_cell(str(run_dir), SETTINGS, code)
        assert lines == ["half way"]
    finally:
        close_kernel(str(run_dir))


def test_hidden_paths_are_named_only_when_bubblewrap_hides_them(tmp_path, monkeypatch):
    if bwrap_problem("bwrap") is not None:
        pytest.skip("bubblewrap unavailable")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    register_model(str(run_dir), "builtin:dsprites-btcvae", {"sandbox": "strict"})
    try:
        out = run_cell(str(run_dir), {"sandbox": "strict"},
                       "from tools.models.loading import model_options as o; print(o().hidden_paths)").stdout
        assert "/root" in out and "/tmp" in out
    finally:
        close_kernel(str(run_dir))


def test_register_model_refuses_a_missing_mount(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        register_model(str(tmp_path), "builtin:dsprites-btcvae", {"mount": [str(tmp_path / "nope")]})


def test_a_512_pixel_stable_diffusion_on_a_cpu_warns_before_the_run(tmp_path, monkeypatch):
    """Only the configs are read (host side, no kernel): unet sample_size 64 x VAE factor 8."""
    import json

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "sd15"
    for part, config in {"unet": {"sample_size": 64}, "vae": {"block_out_channels": [128, 256, 512, 512]}}.items():
        (folder / part).mkdir(parents=True)
        (folder / part / "config.json").write_text(json.dumps(config))
    (folder / "model_index.json").write_text("{}")
    lines: list[str] = []
    set_progress(str(tmp_path / "run"), lines.append)
    try:
        register_model(str(tmp_path / "run"), f"sd:{folder}", {"prompt": "a face", "device": "cpu"})
        assert len(lines) == 1 and lines[0].startswith(f"warning: sd:{folder} makes 512x512 images on a CPU")
        lines.clear()
        register_model(str(tmp_path / "run"), f"sd:{folder}", {"prompt": "a face", "device": "cpu", "n_samples": 2,
                                                               "frames": 2, "directions": 1, "inference_steps": 5})
        assert "UNet passes" in lines[0]  # still a warning: the size, not the count, decides
    finally:
        close_kernel(str(tmp_path / "run"))
