"""VAE checkpoints: a folder with model.safetensors (the state dict) and config.json
(tools.models.vae.model.VAEConfig plus a `training` record of how it was made)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tools.models.vae.model import BurgessVAE, VAEConfig

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class CheckpointError(ValueError):
    """A checkpoint folder that is missing or incomplete; the message names the path."""


def save_checkpoint(model: BurgessVAE, folder: str | Path, training: dict | None = None) -> Path:
    """Write model.safetensors and config.json into folder (created if needed)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    (folder / WEIGHTS_FILE).chmod(0o644)  # safetensors writes 0600; the sandbox reads as another user
    record = {"model": model.config.to_dict(), "training": training or {}}
    (folder / CONFIG_FILE).write_text(json.dumps(record, indent=2))
    return folder


def read_checkpoint_record(folder: str | Path) -> dict:
    """The config.json of a checkpoint folder as a dict."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"no {CONFIG_FILE} in checkpoint folder {folder}")
    return json.loads(path.read_text())


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> BurgessVAE:
    """Rebuild the VAE of a checkpoint folder, in eval mode, on device."""
    from safetensors.torch import load_file

    folder = Path(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"no {WEIGHTS_FILE} in checkpoint folder {folder}")
    record = read_checkpoint_record(folder)
    model = BurgessVAE(VAEConfig.from_dict(record["model"]))
    model.load_state_dict(load_file(str(weights)))
    model.training_record = record.get("training", {})
    return model.to(device).eval()
