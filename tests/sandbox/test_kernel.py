"""The kernel's normal path: output, results, files, restart, imports, strict-mode refusal."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sandbox import CellResult, SandboxKernel, SandboxSettings
from sandbox.errors import ExecutionError, KernelStartFailed, SandboxUnavailable
from sandbox.kernel import STATE_DIR_NAME
from tests.sandbox.conftest import assert_works


def test_execute_returns_streams_result_and_written_files(kernel: SandboxKernel) -> None:
    (kernel.run_dir / "old.txt").write_text("before")
    code = (
        "import sys\n"
        "print('to stdout')\n"
        "print('to stderr', file=sys.stderr)\n"
        "open('new.txt', 'w').write('x')\n"
        "import os; os.makedirs('frames', exist_ok=True); open('frames/f0.png', 'wb').write(b'p')\n"
        "open('old.txt', 'a').write(' after')\n"
        "sum(range(10))"
    )
    result = kernel.execute(code)
    assert isinstance(result, CellResult)
    assert result.stdout == "to stdout\n"
    assert result.stderr == "to stderr\n"
    assert result.result == "45"
    assert result.files_written == ["frames/f0.png", "new.txt", "old.txt"]
    assert 0 < result.duration_s < 10
    assert kernel.execute("open('old.txt').read()").files_written == []


def test_cell_error_is_structured_and_keeps_partial_output(kernel: SandboxKernel) -> None:
    with pytest.raises(ExecutionError) as caught:
        kernel.execute("print('half'); open('partial.txt', 'w').write('x'); {}['missing']")
    error = caught.value
    assert (error.ename, error.evalue) == ("KeyError", "'missing'")
    assert any("KeyError" in line for line in error.traceback)
    assert not any("\x1b[" in line for line in error.traceback), "colour codes are stripped"
    assert error.partial is not None and error.partial.stdout == "half\n"
    assert error.partial.files_written == ["partial.txt"]
    as_dict = error.to_dict()
    assert as_dict["type"] == "ExecutionError" and as_dict["ename"] == "KeyError" and as_dict["message"]


def test_kernel_works_in_the_run_dir_with_private_home(kernel: SandboxKernel) -> None:
    result = kernel.execute("import os, tempfile; print(os.getcwd()); print(os.environ['HOME']); print(tempfile.gettempdir())")
    cwd, home, tmp = result.stdout.split()
    assert cwd == str(kernel.run_dir)
    assert home.startswith(str(kernel.run_dir / STATE_DIR_NAME))
    assert tmp.startswith(str(kernel.run_dir / STATE_DIR_NAME))


def test_restart_clears_state(kernel: SandboxKernel) -> None:
    kernel.execute("remembered = 1")
    assert kernel.execute("remembered").result == "1"
    kernel.restart()
    with pytest.raises(ExecutionError) as caught:
        kernel.execute("remembered")
    assert caught.value.ename == "NameError"
    assert_works(kernel)


def test_kernel_imports_torch_and_the_project_tools(kernel: SandboxKernel) -> None:
    result = kernel.execute("import torch, tools.data.dsprites; print(torch.ones(2).sum().item())", timeout=60)
    assert result.stdout == "2.0\n"


def test_output_is_capped(kernel: SandboxKernel) -> None:
    limit = kernel.settings.max_output_chars
    result = kernel.execute(f"print('a' * {limit * 3})")
    assert len(result.stdout) < limit + 100
    assert "characters dropped" in result.stdout


def test_kernel_starts_quickly(kernel: SandboxKernel) -> None:
    assert kernel.startup_s is not None and kernel.startup_s < 15  # ~1 s idle, more under load


def test_strict_mode_refuses_without_bubblewrap(tmp_path: Path) -> None:
    settings = SandboxSettings(isolation="strict", bwrap_path=str(tmp_path / "no-such-bwrap"))
    kernel = SandboxKernel(tmp_path / "run", settings)
    with pytest.raises(SandboxUnavailable) as caught:
        kernel.start()
    assert "no-such-bwrap" in str(caught.value) and "strict" in str(caught.value)
    assert caught.value.to_dict()["type"] == "SandboxUnavailable"
    assert not kernel.is_running


def test_stop_is_idempotent_and_cleans_sockets(tmp_path: Path) -> None:
    kernel = SandboxKernel(tmp_path / "run", SandboxSettings(isolation="off", startup_timeout_s=60))
    with kernel:
        assert kernel.execute("1 + 1").result == "2"
    kernel.stop()
    state = tmp_path / "run" / STATE_DIR_NAME
    assert not [name for name in os.listdir(state) if name.startswith(("ipc", "kernel")) and name != "kernel.log"]


def test_a_kernel_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    settings = SandboxSettings(isolation="off", memory_limit_mb=16, startup_timeout_s=30)  # Python needs more
    kernel = SandboxKernel(tmp_path / "run", settings)
    with pytest.raises(KernelStartFailed) as caught:
        kernel.start()
    assert "died" in caught.value.reason
    assert "Error" in caught.value.log_tail  # the kernel's own account of why it stopped
    assert not kernel.is_running


def test_shared_memory_and_tmp_are_private_and_bounded(kernel: SandboxKernel) -> None:
    code = "import os\nfor d in ('/tmp', '/dev/shm'):\n    s = os.statvfs(d); print(d, s.f_blocks * s.f_frsize // 2**20)"
    result = kernel.execute(code + "\nopen('/dev/shm/x', 'w').write('x')")
    size = kernel.settings.tmpfs_size_mb
    assert result.stdout == f"/tmp {size}\n/dev/shm {size}\n"
    assert not os.path.exists("/dev/shm/x")


def test_a_deep_run_folder_gets_short_sockets_that_work(tmp_path):
    """Unix socket paths are limited to ~100 characters: a deep run folder falls back to a short
    private folder, which must be reachable inside bubblewrap too."""
    from sandbox import SandboxKernel, SandboxSettings

    deep = tmp_path / ("a-long-folder-name-" * 4) / ("another-long-folder-name-" * 3) / "run"
    with SandboxKernel(deep, SandboxSettings(cell_timeout_s=30)) as kernel:
        assert kernel.execute("print(6 * 7)").stdout.strip() == "42"


def test_streams_reach_the_caller_while_the_cell_runs(kernel: SandboxKernel) -> None:
    """on_stream sees each piece as it arrives (live progress), before the cell ends; an error
    inside the callback does not fail the cell."""
    seen: list[tuple[str, str, float]] = []

    def on_stream(name: str, text: str) -> None:
        seen.append((name, text, time.monotonic()))
        raise RuntimeError("a display problem")

    code = "import sys, time\nprint('one', file=sys.stderr, flush=True)\ntime.sleep(1.0)\nprint('two', flush=True)"
    result = kernel.execute(code, on_stream=on_stream)
    ended = time.monotonic()
    assert result.stdout == "two\n" and result.stderr == "one\n"
    assert [(name, text) for name, text, _ in seen] == [("stderr", "one\n"), ("stdout", "two\n")]
    assert ended - seen[0][2] >= 0.9  # "one" arrived about a second before the cell ended


def test_starts_counts_restarts(kernel: SandboxKernel) -> None:
    before = kernel.starts
    kernel.restart()
    assert kernel.starts == before + 1
