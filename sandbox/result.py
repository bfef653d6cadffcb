"""What one executed cell produced."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CellResult:
    """Output of one cell run by SandboxKernel.execute."""

    stdout: str = ""
    """Text the cell wrote to stdout (print, and C-level writes to fd 1)."""

    stderr: str = ""
    """Text the cell wrote to stderr (warnings, C-level writes to fd 2)."""

    result: str | None = None
    """text/plain of the cell's last expression, or None when it has none."""

    files_written: list[str] = field(default_factory=list)
    """Paths relative to the run folder (POSIX separators, sorted) of files the cell created
    or changed; the sandbox's own state folder is left out."""

    duration_s: float = 0.0
    """Wall-clock seconds from sending the cell to its end (or its failure)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serialisable dict."""
        return asdict(self)
