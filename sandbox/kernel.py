"""SandboxKernel: an ipykernel in bubblewrap, driven by jupyter_client over Unix sockets.

Lifecycle (a context manager): start -> execute... -> stop. Failure paths, each a structured
SandboxError (see sandbox.errors):
- the cell raises -> ExecutionError (or ResourceLimitExceeded when a limit caused it);
- the cell runs past its timeout -> interrupt; if it has not stopped within
  interrupt_grace_s, the kernel is restarted -> CellTimeout(restarted=...);
- the kernel process dies -> it is restarted -> KernelDied (ResourceLimitExceeded for SIGXCPU);
- the kernel lives past session_timeout_s -> it is ended -> SessionTimeout until restart().
In every case but the last, the next `execute` runs in a working kernel."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.environment import kernel_environment, state_folders
from sandbox.errors import (
    CellTimeout,
    KernelDied,
    KernelStartFailed,
    ResourceLimitExceeded,
    SandboxError,
    SessionTimeout,
    error_from_cell,
)
from sandbox.files import changed_files, snapshot_files
from sandbox.isolation import Isolation, bwrap_arguments, choose_isolation, drops_root, gpu_device_nodes
from sandbox.limits import limit_values, rlimit_arguments
from sandbox.output import CappedText, strip_ansi
from sandbox.ownership import hand_over
from sandbox.result import CellResult
from sandbox.settings import SandboxSettings

STATE_DIR_NAME = ".sandbox"
"""Folder in the run folder for the kernel's own files (connection file, sockets, home, log)."""

LAUNCHER = Path(__file__).with_name("launcher.py")
MAX_SOCKET_PATH = 100  # Unix socket paths must fit in 108 bytes
POLL_S = 0.1  # how often a waiting client checks that the kernel process is alive
LOG_TAIL_CHARS = 2000


def _log_tail(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-LOG_TAIL_CHARS:].decode("utf-8", "replace")


