"""Limits that need a kernel of their own: CPU time and the session's life."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import SandboxKernel
from sandbox.errors import ResourceLimitExceeded, SessionTimeout
from tests.sandbox.conftest import assert_works, needs_bwrap, settings_with

pytestmark = [needs_bwrap, pytest.mark.slow]


def test_cpu_time_limit_kills_and_restarts_the_kernel(tmp_path: Path) -> None:
    with SandboxKernel(tmp_path, settings_with(cpu_time_s=3)) as kernel:
        with pytest.raises(ResourceLimitExceeded) as caught:
            kernel.execute("while True:\n    pass", timeout=30)
        assert caught.value.limit == "cpu_time_s" and caught.value.value == 3
        assert caught.value.restarted
        assert_works(kernel)


def test_session_timeout_ends_the_kernel_until_restart(tmp_path: Path) -> None:
    with SandboxKernel(tmp_path, settings_with(session_timeout_s=3)) as kernel:
        with pytest.raises(SessionTimeout) as caught:
            kernel.execute("import time; time.sleep(30)", timeout=30)
        assert caught.value.to_dict()["session_timeout_s"] == 3
        assert not kernel.is_running
        with pytest.raises(SessionTimeout):
            kernel.execute("1")
        kernel.restart()
        assert_works(kernel)
