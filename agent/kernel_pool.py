"""One sandbox kernel per run, shared by the latents' branches.

The kernel is a process, not state: the graph state names the run folder, and nodes reach the
run's kernel through `run_cell`. Branches run in threads, so cells are serialised with a lock
(decoding one latent's frames takes milliseconds; the kernel's start-up is what costs).
The run owns it: the reporter node closes it at the end, the planner when it fails, and
whatever is left when the process exits is closed then (atexit).

What the kernel may see is decided by `register_model` in the host before the run: the model's
folder (a user's model file's folder, a checkpoint, a diffusers pipeline), the Hugging Face
cache for a hub id (fetched first when a network is there), the folders given with --mount, and
the user's h-space basis cache, all read-only. The kernel's first cell sets the run's model
options (tools/models/loading.py configure_models), again after a restart. Lines the model prints
with tools.models.progress.PROGRESS_PREFIX are passed on as progress while a cell runs.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import UserError

_pool_lock = threading.Lock()
_kernels: dict[str, _PooledKernel] = {}
_registered: dict[str, _Registration] = {}
_progress_sinks: dict[str, Callable[[str], None]] = {}

BASIS_CACHE_IN_RUN = "cache/hspace"
"""Where, inside the run folder, the kernel writes h-space bases it computed."""


@dataclass
class _Registration:
    """read_only_paths: host paths the kernel sees read-only. extra_env: variables set in the
    kernel. options: tools.models.loading.ModelOptions fields."""

    read_only_paths: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    options: dict = field(default_factory=dict)


@dataclass
class _PooledKernel:
    kernel: object
    lock: threading.Lock = field(default_factory=threading.Lock)
    configured_starts: int = -1


def _get(settings, name: str, default=None):
    """A setting from a Settings object or its dict."""
    if isinstance(settings, dict):
        return settings.get(name, default)
    return getattr(settings, name, default)


def _sandbox_settings(settings, registration: _Registration):
    from sandbox import SandboxSettings

    return SandboxSettings(isolation=_get(settings, "sandbox", "auto"),
                           cell_timeout_s=float(_get(settings, "cell_timeout_s", 120)),
                           read_only_paths=registration.read_only_paths, extra_env=dict(registration.extra_env))


def _mounts(settings) -> tuple[str, ...]:
    """The --mount folders, absolute; UserError for one that does not exist."""
    found = []
    for text in _get(settings, "mount", ()) or ():
        path = Path(text).expanduser()
        if not path.exists():
            raise UserError(f"--mount {text}: no such file or folder")
        found.append(str(path.resolve()))
    return tuple(found)


def set_progress(run_dir: str, sink: Callable[[str], None] | None) -> None:
    """Where the run's progress lines go (the CLI's progress display); None: nowhere. Set before
    register_model so that its warnings reach the user too."""
    key = str(Path(run_dir).resolve())
    if sink is None:
        _progress_sinks.pop(key, None)
    else:
        _progress_sinks[key] = sink


def register_model(run_dir: str, model_ref: str, settings=None) -> None:
    """Decide what the run's kernel sees and how it builds the model (module docstring). Host side,
    before the run: fetches a hub id that is not cached (when online), checks --mount folders
    and that an sd: model has a prompt, and warns (through progress) about a large Stable
    Diffusion run on a CPU. Raises UserError (one line) for what cannot work."""
    from tools.models.ddpm.basis_cache import user_cache_dir
    from tools.models.references import parse_model_ref

    settings = settings if settings is not None else {}
    progress = _progress_sinks.get(str(Path(run_dir).resolve()))
    ref = parse_model_ref(model_ref)
    paths: list[str] = []
    extra_env: dict[str, str] = {}
    if ref.kind == "file":
        paths.append(str(Path(ref.target).parent))
    elif ref.kind in ("checkpoint", "disvae"):
        paths.append(ref.target)
    elif ref.kind in ("diffusers", "sd"):
        from tools.models.diffusers_pipeline.source import hub_cache_dir, locate_pretrained

        if ref.kind == "sd" and not _get(settings, "prompt"):
            raise UserError(f"{ref} is explained under a prompt: give --prompt TEXT")
        source = locate_pretrained(ref.target, str(ref), download=True)
        if source.hub_id:
            paths.append(str(hub_cache_dir()))
            extra_env.update(HF_HUB_CACHE=str(hub_cache_dir()), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
        else:
            paths.append(str(source.folder))
        warning = _cpu_warning(ref, source.folder, settings)
        if warning and progress is not None:
            progress(warning)
    mounts = _mounts(settings)
    user_cache = user_cache_dir()
    if user_cache.is_dir():
        paths.append(str(user_cache))
    run_cache = Path(run_dir).resolve() / BASIS_CACHE_IN_RUN
    options = {
        "directions": _get(settings, "directions"), "inference_steps": _get(settings, "inference_steps"),
        "edit_strength": _get(settings, "edit_strength"), "prompt": _get(settings, "prompt"),
        "guidance_scale": float(_get(settings, "guidance_scale", 7.5) or 7.5), "dtype": _get(settings, "dtype", "auto") or "auto",
        "basis_cache": [str(user_cache)], "basis_cache_write": str(run_cache),
        "visible_paths": [*paths, *mounts, str(Path(run_dir).resolve())],
        "progress": progress is not None,
    }
    _registered[str(Path(run_dir).resolve())] = _Registration(tuple(dict.fromkeys([*paths, *mounts])), extra_env,
                                                              options)


def _cpu_warning(ref, folder: Path, settings) -> str | None:
    """The warning for a large Stable Diffusion run on a CPU (tools/models/diffusers_pipeline/cost.py)."""
    if ref.kind != "sd":
        return None
    from dataclasses import replace

    from tools.models.ddpm.hspace_model import HSpaceSettings
    from tools.models.device import resolve_device
    from tools.models.diffusers_pipeline.cost import cpu_time_warning
    from tools.models.stable_diffusion.model import SD_DEFAULTS

    if resolve_device(_get(settings, "device", "auto")).type != "cpu":
        return None
    overrides = {"rank": _get(settings, "directions"), "num_inference_steps": _get(settings, "inference_steps")}
    hspace = replace(HSpaceSettings(), **SD_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None})
    rows = hspace.rank * int(_get(settings, "n_samples", 5)) * int(_get(settings, "frames", 7))
    return cpu_time_warning(folder, str(ref), hspace, rows, float(_get(settings, "guidance_scale", 7.5) or 7.5))


def _setup_code(registration: _Registration, hidden: tuple[str, ...]) -> str:
    options = registration.options | {"hidden_paths": list(hidden)}
    return ("from tools.models.loading import configure_models as _configure_models\n"
            f"_configure_models(**{options!r})\ndel _configure_models\n")


def _pooled(run_dir: str, settings) -> _PooledKernel:
    key = str(Path(run_dir).resolve())
    registration = _registered.get(key, _Registration())
    with _pool_lock:
        pooled = _kernels.get(key)
        if pooled is None:
            from sandbox import SandboxKernel

            kernel = SandboxKernel(Path(key), _sandbox_settings(settings, registration))
            kernel.start()
            pooled = _kernels[key] = _PooledKernel(kernel)
        return pooled


def _configure(pooled: _PooledKernel, run_dir: str) -> None:
    """Run the setup cell when the kernel is new or was restarted since (caller holds the lock)."""
    kernel = pooled.kernel
    if not kernel.starts or pooled.configured_starts == kernel.starts:
        return
    registration = _registered.get(str(Path(run_dir).resolve()))
    if registration is not None and registration.options:
        isolation = kernel.isolation
        hidden = (*kernel.settings.hidden_paths, "/tmp") if isolation is not None and isolation.bwrap else ()
        kernel.execute(_setup_code(registration, hidden))
    pooled.configured_starts = kernel.starts


class _ProgressLines:
    """Collects streamed stderr into lines and passes on those with the progress prefix."""

    def __init__(self, sink: Callable[[str], None] | None):
        from tools.models.progress import PROGRESS_PREFIX

        self.sink, self.prefix, self.pending = sink, PROGRESS_PREFIX, ""

    def __call__(self, name: str, text: str) -> None:
        if self.sink is None or name != "stderr":
            return
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.startswith(self.prefix):
                self.sink(line.removeprefix(self.prefix))


def run_cell(run_dir: str, settings, code: str, timeout: float | None = None):
    """Execute code in the run's kernel (started on first use, with the registered model's
    folders bound in and its options set); returns sandbox.CellResult or raises a
    sandbox.errors.SandboxError."""
    pooled = _pooled(run_dir, settings)
    sink = _progress_sinks.get(str(Path(run_dir).resolve()))
    with pooled.lock:
        _configure(pooled, run_dir)
        return pooled.kernel.execute(code, timeout=timeout, on_stream=_ProgressLines(sink))


def close_kernel(run_dir: str) -> None:
    """Stop the run's kernel if one was started, and keep the h-space bases it computed in the
    user's cache (the sandbox itself cannot write there)."""
    from tools.models.ddpm.basis_cache import copy_new_bases, user_cache_dir

    key = str(Path(run_dir).resolve())
    with _pool_lock:
        pooled = _kernels.pop(key, None)
    _registered.pop(key, None)
    _progress_sinks.pop(key, None)
    if pooled is not None:
        pooled.kernel.stop()
    try:
        copy_new_bases(Path(key) / BASIS_CACHE_IN_RUN, user_cache_dir())
    except OSError:
        pass  # a read-only home: the run folder keeps its copy


@atexit.register
def close_all_kernels() -> None:
    """Stop every kernel still open (a run that raised, or a process that ends early)."""
    for key in list(_kernels):
        close_kernel(key)