def _death_signal(exit_code: int | None, wrapped: bool) -> str | None:
    """The signal that killed a process, from its exit status: negative for a direct child,
    128 + signal through bubblewrap."""
    number = None
    if exit_code is not None and exit_code < 0:
        number = -exit_code
    elif wrapped and exit_code is not None and 128 < exit_code < 128 + 65:
        number = exit_code - 128
    if number is None:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class SandboxKernel:
    """A Jupyter kernel for untrusted code, confined as SandboxSettings says.

    run_dir: the folder the code works in (created if needed); its only writable folder
    besides a private /tmp. Use as `with SandboxKernel(run_dir, settings) as kernel: ...`."""

    def __init__(self, run_dir: Path | str, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self.run_dir = Path(run_dir).resolve()
        self.state_dir = self.run_dir / STATE_DIR_NAME
        self.isolation: Isolation | None = None
        """How the running kernel is isolated; set by start()."""
        self.startup_s: float | None = None
        """Seconds the last start took, until the kernel answered."""
        self._manager: Any = None
        self._client: Any = None
        self._ipc_dir: Path | None = None
        self._session_deadline = 0.0
        self._drops_root = False
        self._starts = 0

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> SandboxKernel:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def starts(self) -> int:
        """How many kernel processes were started so far (restarts count): a caller that set
        state up in the kernel sets it up again when this changes."""
        return self._starts

    @property
    def is_running(self) -> bool:
        """Whether a kernel process is up (it may be busy)."""
        return self._manager is not None and self._manager.is_alive()

    def start(self) -> None:
        """Start the kernel and wait until it answers; the session clock starts. Raises
        SandboxUnavailable (strict mode without bubblewrap) or KernelStartFailed."""
        if self._manager is not None:
            return
        self._launch()
        self._session_deadline = time.monotonic() + self.settings.session_timeout_s

    def _launch(self) -> None:
        """Start a kernel process and wait until it answers (the session clock is not reset)."""
        began = time.monotonic()
        self.isolation = choose_isolation(self.settings)
        self._prepare_folders()
        manager = self._new_manager()
        log_path = self.state_dir / "kernel.log"
        self._manager = manager
        try:
            with open(log_path, "wb") as log:  # the kernel's stderr; stdout only has its banner
                manager.start_kernel(
                    env=self._environment(), cwd=str(self.run_dir), stdout=subprocess.DEVNULL, stderr=log
                )
            client = manager.client()
            client.start_channels()
            self._client = client
            client.wait_for_ready(timeout=self.settings.startup_timeout_s)
        except Exception as error:  # jupyter_client raises RuntimeError or OSError subclasses
            tail = _log_tail(log_path)
            self._shutdown(kill=True)
            raise KernelStartFailed(str(error), tail) from None
        self.startup_s = time.monotonic() - began

    def stop(self) -> None:
        """Shut the kernel down (politely, then by force after shutdown_timeout_s) and remove
        its sockets and connection file. Safe to call twice; a later execute starts a new session."""
        self._shutdown(kill=False)
        self._session_deadline = 0.0

    def restart(self) -> None:
        """A fresh kernel: variables and imports are gone, the session clock starts again."""
        self._shutdown(kill=False)
        self.start()

    def _shutdown(self, kill: bool) -> None:
        client, manager = self._client, self._manager
        self._client = self._manager = None
        try:
            if client is not None:
                client.stop_channels()
            if manager is not None:
                try:
                    manager.shutdown_kernel(now=kill or not manager.is_alive())
                except Exception:  # a kernel that never started, or is half gone: make sure it is dead
                    process = getattr(manager.provisioner, "process", None)
                    if process is not None and process.poll() is None:
                        process.kill()
                        process.wait(timeout=self.settings.shutdown_timeout_s)
                    manager.cleanup_resources()
        finally:
            if self._ipc_dir is not None:
                shutil.rmtree(self._ipc_dir, ignore_errors=True)
                self._ipc_dir = None

    def _restart_after_failure(self) -> bool:
        """Kill and start again after a dead or stuck kernel; False when the new one did not
        start (the next execute will then try once more)."""
        self._shutdown(kill=True)
        try:
            self._launch()
        except SandboxError:
            return False
        return True

    # ------------------------------------------------------------------- set-up

    def _prepare_folders(self) -> None:
        assert self.isolation is not None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        folders = [self.state_dir, *state_folders(self.state_dir).values()]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        self._drops_root = drops_root(self.settings, self.isolation, self.run_dir)
        if self._drops_root:  # the kernel's user must be able to write the whole run folder
            hand_over(self.run_dir, self.settings.sandbox_uid, self.settings.sandbox_gid)

    def _ipc_prefix(self) -> Path:
        """Where the kernel's Unix sockets go: in the state folder, or in a short private
        temporary folder when that path would be too long for a socket."""
        self._starts += 1
        prefix = self.state_dir / f"ipc{self._starts}"
        if len(str(prefix)) + 3 <= MAX_SOCKET_PATH:
            return prefix
        self._ipc_dir = Path(tempfile.mkdtemp(prefix="lx-ipc-"))
        if self._drops_root:
            os.chown(self._ipc_dir, self.settings.sandbox_uid, self.settings.sandbox_gid)
        return self._ipc_dir / "k"

    def _kernel_argv(self) -> list[str]:
        assert self.isolation is not None
        settings = self.settings
        gpu_nodes = gpu_device_nodes()
        argv: list[str] = []
        if self.isolation.bwrap is not None:
            writable = [self._ipc_dir] if self._ipc_dir is not None else []
            bound = gpu_nodes if settings.bind_gpus else []
            argv += bwrap_arguments(self.isolation.bwrap, settings, self.run_dir, writable, bound)
        argv += [sys.executable, "-I", "-S", str(LAUNCHER)]
        argv += rlimit_arguments(settings, gpu_bound=bool(gpu_nodes), drops_root=self._drops_root)
        if self._drops_root:
            argv += ["--uid", str(settings.sandbox_uid), "--gid", str(settings.sandbox_gid)]
        argv += ["--", sys.executable, "-P", "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--HistoryManager.enabled=False", "--IPKernelApp.log_level=WARN"]
        return argv

    def _new_manager(self) -> Any:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

        ipc_prefix = self._ipc_prefix()  # first: a short private socket folder must be bound into bwrap
        spec = KernelSpec(argv=self._kernel_argv(), display_name="LatentExplainer sandbox", language="python",
                          interrupt_mode="message", env={})

        class OneSpecManager(KernelSpecManager):
            def get_kernel_spec(self, kernel_name: str, *args: Any, **kwargs: Any) -> KernelSpec:
                return spec

        manager = KernelManager(
            kernel_name="latent-explainer-sandbox", kernel_spec_manager=OneSpecManager(), transport="ipc",
            ip=str(ipc_prefix), connection_file=str(self.state_dir / f"kernel{self._starts}.json"),
            shutdown_wait_time=self.settings.shutdown_timeout_s,
        )
        manager.write_connection_file()
        if self._drops_root:  # written 0600 by us; the kernel's user must read it
            os.chown(manager.connection_file, self.settings.sandbox_uid, self.settings.sandbox_gid)
        return manager

    def _environment(self) -> dict[str, str]:
        settings = self.settings
        return kernel_environment(os.environ, settings.env_keep, settings.env_deny, settings.extra_env, self.state_dir)

    # ---------------------------------------------------------------- execution

    def execute(self, code: str, timeout: float | None = None,
                on_stream: Callable[[str, str], None] | None = None) -> CellResult:
        """Run code as one cell and return what it printed, its last expression's text/plain
        and the files it wrote. timeout: seconds (default settings.cell_timeout_s).
        on_stream(name, text): called with each piece of stdout / stderr as it arrives (live
        progress); what it raises is ignored.

        Raises ExecutionError, ResourceLimitExceeded, CellTimeout, KernelDied or
        SessionTimeout; each carries `partial`, the CellResult gathered until then."""
        if self._session_deadline == 0:
            self.start()
        if time.monotonic() >= self._session_deadline:
            self._shutdown(kill=True)
            raise SessionTimeout(self.settings.session_timeout_s)
        limit = self.settings.cell_timeout_s if timeout is None else timeout
        if not limit > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if self._manager is None:  # an automatic restart failed earlier: try once more
            self._launch()
        return _Cell(self, code, limit, on_stream).run()

    def _died(self) -> SandboxError:
        """The error for a kernel process that has exited; restarts the kernel."""
        process = getattr(self._manager.provisioner, "process", None)
        exit_code = process.poll() if process is not None else None
        wrapped = self.isolation is not None and self.isolation.bwrap is not None
        name = _death_signal(exit_code, wrapped)
        tail = _log_tail(self.state_dir / "kernel.log")
        restarted = self._restart_after_failure()
        if name == "SIGXCPU" and self.settings.cpu_time_s is not None:
            return ResourceLimitExceeded(
                "cpu_time_s", self.settings.cpu_time_s, "the kernel used up its CPU time (SIGXCPU)", restarted=restarted
            )
        return KernelDied(name, exit_code, tail, restarted)


class _Cell:
    """One execution: sends the code, gathers its messages, handles time-outs and death."""

    def __init__(self, kernel: SandboxKernel, code: str, timeout_s: float,
                 on_stream: Callable[[str, str], None] | None = None) -> None:
        self.kernel = kernel
        self.on_stream = on_stream
        self.code = code
        self.timeout_s = timeout_s
        self.stdout = CappedText(kernel.settings.max_output_chars)
        self.stderr = CappedText(kernel.settings.max_output_chars)
        self.result: str | None = None
        self.error: dict[str, Any] | None = None
        self.idle = False
        self.began = time.monotonic()

    def run(self) -> CellResult:
        kernel = self.kernel
        skip = (STATE_DIR_NAME,)
        if kernel._drops_root:  # files the host added since the last cell become writable too
            hand_over(kernel.run_dir, kernel.settings.sandbox_uid, kernel.settings.sandbox_gid)
        before = snapshot_files(kernel.run_dir, skip)
        self.began = time.monotonic()
        cell_deadline = self.began + self.timeout_s
        deadline = min(cell_deadline, kernel._session_deadline)
        msg_id = kernel._client.execute(self.code, store_history=False, allow_stdin=False, stop_on_error=False)
        failure: SandboxError | None = None
        if not self._gather(msg_id, deadline):
            failure = self._dead_or_late(msg_id, session=deadline < cell_deadline)
        else:
            self._drain_reply(msg_id)
        partial = CellResult(
            stdout=self.stdout.text(), stderr=self.stderr.text(), result=self.result,
            files_written=changed_files(before, snapshot_files(kernel.run_dir, skip)),
            duration_s=time.monotonic() - self.began,
        )
        if failure is None and self.error is not None:
            failure = error_from_cell(
                self.error["ename"], self.error["evalue"], [strip_ansi(line) for line in self.error["traceback"]],
                limit_values(kernel.settings),
            )
        if isinstance(failure, ResourceLimitExceeded) and failure.limit == "max_processes":
            # the processes that hit the limit may still hold it: end them all with the kernel
            failure.set_field("restarted", kernel._restart_after_failure())
        if failure is not None:
            failure.partial = partial
            raise failure
        return partial

    def _gather(self, msg_id: str, deadline: float) -> bool:
        """Read IOPub until the cell is idle (True), or the deadline passes or the kernel dies
        (False)."""
        client = self.kernel._client
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.kernel._manager.is_alive():
                return False
            try:
                message = client.get_iopub_msg(timeout=min(POLL_S, remaining))
            except queue.Empty:
                continue
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            self._take(message)
            if self.idle:
                return True

    def _take(self, message: dict[str, Any]) -> None:
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            (self.stdout if content.get("name") == "stdout" else self.stderr).append(content.get("text", ""))
            if self.on_stream is not None:
                try:
                    self.on_stream(content.get("name", "stdout"), content.get("text", ""))
                except Exception:  # noqa: BLE001 - a display problem must not fail the cell
                    pass
        elif kind == "execute_result":
            self.result = content.get("data", {}).get("text/plain")
        elif kind == "error":
            self.error = content
        elif kind == "status" and content.get("execution_state") == "idle":
            self.idle = True

    def _drain_reply(self, msg_id: str) -> None:
        """Take the cell's execute_reply off the shell channel (it precedes the idle status)."""
        client = self.kernel._client
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                reply = client.get_shell_msg(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                return
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return

    def _dead_or_late(self, msg_id: str, session: bool) -> SandboxError:
        kernel = self.kernel
        if not kernel._manager.is_alive():
            return kernel._died()
        if session:
            kernel._shutdown(kill=True)
            return SessionTimeout(kernel.settings.session_timeout_s)
        # Interrupt, give the cell interrupt_grace_s to stop, else restart.
        kernel._manager.interrupt_kernel()
        if self._gather(msg_id, time.monotonic() + kernel.settings.interrupt_grace_s):
            self._drain_reply(msg_id)
            self.error = None  # the KeyboardInterrupt is ours, not the cell's
            return CellTimeout(self.timeout_s, restarted=False)
        if not kernel._manager.is_alive():
            return kernel._died()
        kernel._restart_after_failure()
        self.error = None
        return CellTimeout(self.timeout_s, restarted=True)
