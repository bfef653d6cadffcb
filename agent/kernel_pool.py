"""One sandbox kernel per run, shared by the latents' branches.

The kernel is a process, not state: the graph state names the run folder, and nodes reach the
run's kernel through `run_cell`. Branches run in threads, so cells are serialised with a lock
(decoding one latent's frames takes milliseconds; the kernel's start-up is what costs).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

_pool_lock = threading.Lock()
_kernels: dict[str, _PooledKernel] = {}


@dataclass
class _PooledKernel:
    kernel: object
    lock: threading.Lock = field(default_factory=threading.Lock)


def _sandbox_settings(settings: dict, read_only_paths: tuple[str, ...]):
    from sandbox import SandboxSettings

    return SandboxSettings(isolation=settings.get("sandbox", "auto"), cell_timeout_s=float(settings.get("cell_timeout_s", 120)),
                           read_only_paths=read_only_paths)


def _pooled(run_dir: str, settings: dict, read_only_paths: tuple[str, ...]) -> _PooledKernel:
    key = str(Path(run_dir).resolve())
    with _pool_lock:
        pooled = _kernels.get(key)
        if pooled is None:
            from sandbox import SandboxKernel

            kernel = SandboxKernel(Path(key), _sandbox_settings(settings, read_only_paths))
            kernel.start()
            pooled = _kernels[key] = _PooledKernel(kernel)
        return pooled


def run_cell(run_dir: str, settings: dict, code: str, timeout: float | None = None,
             read_only_paths: tuple[str, ...] = ()):
    """Execute code in the run's kernel (started on first use, with read_only_paths bound in:
    the user's model file or checkpoint folder); returns sandbox.CellResult or raises a
    sandbox.errors.SandboxError."""
    pooled = _pooled(run_dir, settings, read_only_paths)
    with pooled.lock:
        return pooled.kernel.execute(code, timeout=timeout)


def close_kernel(run_dir: str) -> None:
    """Stop the run's kernel if one was started."""
    key = str(Path(run_dir).resolve())
    with _pool_lock:
        pooled = _kernels.pop(key, None)
    if pooled is not None:
        pooled.kernel.stop()
