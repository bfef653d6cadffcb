"""Fixtures for the sandbox tests: settings with short limits, and one shared kernel per
test module (starting one costs about a second; every test leaves it working)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import pytest

from sandbox import SandboxKernel, SandboxSettings
from sandbox.isolation import bwrap_problem

BWRAP_PROBLEM = bwrap_problem("bwrap")

#: Attack tests only run confined: without bubblewrap a kill of the parent or a fork bomb
#: would reach the test process itself.
needs_bwrap = pytest.mark.skipif(BWRAP_PROBLEM is not None, reason=f"bubblewrap unavailable: {BWRAP_PROBLEM}")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the process-limit test needs a root host (uid drop)")

TEST_SETTINGS = SandboxSettings(
    isolation="strict", cell_timeout_s=20.0, interrupt_grace_s=1.0, startup_timeout_s=60.0,
    memory_limit_mb=4096, max_processes=64, max_file_size_mb=1, extra_env={"OMP_NUM_THREADS": "1"},
)


def settings_with(**changes: object) -> SandboxSettings:
    """TEST_SETTINGS with some fields changed."""
    return replace(TEST_SETTINGS, **changes)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxKernel]:
    """A started strict-mode kernel shared by the tests of one module."""
    if BWRAP_PROBLEM is not None:
        pytest.skip(f"bubblewrap unavailable: {BWRAP_PROBLEM}")
    with SandboxKernel(tmp_path_factory.mktemp("sandbox-run"), TEST_SETTINGS) as started:
        yield started


def assert_works(kernel: SandboxKernel) -> None:
    """The next cell runs normally."""
    assert kernel.execute("6 * 7", timeout=20).result == "42"
