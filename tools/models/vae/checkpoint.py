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
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not readable JSON ({error}); was the folder written by `train`?") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"{path} holds no checkpoint record (a JSON object); was the folder written by `train`?")
    return record


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> BurgessVAE:
    """Rebuild the VAE of a checkpoint folder, in eval mode, on device."""
    from safetensors.torch import load_file

    folder = Path(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"no {WEIGHTS_FILE} in checkpoint folder {folder}")
    record = read_checkpoint_record(folder)
    if not isinstance(record.get("model"), dict):
        raise CheckpointError(f"{folder / CONFIG_FILE} has no 'model' configuration; was the folder written by `train`?")
    model = BurgessVAE(VAEConfig.from_dict(record["model"]))
    try:
        state = load_file(str(weights))
    except Exception as error:  # safetensors raises its own error type for a damaged file
        raise CheckpointError(f"{weights} is not a readable safetensors file ({error}); it may be truncated "
                              "or damaged: copy or train the checkpoint again") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise CheckpointError(f"{weights} does not match the model its {CONFIG_FILE} describes ({first})") from None
    model.training_record = record.get("training", {})
    return model.to(device).eval()
