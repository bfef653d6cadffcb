"""Resource limits of the kernel process, as `launcher.py --rlimit` arguments, and the user
it runs as. Limits are applied inside the launched process, never to the host."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.settings import SandboxSettings

MIB = 1 << 20
CPU_KILL_GRACE_S = 5  # RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one


def count_user_tasks(uid: int, proc: Path = Path("/proc")) -> int:
    """Processes plus threads whose real user id is uid: what RLIMIT_NPROC counts."""
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:  # the process ended while we looked
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            total += int(fields.get("Threads", "1").strip())
    return total


def rlimit_arguments(settings: SandboxSettings, gpu_bound: bool, drops_root: bool) -> list[str]:
    """`--rlimit NAME=SOFT:HARD` pairs for launcher.py (flattened), from the settings.

    gpu_bound: GPU device nodes are visible, so memory is limited by RLIMIT_DATA, not
    RLIMIT_AS (CUDA reserves huge address ranges). drops_root: the kernel runs as
    settings.sandbox_uid, whose tasks are all the kernel's; otherwise the host user's current
    task count is added to max_processes. Core dumps are always off (they would land in the
    run folder)."""
    limits: list[tuple[str, int, int]] = [("CORE", 0, 0)]
    if settings.memory_limit_mb is not None:
        size = settings.memory_limit_mb * MIB
        limits.append(("DATA" if gpu_bound else "AS", size, size))
    if settings.cpu_time_s is not None:
        limits.append(("CPU", settings.cpu_time_s, settings.cpu_time_s + CPU_KILL_GRACE_S))
    if settings.max_processes is not None:
        tasks = settings.max_processes if drops_root else settings.max_processes + count_user_tasks(os.getuid())
        limits.append(("NPROC", tasks, tasks))
    if settings.max_open_files is not None:
        limits.append(("NOFILE", settings.max_open_files, settings.max_open_files))
    if settings.max_file_size_mb is not None:
        size = settings.max_file_size_mb * MIB
        limits.append(("FSIZE", size, size))
    arguments: list[str] = []
    for name, soft, hard in limits:
        arguments += ["--rlimit", f"{name}={soft}:{hard}"]
    return arguments


def limit_values(settings: SandboxSettings) -> dict[str, int | None]:
    """SandboxSettings limit field -> value, for naming the limit an error hit."""
    names = ("memory_limit_mb", "cpu_time_s", "max_processes", "max_open_files", "max_file_size_mb")
    return {name: getattr(settings, name) for name in names}
