"""Choosing the isolation and building the bubblewrap command line."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from sandbox import SandboxSettings
from sandbox import isolation as iso
from sandbox.errors import SandboxUnavailable
from tests.sandbox.conftest import BWRAP_PROBLEM, needs_bwrap


def test_strict_without_bwrap_raises_naming_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "bwrap")
    with pytest.raises(SandboxUnavailable, match="was not found"):
        iso.choose_isolation(SandboxSettings(isolation="strict", bwrap_path=missing))


def test_auto_without_bwrap_warns_once_and_runs_unwrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iso, "_warned", False)
    settings = SandboxSettings(isolation="auto", bwrap_path=str(tmp_path / "bwrap"))
    with pytest.warns(iso.SandboxWarning, match="UNSANDBOXED"):
        chosen = iso.choose_isolation(settings)
    assert chosen.bwrap is None and "was not found" in chosen.reason
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        iso.choose_isolation(settings)  # no second warning


def test_off_never_uses_bwrap() -> None:
    assert iso.choose_isolation(SandboxSettings(isolation="off")).bwrap is None


def test_a_bwrap_that_fails_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    problem = iso.bwrap_problem(str(fake))
    assert problem is not None and "No permissions" in problem


def test_bwrap_arguments_hide_home_and_bind_back_what_the_kernel_needs(tmp_path: Path) -> None:
    hidden = tmp_path / "home"
    inside = hidden / "user" / "python"
    inside.mkdir(parents=True)
    run_dir = tmp_path / "runs" / "r1"
    settings = SandboxSettings(hidden_paths=(str(hidden),), read_only_paths=(str(inside),), writable_paths=("/srv/x",))
    args = iso.bwrap_arguments("/usr/bin/bwrap", settings, run_dir, [], ["/dev/nvidia0"])
    text = " ".join(args)
    assert args[:5] == ["/usr/bin/bwrap", "--ro-bind", "/", "/", "--dev"]
    assert f"--tmpfs {hidden}" in text
    assert f"--perms 0755 --dir {hidden / 'user'} --ro-bind {inside} {inside}" in text
    assert text.index(f"--tmpfs {hidden}") < text.index(f"--ro-bind {inside}")
    assert f"--bind {run_dir} {run_dir}" in text and "--bind /srv/x /srv/x" in text
    assert "--dev-bind /dev/nvidia0 /dev/nvidia0" in text
    assert f"--perms 1777 --size {1024 * 2**20} --tmpfs /tmp" in text and "--tmpfs /dev/shm" in text
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in args
    assert args[-3:] == ["--chdir", str(run_dir), "--"]


@needs_bwrap
def test_bwrap_arguments_give_a_read_only_root_and_no_network(tmp_path: Path) -> None:
    args = iso.bwrap_arguments(iso.shutil.which("bwrap"), SandboxSettings(), tmp_path, [], [])
    probe = ("import os, socket\n"
             "open('inside.txt', 'w').write('x')\n"
             "try:\n    open('/usr/escape', 'w')\nexcept OSError as e:\n    print('ro', e.errno)\n"
             "print(socket.if_nameindex())\n")
    done = subprocess.run([*args, sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "ro 30" and lines[1] == "[(1, 'lo')]"
    assert (tmp_path / "inside.txt").exists()


def test_gpu_nodes_are_found(tmp_path: Path) -> None:
    for name in ("nvidia0", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    (tmp_path / "nvidia-caps").mkdir()
    (tmp_path / "nvidia-caps" / "nvidia-cap1").touch()
    found = iso.gpu_device_nodes(tmp_path)
    assert [Path(p).name for p in found] == ["nvidia-uvm", "nvidia0", "nvidiactl", "nvidia-cap1"]


def test_world_accessible(tmp_path: Path) -> None:
    private = tmp_path / "private"
    (private / "inner").mkdir(parents=True)
    private.chmod(0o700)
    assert not iso.world_accessible(str(private / "inner"))
    assert iso.world_accessible("/usr/bin")


def test_drops_root_only_as_root_and_not_when_unreachable(tmp_path: Path) -> None:
    wrapped = iso.Isolation(bwrap="/usr/bin/bwrap", reason=None)
    bare = iso.Isolation(bwrap=None, reason="off")
    if os.geteuid() != 0:
        assert not iso.drops_root(SandboxSettings(), wrapped, tmp_path)
        return
    assert iso.drops_root(SandboxSettings(), wrapped, tmp_path)
    assert not iso.drops_root(SandboxSettings(sandbox_uid=None), wrapped, tmp_path)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert not iso.drops_root(SandboxSettings(), bare, private / "run")


def test_probe_result_matches_conftest() -> None:
    assert (iso.bwrap_problem("bwrap") is None) == (BWRAP_PROBLEM is None)
