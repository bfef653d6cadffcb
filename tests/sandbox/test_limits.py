"""Resource-limit arguments for the launcher."""

from __future__ import annotations

import os

from sandbox import SandboxSettings
from sandbox.limits import MIB, count_user_tasks, limit_values, rlimit_arguments


def pairs(arguments: list[str]) -> dict[str, str]:
    assert arguments[::2] == ["--rlimit"] * (len(arguments) // 2)
    return dict(item.split("=") for item in arguments[1::2])


def test_every_set_limit_becomes_an_rlimit() -> None:
    settings = SandboxSettings(memory_limit_mb=100, cpu_time_s=7, max_processes=30, max_open_files=128, max_file_size_mb=2)
    got = pairs(rlimit_arguments(settings, gpu_bound=False, drops_root=True))
    assert got == {"CORE": "0:0", "AS": f"{100 * MIB}:{100 * MIB}", "CPU": "7:12", "NPROC": "30:30",
                   "NOFILE": "128:128", "FSIZE": f"{2 * MIB}:{2 * MIB}"}


def test_gpu_limits_the_data_segment_instead_of_the_address_space() -> None:
    got = pairs(rlimit_arguments(SandboxSettings(memory_limit_mb=100), gpu_bound=True, drops_root=True))
    assert "AS" not in got and got["DATA"] == f"{100 * MIB}:{100 * MIB}"


def test_unset_limits_are_left_out() -> None:
    settings = SandboxSettings(memory_limit_mb=None, cpu_time_s=None, max_processes=None, max_open_files=None,
                               max_file_size_mb=None)
    assert pairs(rlimit_arguments(settings, gpu_bound=False, drops_root=True)) == {"CORE": "0:0"}


def test_without_a_uid_drop_the_process_budget_adds_the_users_tasks() -> None:
    got = pairs(rlimit_arguments(SandboxSettings(max_processes=30), gpu_bound=False, drops_root=False))
    soft = int(got["NPROC"].split(":")[0])
    assert soft >= 30 + 1  # this test process is one of the user's tasks


def test_count_user_tasks_counts_this_process_threads() -> None:
    assert count_user_tasks(os.getuid()) >= 1
    assert count_user_tasks(4_000_000_000) == 0


def test_limit_values_names_settings_fields() -> None:
    assert limit_values(SandboxSettings(cpu_time_s=9))["cpu_time_s"] == 9
