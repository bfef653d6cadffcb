"""Settings of the sandboxed kernel: isolation mode, every timeout and every resource limit.

Each field is documented where it is declared; a value that cannot work raises a UserError
naming the field, the bad value and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tools.errors import UserError

IsolationMode = Literal["auto", "strict", "off"]
ISOLATION_MODES: tuple[str, ...] = ("auto", "strict", "off")

#: Host environment variables the kernel may inherit (shell-style patterns, case-insensitive).
DEFAULT_ENV_KEEP: tuple[str, ...] = (
    "PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM", "PYTHONPATH", "PYTHONHASHSEED",
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES", "PYTORCH_CUDA_ALLOC_CONF",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCH_NUM_THREADS",
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE",
)

#: Patterns dropped even when a keep pattern matches: credentials and provider settings.
DEFAULT_ENV_DENY: tuple[str, ...] = (
    "*API_KEY*", "*APIKEY*", "*_KEY", "*TOKEN*", "*SECRET*", "*PASSWORD*", "*PASSWD*",
    "*CREDENTIAL*", "*PRIVATE*", "*AUTH*", "*SESSION*", "*COOKIE*",
    "AWS_*", "AZURE_*", "GOOGLE_*", "GCP_*", "GCLOUD_*", "CLOUDSDK_*", "OPENAI_*", "ANTHROPIC_*",
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_*", "LANGCHAIN_*", "LANGSMITH_*",
    "GITHUB_*", "GH_*", "GITLAB_*", "SSH_*", "GPG_*", "DOCKER_*", "KUBECONFIG", "NETRC",
)

#: Host folders replaced by an empty tmpfs inside bubblewrap (home folders, runtime sockets).
#: The Python installation, the virtual environment and the project are bound back read-only.
DEFAULT_HIDDEN_PATHS: tuple[str, ...] = ("/root", "/home", "/run", "/var/run")


@dataclass(frozen=True)
class SandboxSettings:
    """How the kernel that runs generated code is isolated and bounded.

    Times are seconds of wall-clock time unless named otherwise; sizes are MiB. `None` for a
    limit means "not limited"."""

    isolation: IsolationMode = "auto"
    """"auto": bubblewrap when it works, else a loud warning and a kernel with resource limits
    and a scrubbed environment only; "strict": bubblewrap or SandboxUnavailable; "off": never
    bubblewrap (for debugging; the code can then reach the network and the host's files)."""

    bwrap_path: str = "bwrap"
    """The bubblewrap executable: a name looked up on PATH, or an absolute path."""

    cell_timeout_s: float = 120.0
    """Default wall-clock limit of one `execute`; past it the cell is interrupted."""

    interrupt_grace_s: float = 3.0
    """How long an interrupted cell may take to stop before the kernel is restarted."""

    startup_timeout_s: float = 60.0
    """How long a kernel may take to start and answer (about 1-2 s when the host is idle)."""

    session_timeout_s: float = 3600.0
    """Wall-clock life of a session, from `start()` or `restart()` (automatic restarts after a
    failure do not reset it): a cell still running past it, or a cell started after it, ends the
    kernel with SessionTimeout. `restart()` starts a new session."""

    shutdown_timeout_s: float = 5.0
    """How long a polite shutdown may take before the kernel process is killed."""

    max_output_chars: int = 200_000
    """Most characters kept of a cell's stdout, and of its stderr; the middle of longer output
    is replaced by a line saying how much was dropped."""

    memory_limit_mb: int | None = 8192
    """Virtual memory of each kernel process (RLIMIT_AS); allocations past it raise MemoryError.
    CUDA reserves far more address space than it uses, so when GPU device nodes are bound in, the
    limit is applied to the data segment (RLIMIT_DATA: private writable memory) instead."""

    cpu_time_s: int | None = 3600
    """CPU seconds of each kernel process over its whole life, all threads together
    (RLIMIT_CPU): SIGXCPU at the limit, SIGKILL 5 s later. A backstop; cells have a wall timeout."""

    max_processes: int | None = 256
    """Processes and threads the kernel's user may have (RLIMIT_NPROC): bounds fork bombs.
    Linux counts this per user and ignores it for root, so as root the kernel runs as
    `sandbox_uid`; kernels sharing that uid share the budget. When the host is not root, the
    host user's current task count is added so the kernel gets this many more."""

    max_open_files: int | None = 1024
    """Open file descriptors of each kernel process (RLIMIT_NOFILE)."""

    max_file_size_mb: int | None = 2048
    """Largest file a kernel process may write (RLIMIT_FSIZE); past it writes fail with EFBIG."""

    sandbox_uid: int | None = 65534
    """When the host runs as root: the unprivileged user id the kernel runs as (65534 is
    `nobody`). `None` keeps root, which leaves max_processes unenforced."""

    sandbox_gid: int = 65534
    """Group id that goes with sandbox_uid."""

    hidden_paths: tuple[str, ...] = DEFAULT_HIDDEN_PATHS
    """Host folders that appear empty inside bubblewrap (the rest of / is visible read-only)."""

    read_only_paths: tuple[str, ...] = ()
    """Extra host paths to show read-only, for paths under a hidden folder (a model cache in
    a home folder). The Python installation, the venv and the project are added automatically."""

    writable_paths: tuple[str, ...] = ()
    """Extra host folders the kernel may write (besides the run folder and a private /tmp)."""

    tmpfs_size_mb: int = 1024
    """Size of the private /tmp and of /dev/shm inside bubblewrap; both live in RAM, and
    RLIMIT_AS does not count them."""

    bind_gpus: bool = True
    """Bind the host's /dev/nvidia* device nodes into bubblewrap when they exist."""

    env_keep: tuple[str, ...] = DEFAULT_ENV_KEEP
    """Host environment variables passed to the kernel (patterns); all others are dropped."""

    env_deny: tuple[str, ...] = DEFAULT_ENV_DENY
    """Patterns never passed on, even when env_keep matches them."""

    extra_env: dict[str, str] = field(default_factory=dict)
    """Variables set in the kernel as given (after scrubbing), e.g. {"OMP_NUM_THREADS": "1"}."""

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATION_MODES:
            raise UserError(f"sandbox isolation {self.isolation!r} is not a mode; use one of {', '.join(ISOLATION_MODES)}")
        for name in ("cell_timeout_s", "interrupt_grace_s", "startup_timeout_s", "session_timeout_s", "shutdown_timeout_s"):
            value = getattr(self, name)
            if not value > 0:
                raise UserError(f"sandbox {name} must be a positive number of seconds, got {value!r}")
        if not isinstance(self.tmpfs_size_mb, int) or self.tmpfs_size_mb < 1:
            raise UserError(f"sandbox tmpfs_size_mb must be a positive integer, got {self.tmpfs_size_mb!r}")
        for name in ("memory_limit_mb", "cpu_time_s", "max_processes", "max_open_files", "max_file_size_mb"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UserError(f"sandbox {name} must be a positive integer or None, got {value!r}")
        if not isinstance(self.max_output_chars, int) or self.max_output_chars < 100:
            raise UserError(f"sandbox max_output_chars must be an integer of at least 100, got {self.max_output_chars!r}")
        if self.max_open_files is not None and self.max_open_files < 64:
            raise UserError(f"sandbox max_open_files must be at least 64 for a Jupyter kernel, got {self.max_open_files}")
