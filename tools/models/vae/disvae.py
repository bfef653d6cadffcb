"""Loading checkpoints of the widely used disentangling-vae format (`--model disvae:FOLDER`).

FOLDER holds
- specs.json: at least `img_size` ([C, H, W], H = W = 32 or 64, C = 1 or 3), `latent_dim` and
  `model_type` (only "Burgess" is an architecture of that format); optional `dataset`;
- model.pt: a torch state dict with `encoder.*` and `decoder.*` keys of the Burgess et al.
  2018 VAE ("Understanding disentangling in beta-VAE").

The architecture the keys name (hidden 32 channels, 4x4 kernels, stride 2, 256 hidden units):
  encoder: conv1, conv2, conv3 [, conv_64 for 64x64] (Conv2d) -> flatten (32*4*4) -> lin1, lin2
           (Linear 256) -> mu_logvar_gen (Linear 2 * latent_dim), read as pairs: mean = even
           columns, log-variance = odd columns (a (latent_dim, 2) view of the output);
  decoder: lin1, lin2 (Linear 256), lin3 (Linear 32*4*4) -> view (32, 4, 4) -> [convT_64 for
           64x64] -> convT1, convT2, convT3 (ConvTranspose2d; convT3 to C channels) -> sigmoid.
ReLU follows every layer but the last of each. The modules below are written from that
description; their attribute names are the keys' names.

The loaded model follows the explainer's protocol: latent_dim, decode(z) in [0, 1], name,
metadata (family "vae", disentanglement bias) and sample_latents: posterior means of
procedural dSprites images when specs.json says dataset "dsprites" (a 1x64x64 model), draws
from N(0, I) otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tools.errors import UserError

SPECS_FILE = "specs.json"
WEIGHTS_FILE = "model.pt"
MODEL_TYPES: tuple[str, ...] = ("Burgess",)
_HIDDEN_CHANNELS, _KERNEL, _HIDDEN_DIM = 32, 4, 256


@dataclass(frozen=True)
class DisvaeSpecs:
    """img_size: (C, H, W); latent_dim; model_type; dataset ("" when specs.json has none)."""

    img_size: tuple[int, int, int]
    latent_dim: int
    model_type: str
    dataset: str = ""


def read_disvae_specs(folder: str | Path) -> DisvaeSpecs:
    """Read and check FOLDER/specs.json and that FOLDER/model.pt exists.

    Raises UserError naming the missing file or the bad field and what is allowed."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"disvae folder {str(folder)!r} does not exist")
    for name in (SPECS_FILE, WEIGHTS_FILE):
        if not (root / name).is_file():
            raise UserError(f"disvae folder {str(folder)!r} has no {name} (needs {SPECS_FILE} and {WEIGHTS_FILE})")
    try:
        specs = json.loads((root / SPECS_FILE).read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{root / SPECS_FILE} is not valid JSON: {error}") from None
    if not isinstance(specs, dict):
        raise UserError(f"{root / SPECS_FILE} must hold a JSON object with img_size, latent_dim and model_type")
    missing = [key for key in ("img_size", "latent_dim", "model_type") if key not in specs]
    if missing:
        raise UserError(f"{root / SPECS_FILE} lacks {', '.join(missing)}")
    size = specs["img_size"]
    if (not isinstance(size, list) or len(size) != 3 or not all(isinstance(v, int) for v in size)
            or size[0] not in (1, 3) or size[1] != size[2] or size[1] not in (32, 64)):
        raise UserError(f"img_size {size!r} in {root / SPECS_FILE} is not supported; use [C, H, W] with C 1 or 3 and H = W = 32 or 64")
    latent_dim = specs["latent_dim"]
    if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 1:
        raise UserError(f"latent_dim {latent_dim!r} in {root / SPECS_FILE} must be a positive integer")
    if specs["model_type"] not in MODEL_TYPES:
        raise UserError(f"model_type {specs['model_type']!r} in {root / SPECS_FILE} is not supported; use {', '.join(MODEL_TYPES)}")
    dataset = specs.get("dataset", "")
    return DisvaeSpecs((size[0], size[1], size[2]), latent_dim, specs["model_type"], dataset if isinstance(dataset, str) else "")


class BurgessEncoder(nn.Module):
    """(B, C, S, S) in [0, 1] -> mean, logvar (B, latent_dim); parameter names as the format's."""

    def __init__(self, img_size: tuple[int, int, int], latent_dim: int):
        super().__init__()
        c, k = _HIDDEN_CHANNELS, _KERNEL
        self.img_size, self.latent_dim = img_size, latent_dim
        self.conv1 = nn.Conv2d(img_size[0], c, k, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c, c, k, stride=2, padding=1)
        self.conv3 = nn.Conv2d(c, c, k, stride=2, padding=1)
        if img_size[1] == 64:
            self.conv_64 = nn.Conv2d(c, c, k, stride=2, padding=1)
        self.lin1 = nn.Linear(c * k * k, _HIDDEN_DIM)
        self.lin2 = nn.Linear(_HIDDEN_DIM, _HIDDEN_DIM)
        self.mu_logvar_gen = nn.Linear(_HIDDEN_DIM, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x))))))
        if self.img_size[1] == 64:
            h = torch.relu(self.conv_64(h))
        h = torch.relu(self.lin2(torch.relu(self.lin1(h.flatten(1)))))
        pairs = self.mu_logvar_gen(h).view(-1, self.latent_dim, 2)
        return pairs[..., 0], pairs[..., 1]


