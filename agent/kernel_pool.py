"""One sandbox kernel per run, shared by the latents' branches.

The kernel is a process, not state: the graph state names the run folder, and nodes reach the
run's kernel through `run_cell`. Branches run in threads, so cells are serialised with a lock
(decoding one latent's frames takes milliseconds; the kernel's start-up is what costs).
The run owns it: the reporter node closes it at the end, the planner when it fails, and
whatever is left when the process exits is closed then (atexit).
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass, field
from pathlib import Path

_pool_lock = threading.Lock()
_kernels: dict[str, _PooledKernel] = {}
_model_paths: dict[str, tuple[str, ...]] = {}


@dataclass
class _PooledKernel:
    kernel: object
    lock: threading.Lock = field(default_factory=threading.Lock)


def _sandbox_settings(settings, read_only_paths: tuple[str, ...]):
    """sandbox.SandboxSettings from the run's agent.settings.Settings."""
    from sandbox import SandboxSettings

    return SandboxSettings(isolation=settings.sandbox, cell_timeout_s=float(settings.cell_timeout_s),
                           read_only_paths=read_only_paths)


def register_model(run_dir: str, model_ref: str) -> None:
    """Make the run's model visible (read-only) to its kernel: the user's model file's folder or
    checkpoint folder, which may lie under a folder the sandbox hides (/tmp, /home, /root)."""
    from tools.models.references import parse_model_ref

    ref = parse_model_ref(model_ref)
    paths: tuple[str, ...] = ()
    if ref.kind == "file":
        paths = (str(Path(ref.target).parent),)
    elif ref.kind in ("checkpoint", "disvae"):
        paths = (ref.target,)
    _model_paths[str(Path(run_dir).resolve())] = paths


def _pooled(run_dir: str, settings) -> _PooledKernel:
    key = str(Path(run_dir).resolve())
    read_only_paths = _model_paths.get(key, ())
    with _pool_lock:
        pooled = _kernels.get(key)
        if pooled is None:
            from sandbox import SandboxKernel

            kernel = SandboxKernel(Path(key), _sandbox_settings(settings, read_only_paths))
            kernel.start()
            pooled = _kernels[key] = _PooledKernel(kernel)
        return pooled


def run_cell(run_dir: str, settings, code: str, timeout: float | None = None):
    """Execute code in the run's kernel (started on first use with the run's Settings, with the
    registered model's folder bound in); returns sandbox.CellResult or raises a sandbox.errors.SandboxError."""
    pooled = _pooled(run_dir, settings)
    with pooled.lock:
        return pooled.kernel.execute(code, timeout=timeout)


def close_kernel(run_dir: str) -> None:
    """Stop the run's kernel if one was started."""
    key = str(Path(run_dir).resolve())
    with _pool_lock:
        pooled = _kernels.pop(key, None)
    _model_paths.pop(key, None)
    if pooled is not None:
        pooled.kernel.stop()


@atexit.register
def close_all_kernels() -> None:
    """Stop every kernel still open (a run that raised, or a process that ends early)."""
    for key in list(_kernels):
        close_kernel(key)
