"""Deciding how the kernel is isolated, and the bubblewrap command line that does it.

Inside bubblewrap: the host's / read-only; private /dev, /proc, and size-limited /tmp and
/dev/shm; home folders and runtime sockets hidden (the Python installation, the venv and the
project bound back read-only); the run folder writable; no network (its own network namespace
with only loopback); its own PID, IPC and UTS namespaces; killed with its parent; a new
session. GPU device nodes are bound in."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import SandboxUnavailable
from sandbox.limits import MIB
from sandbox.settings import SandboxSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class SandboxWarning(RuntimeWarning):
    """Generated code is about to run with weaker isolation than bubblewrap gives."""


@dataclass(frozen=True)
class Isolation:
    """The isolation a kernel gets: `bwrap` is the executable to wrap it in, or None."""

    bwrap: str | None
    reason: str | None
    """Why bubblewrap is not used (None when it is)."""


@functools.lru_cache(maxsize=8)
def bwrap_problem(bwrap_path: str) -> str | None:
    """None when bubblewrap at bwrap_path (a name on PATH or a path) can build the namespaces
    the sandbox uses; else a short reason. Runs a trivial sandbox once per path."""
    found = shutil.which(bwrap_path)
    if found is None:
        return f"bubblewrap {bwrap_path!r} was not found"
    probe = [found, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--size", "1048576",
             "--tmpfs", "/tmp", "--unshare-net", "--unshare-pid", "--die-with-parent", "--",
             os.path.realpath(sys.executable), "-I", "-S", "-c", ""]  # the real interpreter: a venv may sit under /tmp
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap {found} could not run ({error})"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"bubblewrap {found} failed ({lines[-1] if lines else f'exit status {done.returncode}'})"
    return None


_warned = False


def choose_isolation(settings: SandboxSettings) -> Isolation:
    """The isolation for settings.isolation: "off" -> none; "strict" -> bubblewrap or
    SandboxUnavailable; "auto" -> bubblewrap when it works, else none with a SandboxWarning
    (once per process)."""
    global _warned
    if settings.isolation == "off":
        return Isolation(bwrap=None, reason="isolation is 'off'")
    problem = bwrap_problem(settings.bwrap_path)
    if problem is None:
        return Isolation(bwrap=shutil.which(settings.bwrap_path), reason=None)
    if settings.isolation == "strict":
        raise SandboxUnavailable(problem)
    if not _warned:
        _warned = True
        warnings.warn(
            f"UNSANDBOXED: {problem}; generated code will run with resource limits and a scrubbed environment "
            "only: it can reach the network and write wherever its user may (use isolation 'strict' to refuse)",
            SandboxWarning, stacklevel=3,
        )
    return Isolation(bwrap=None, reason=problem)


def gpu_device_nodes(dev: Path = Path("/dev")) -> list[str]:
    """The NVIDIA device nodes present (/dev/nvidia0, /dev/nvidiactl, /dev/nvidia-uvm,
    /dev/nvidia-caps/...), sorted."""
    nodes = sorted(str(path) for path in dev.glob("nvidia*") if not path.is_dir())
    nodes += sorted(str(path) for path in dev.glob("nvidia-caps/*"))
    return nodes


def runtime_paths() -> list[str]:
    """What the kernel must read: the Python installation, the venv, the project."""
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, str(Path(os.path.realpath(sys.executable)).parent)}
    paths.add(str(PROJECT_ROOT))
    return sorted(paths)


def _under(path: str, folders: list[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def bwrap_arguments(
    bwrap: str, settings: SandboxSettings, run_dir: Path, writable: list[Path], gpu_nodes: list[str]
) -> list[str]:
    """The bubblewrap command prefix (ending in "--") that confines a command.

    run_dir and writable are bound read-write at the same paths; hidden paths become empty
    tmpfs folders (files: /dev/null); runtime_paths() and settings.read_only_paths under them or
    under the private /tmp are bound back read-only; gpu_nodes are bound as devices."""
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev"]
    for node in gpu_nodes:
        args += ["--dev-bind", node, node]
    size = str(settings.tmpfs_size_mb * MIB)
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
    args += ["--proc", "/proc", "--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
    hidden = [p for p in settings.hidden_paths if os.path.lexists(p) and not os.path.islink(p)]
    for path in hidden:
        args += ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]
    empty = ["/tmp", *hidden]  # bubblewrap makes missing mount points 0700: make them 0755 first
    made: set[str] = set()

    def folders_to(target: str) -> list[str]:
        steps = []
        for parent in reversed(Path(target).parents):
            text = str(parent)
            if text not in made and _under(text, empty) and text not in empty:
                made.add(text)
                steps += ["--perms", "0755", "--dir", text]
        return steps

    for path in sorted({*runtime_paths(), *settings.read_only_paths}):
        if os.path.exists(path) and _under(path, empty):  # under /tmp or a hidden folder
            args += [*folders_to(path), "--ro-bind", path, path]
    for folder in [run_dir, *writable, *map(Path, settings.writable_paths)]:
        args += [*folders_to(str(folder)), "--bind", str(folder), str(folder)]
    args += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--hostname", "sandbox", "--die-with-parent", "--new-session", "--chdir", str(run_dir), "--"]
    return args


def world_accessible(path: str) -> bool:
    """Whether any user can reach path: every folder on the way is world-searchable."""
    current = Path(os.path.realpath(path))
    for folder in [current, *current.parents] if current.is_dir() else current.parents:
        if not os.stat(folder).st_mode & 0o001:
            return False
    return True


def drops_root(settings: SandboxSettings, isolation: Isolation, run_dir: Path) -> bool:
    """Whether the kernel will run as settings.sandbox_uid: only when the host is root, and,
    without bubblewrap (which hides and re-binds folders), only when that user can reach
    Python, the venv, the project and the run folder."""
    if os.geteuid() != 0 or settings.sandbox_uid is None:
        return False
    if isolation.bwrap is not None:
        return True
    return all(world_accessible(path) for path in [*runtime_paths(), str(run_dir)])
