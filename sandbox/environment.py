"""The kernel's environment: the host's, reduced to an allow-list with credentials removed,
plus home, cache and temporary folders inside the run folder (the root is read-only)."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    upper = name.upper()
    return any(fnmatchcase(upper, pattern.upper()) for pattern in patterns)


def scrub_environment(environ: Mapping[str, str], keep: tuple[str, ...], deny: tuple[str, ...]) -> dict[str, str]:
    """The variables of environ whose names match a keep pattern and no deny pattern
    (shell-style patterns, case-insensitive)."""
    return {name: value for name, value in environ.items() if _matches(name, keep) and not _matches(name, deny)}


def kernel_environment(
    environ: Mapping[str, str], keep: tuple[str, ...], deny: tuple[str, ...], extra: Mapping[str, str], state_dir: Path
) -> dict[str, str]:
    """The full environment of the kernel process: scrub_environment(environ), then HOME,
    IPYTHONDIR, MPLCONFIGDIR, XDG_*_HOME and TMPDIR under state_dir (the folders must exist:
    see `state_folders`), Python flags that keep the read-only root clean, then `extra`."""
    env = scrub_environment(environ, keep, deny)
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    folders = state_folders(state_dir)
    env.update(
        HOME=str(folders["home"]),
        IPYTHONDIR=str(folders["ipython"]),
        MPLCONFIGDIR=str(folders["matplotlib"]),
        XDG_CACHE_HOME=str(folders["cache"]),
        XDG_CONFIG_HOME=str(folders["config"]),
        TMPDIR=str(folders["tmp"]),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONNOUSERSITE="1",
        MPLBACKEND="Agg",
    )
    env.update(extra)
    return env


def state_folders(state_dir: Path) -> dict[str, Path]:
    """The per-kernel folders under state_dir, by role: home, ipython, matplotlib, cache,
    config, tmp."""
    home = state_dir / "home"
    return {
        "home": home,
        "ipython": home / ".ipython",
        "matplotlib": home / ".config" / "matplotlib",
        "cache": home / ".cache",
        "config": home / ".config",
        "tmp": state_dir / "tmp",
    }
