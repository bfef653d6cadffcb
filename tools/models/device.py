"""Choosing the torch device: CUDA when present, CPU otherwise, or what the user names."""

from __future__ import annotations

import torch

from tools.errors import UserError


def resolve_device(name: str | None = None) -> torch.device:
    """`None` or "auto" -> cuda if available else cpu; "cpu", "cuda", "cuda:N" as given.

    Raises UserError for an unknown name or a CUDA device that is not there."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name!r} asks for CUDA, but no CUDA device is available; use cpu")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device
