"""Handing the run folder to the kernel's user, so that a kernel running as an unprivileged
user can write everything in it, like a kernel running as the host's user could."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def hand_over(root: Path, uid: int, gid: int) -> int:
    """Give root and everything under it to uid:gid; returns how many entries changed.

    Symlinks are changed themselves, never followed; a file with more than one hard link is
    left alone (it may be a link to a file outside the folder)."""
    changed = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [".", *dirs, *files]:
            path = os.path.join(folder, name) if name != "." else folder
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            if (info.st_uid, info.st_gid) == (uid, gid):
                continue
            if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                continue
            os.chown(path, uid, gid, follow_symlinks=False)
            changed += 1
    return changed
