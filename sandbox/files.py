"""Which files a cell created or changed in the run folder: a snapshot before, one after."""

from __future__ import annotations

import os
from pathlib import Path

#: (modification time in ns, size in bytes, inode) of each file, keyed by its relative path.
Snapshot = dict[str, tuple[int, int, int]]


def snapshot_files(root: Path, skip: tuple[str, ...] = ()) -> Snapshot:
    """Every regular file and symlink under root, without following symlinks; top-level
    entries named in skip are left out. Files that vanish while walking are ignored."""
    found: Snapshot = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        relative_folder = os.path.relpath(folder, root)
        if relative_folder == ".":
            dirs[:] = [d for d in dirs if d not in skip]
            files = [f for f in files if f not in skip]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            key = Path(os.path.relpath(path, root)).as_posix()
            found[key] = (info.st_mtime_ns, info.st_size, info.st_ino)
    return found


def changed_files(before: Snapshot, after: Snapshot) -> list[str]:
    """Sorted relative paths present in after that are new or differ from before."""
    return sorted(path for path, stamp in after.items() if before.get(path) != stamp)
