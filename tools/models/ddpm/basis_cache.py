"""A file cache of shared h-space bases, so a resumed or repeated run does not recompute one.

A basis depends on the weights, the prompt (Stable Diffusion), the sampling settings that lead
to x_t, the power-method settings and the dtype; `basis_cache_key` hashes all of them. Files are
read from `folders` in order (the run folder's cache first, then the user's cache, which the
sandbox sees read-only) and written to `write_to` (the run folder; agent/kernel_pool.py copies
new files into the user's cache when the run's kernel stops).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SUFFIX = ".safetensors"
PREFIX = "hspace-"


def basis_cache_key(material: dict) -> str:
    """A stable file-name-safe digest of what a basis depends on (a JSON-serialisable dict)."""
    text = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class BasisCache:
    """folders: where cached bases are looked up, in order. write_to: where new ones are saved
    (None: not saved)."""

    folders: tuple[Path, ...] = ()
    write_to: Path | None = None

    def path(self, folder: Path, key: str) -> Path:
        return Path(folder) / f"{PREFIX}{key}{SUFFIX}"

    def load(self, key: str) -> tuple[torch.Tensor, dict] | None:
        """(directions (k, C, H, W) float32, info) of the first stored basis under key, or None."""
        from safetensors import SafetensorError, safe_open

        for folder in (*([self.write_to] if self.write_to else []), *self.folders):
            path = self.path(folder, key)
            if not path.is_file():
                continue
            try:
                with safe_open(str(path), framework="pt") as stored:
                    info = json.loads((stored.metadata() or {}).get("basis_info", "{}"))
                    return stored.get_tensor("directions"), info | {"cached_from": str(path)}
            except (SafetensorError, OSError, json.JSONDecodeError):
                continue  # a damaged file is recomputed
        return None

    def save(self, key: str, directions: torch.Tensor, info: dict) -> Path | None:
        """Store directions under key in write_to (written to a temporary name, then renamed)."""
        from safetensors.torch import save_file

        if self.write_to is None:
            return None
        folder = Path(self.write_to)
        folder.mkdir(parents=True, exist_ok=True)
        path = self.path(folder, key)
        partial = path.with_suffix(".partial")
        save_file({"directions": directions.detach().float().cpu().contiguous()}, str(partial),
                  metadata={"basis_info": json.dumps(info, default=str)})
        partial.chmod(0o644)
        partial.replace(path)
        return path


def user_cache_dir() -> Path:
    """The user's basis cache: $XDG_CACHE_HOME (default ~/.cache)/latent-explainer/hspace."""
    import os

    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "latent-explainer" / "hspace"


def copy_new_bases(source: Path, target: Path) -> list[Path]:
    """Copy the bases in source that target lacks (host side, after a run); returns the copies."""
    import shutil

    copied = []
    if not Path(source).is_dir():
        return copied
    for path in sorted(Path(source).glob(f"{PREFIX}*{SUFFIX}")):
        destination = Path(target) / path.name
        if destination.exists():
            continue
        Path(target).mkdir(parents=True, exist_ok=True)
        partial = destination.with_suffix(".partial")
        shutil.copyfile(path, partial)
        partial.replace(destination)
        copied.append(destination)
    return copied