class BurgessDecoder(nn.Module):
    """(B, latent_dim) -> images (B, C, S, S) in [0, 1]; parameter names as the format's."""

    def __init__(self, img_size: tuple[int, int, int], latent_dim: int):
        super().__init__()
        c, k = _HIDDEN_CHANNELS, _KERNEL
        self.img_size = img_size
        self.lin1 = nn.Linear(latent_dim, _HIDDEN_DIM)
        self.lin2 = nn.Linear(_HIDDEN_DIM, _HIDDEN_DIM)
        self.lin3 = nn.Linear(_HIDDEN_DIM, c * k * k)
        if img_size[1] == 64:
            self.convT_64 = nn.ConvTranspose2d(c, c, k, stride=2, padding=1)
        self.convT1 = nn.ConvTranspose2d(c, c, k, stride=2, padding=1)
        self.convT2 = nn.ConvTranspose2d(c, c, k, stride=2, padding=1)
        self.convT3 = nn.ConvTranspose2d(c, img_size[0], k, stride=2, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.lin3(torch.relu(self.lin2(torch.relu(self.lin1(z))))))
        h = h.view(-1, _HIDDEN_CHANNELS, _KERNEL, _KERNEL)
        if self.img_size[1] == 64:
            h = torch.relu(self.convT_64(h))
        h = torch.relu(self.convT2(torch.relu(self.convT1(h))))
        return torch.sigmoid(self.convT3(h))


class DisvaeModel(nn.Module):
    """A disentangling-vae Burgess VAE adapted to the explainer's model protocol."""

    def __init__(self, specs: DisvaeSpecs, name: str = "disvae"):
        super().__init__()
        self.specs = specs
        self.latent_dim = specs.latent_dim
        self.name = name
        self.encoder = BurgessEncoder(specs.img_size, specs.latent_dim)
        self.decoder = BurgessDecoder(specs.img_size, specs.latent_dim)

    @property
    def metadata(self) -> dict:
        factor_names = []
        if self.specs.dataset == "dsprites":
            from tools.data.dsprites import FACTOR_NAMES

            factor_names = list(FACTOR_NAMES)
        return {"family": "vae", "default_bias": "disentanglement", "dataset": self.specs.dataset,
                "factor_names": factor_names, "format": "disentangling-vae", "model_type": self.specs.model_type}

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x): images (B, C, S, S) in [0, 1] -> mean, logvar (B, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> images (B, C, S, S) in [0, 1], on z's device."""
        device = next(self.parameters()).device
        return self.decoder(z.to(device, torch.float32)).to(z.device)

    @torch.no_grad()
    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n anchors (n, latent_dim) on the CPU: posterior means of procedural dSprites images
        for a dSprites model, else N(0, I) draws."""
        if self.specs.dataset == "dsprites" and self.specs.img_size == (1, 64, 64):
            from tools.data.dsprites import sample_batch

            images = sample_batch(n, generator).images.to(next(self.parameters()).device)
            return self.encode(images)[0].cpu()
        return torch.randn(n, self.latent_dim, generator=generator)


def load_disvae(folder: str | Path, device: str | torch.device = "cpu") -> DisvaeModel:
    """Build the model of a disentangling-vae folder and load model.pt into it (strictly: every
    encoder.* / decoder.* key must match in name and shape), in eval mode, on device.

    Raises UserError for bad specs, an unreadable model.pt, or keys that do not fit."""
    specs = read_disvae_specs(folder)
    root = Path(folder).expanduser()
    try:
        state = torch.load(root / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a bad file; all are the user's to fix
        raise UserError(f"cannot read {root / WEIGHTS_FILE} as a torch state dict: {error}") from None
    if not isinstance(state, dict):
        raise UserError(f"{root / WEIGHTS_FILE} holds a {type(state).__name__}, not a state dict")
    model = DisvaeModel(specs, name=root.resolve().name)
    wanted = model.state_dict()
    kept = {key: value for key, value in state.items() if key.startswith(("encoder.", "decoder."))}
    missing = sorted(set(wanted) - set(kept))
    unexpected = sorted(set(kept) - set(wanted))
    wrong = sorted(key for key in set(kept) & set(wanted) if tuple(kept[key].shape) != tuple(wanted[key].shape))
    if missing or unexpected or wrong:
        problems = [f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
        raise UserError(f"{root / WEIGHTS_FILE} does not fit a Burgess VAE with img_size {list(specs.img_size)} "
                        f"and latent_dim {specs.latent_dim} ({'; '.join(problems)})")
    model.load_state_dict(kept)
    return model.to(device).eval()
