"""Structured failures of sandboxed code. Each carries a short message, its fields, and
`to_dict()` -> {"type", "message", ...fields} so an agent (or the CLI) can read it as data.

A failure raised by `SandboxKernel.execute` also carries `partial`: the CellResult gathered
before it (stdout, stderr, files written), or None."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.errors import UserError

if TYPE_CHECKING:
    from sandbox.result import CellResult


class SandboxError(Exception):
    """Base of every sandbox failure."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.partial: CellResult | None = None
        for name, value in fields.items():
            setattr(self, name, value)

    def set_field(self, name: str, value: Any) -> None:
        """Change one structured field (attribute and to_dict() entry)."""
        self.fields[name] = value
        setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """{"type": class name, "message": str, **fields}; JSON-serialisable."""
        return {"type": type(self).__name__, "message": self.message, **self.fields}


class ExecutionError(SandboxError):
    """The cell raised: `ename`, `evalue` and the `traceback` lines (ANSI colours removed)."""

    def __init__(self, ename: str, evalue: str, traceback: list[str]) -> None:
        first = evalue.splitlines()[0] if evalue else ""
        super().__init__(f"{ename}: {first}" if first else ename, ename=ename, evalue=evalue, traceback=traceback)


class CellTimeout(SandboxError):
    """The cell ran past `timeout_s`. It was interrupted; `restarted` tells whether the
    interrupt failed and the kernel was restarted (its variables are then gone)."""

    def __init__(self, timeout_s: float, restarted: bool) -> None:
        how = "the kernel was restarted" if restarted else "it was interrupted"
        super().__init__(f"cell ran past its {timeout_s:g} s timeout; {how}", timeout_s=timeout_s, restarted=restarted)


class SessionTimeout(SandboxError):
    """The kernel lived past `session_timeout_s` and was ended; `restart()` starts a new one."""

    def __init__(self, session_timeout_s: float) -> None:
        super().__init__(
            f"sandbox session ran past its {session_timeout_s:g} s limit; the kernel was ended",
            session_timeout_s=session_timeout_s,
        )


class KernelDied(SandboxError):
    """The kernel process died (segfault, killed, abort). `signal` names the signal when known,
    `exit_code` is the process's exit status, `log_tail` the end of its stderr. The kernel was
    restarted (`restarted`) so the next cell runs in a fresh one."""

    def __init__(self, signal: str | None, exit_code: int | None, log_tail: str, restarted: bool) -> None:
        cause = f"killed by {signal}" if signal else f"exit status {exit_code}"
        super().__init__(
            f"kernel died ({cause})", signal=signal, exit_code=exit_code, log_tail=log_tail, restarted=restarted
        )


class KernelStartFailed(SandboxError):
    """The kernel did not start or did not answer within `startup_timeout_s`; `log_tail` is the
    end of its stderr."""

    def __init__(self, reason: str, log_tail: str) -> None:
        super().__init__(f"sandbox kernel did not start: {reason}", reason=reason, log_tail=log_tail)


class ResourceLimitExceeded(SandboxError):
    """A resource limit stopped the code. `limit` is the SandboxSettings field, `value` its
    setting; `ename`/`evalue`/`traceback` are set when the cell raised (MemoryError...).
    `restarted`: the kernel was restarted, because the limit killed it (SIGXCPU) or, for
    max_processes, to end the processes that still hold the limit."""

    def __init__(
        self, limit: str, value: int | None, detail: str, *, ename: str | None = None, evalue: str | None = None,
        traceback: list[str] | None = None, restarted: bool = False,
    ) -> None:
        super().__init__(
            f"resource limit {limit}={value} reached: {detail}", limit=limit, value=value, detail=detail,
            ename=ename, evalue=evalue, traceback=traceback or [], restarted=restarted,
        )


class SandboxUnavailable(SandboxError, UserError):
    """Strict isolation was asked for but bubblewrap cannot run here. Also a UserError: the CLI
    prints it as one line and exits 2."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"strict sandbox isolation needs bubblewrap, but {reason}; install the `bubblewrap` package, "
            "point bwrap_path at it, or use isolation 'auto' or 'off'",
            reason=reason,
        )


def error_from_cell(ename: str, evalue: str, traceback: list[str], limits: dict[str, int | None]) -> SandboxError:
    """The error a cell's exception becomes: ResourceLimitExceeded when the exception is the
    symptom of one of `limits` (SandboxSettings field -> value; only set limits count), else
    ExecutionError. Symptoms: MemoryError or torch's CPU allocator failing (memory_limit_mb);
    EAGAIN from fork/spawn or "can't start new thread" (max_processes); EMFILE
    (max_open_files); EFBIG (max_file_size_mb)."""
    text = "\n".join(traceback)
    limit: str | None = None
    if (ename.endswith("MemoryError") and "CUDA" not in evalue) or "DefaultCPUAllocator: can't allocate memory" in evalue:
        limit = "memory_limit_mb"
    elif ("[Errno 11]" in evalue and any(word in text for word in ("fork", "Popen", "spawn"))) or (
        "can't start new thread" in evalue
    ):
        limit = "max_processes"
    elif "[Errno 24]" in evalue:
        limit = "max_open_files"
    elif "[Errno 27]" in evalue:
        limit = "max_file_size_mb"
    if limit is None or limits.get(limit) is None:
        return ExecutionError(ename, evalue, traceback)
    detail = f"{ename}: {evalue.splitlines()[0] if evalue else ''}".rstrip(": ")
    return ResourceLimitExceeded(limit, limits[limit], detail, ename=ename, evalue=evalue, traceback=traceback)
