"""Models that ship inside the package, each a checkpoint folder beside this file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class BuiltinModel:
    """name: what `builtin:NAME` refers to. folder: the checkpoint folder. dataset: the procedural
    dataset it was trained on (anchors are encoded from it). family: vae | csvae | ddpm | sd.
    loader: how tools/model_loading.load_model reads the folder (vae | csvae | ...)."""

    name: str
    folder: Path
    dataset: str
    family: str
    description: str
    loader: str = "vae"


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "dsprites-btcvae": BuiltinModel(
        name="dsprites-btcvae",
        folder=HERE / "dsprites_btcvae",
        dataset="dsprites",
        family="vae",
        description="beta-TCVAE (10 latents, TC weight 4) trained in five stages, 128 CPU minutes, on procedural dSprites; "
                    "see its config.json",
    ),
    "shapes3d-csvae": BuiltinModel(
        name="shapes3d-csvae",
        folder=HERE / "shapes3d_csvae",
        dataset="shapes3d",
        family="csvae",
        description="CSVAE (z 10 + w 2 per attribute, 6 attributes) trained on procedural 3DShapes; see its config.json",
        loader="csvae",
    ),
    "dsprites-ddpm": BuiltinModel(
        name="dsprites-ddpm",
        folder=HERE / "dsprites_ddpm",
        dataset="dsprites",
        family="ddpm",
        description="DDPM (UNet 16-32-64, 32x32) on procedural dSprites, 5 h-space directions; "
                    "12,052 steps of `train-ddpm` in two stages (about 2 CPU hours); see its config.json",
        loader="ddpm",
    ),
}

DEFAULT_MODEL = "builtin:dsprites-btcvae"
