"""Structured errors and how a cell's exception is classified."""

from __future__ import annotations

import json

import pytest

from agent.errors import UserError
from sandbox.errors import (
    CellTimeout,
    ExecutionError,
    KernelDied,
    ResourceLimitExceeded,
    SandboxError,
    SandboxUnavailable,
    error_from_cell,
)

LIMITS = {"memory_limit_mb": 100, "cpu_time_s": 5, "max_processes": 10, "max_open_files": 64, "max_file_size_mb": 1}


@pytest.mark.parametrize(
    ("ename", "evalue", "trace", "limit"),
    [
        ("MemoryError", "", "", "memory_limit_mb"),
        ("_ArrayMemoryError", "Unable to allocate 46.6 GiB", "", "memory_limit_mb"),
        ("RuntimeError", "DefaultCPUAllocator: can't allocate memory: you tried to allocate 5 bytes", "", "memory_limit_mb"),
        ("BlockingIOError", "[Errno 11] Resource temporarily unavailable", "os.fork()", "max_processes"),
        ("RuntimeError", "can't start new thread", "", "max_processes"),
        ("OSError", "[Errno 24] Too many open files: 'x'", "", "max_open_files"),
        ("OSError", "[Errno 27] File too large", "", "max_file_size_mb"),
    ],
)
def test_limit_symptoms_become_resource_limit_errors(ename: str, evalue: str, trace: str, limit: str) -> None:
    error = error_from_cell(ename, evalue, [trace], LIMITS)
    assert isinstance(error, ResourceLimitExceeded)
    assert (error.limit, error.value, error.ename) == (limit, LIMITS[limit], ename)


@pytest.mark.parametrize(
    ("ename", "evalue", "trace"),
    [
        ("ValueError", "bad", ""),
        ("BlockingIOError", "[Errno 11] Resource temporarily unavailable", "sock.recv(10)"),  # not a fork
        ("OutOfMemoryError", "CUDA out of memory. Tried to allocate 2 GiB", ""),  # the GPU's memory, not our limit
    ],
)
def test_other_exceptions_are_execution_errors(ename: str, evalue: str, trace: str) -> None:
    error = error_from_cell(ename, evalue, [trace], LIMITS)
    assert type(error) is ExecutionError and error.ename == ename


def test_an_unset_limit_is_not_blamed() -> None:
    assert type(error_from_cell("MemoryError", "", [], {**LIMITS, "memory_limit_mb": None})) is ExecutionError


def test_to_dict_is_json_with_type_and_message() -> None:
    for error in [
        ExecutionError("KeyError", "'a'", ["line"]),
        CellTimeout(2.0, restarted=True),
        KernelDied("SIGSEGV", 139, "tail", restarted=True),
        ResourceLimitExceeded("cpu_time_s", 5, "SIGXCPU", restarted=True),
    ]:
        as_dict = json.loads(json.dumps(error.to_dict()))
        assert as_dict["type"] == type(error).__name__ and as_dict["message"] == str(error)
        assert isinstance(error, SandboxError)
    assert KernelDied("SIGSEGV", 139, "", True).to_dict()["signal"] == "SIGSEGV"


def test_set_field_updates_attribute_and_dict() -> None:
    error = ResourceLimitExceeded("max_processes", 10, "fork")
    error.set_field("restarted", True)
    assert error.restarted and error.to_dict()["restarted"] is True


def test_sandbox_unavailable_is_a_user_error() -> None:
    error = SandboxUnavailable("bubblewrap 'bwrap' was not found")
    assert isinstance(error, UserError) and isinstance(error, SandboxError)
    assert error.exit_code == 2 and "\n" not in str(error)
