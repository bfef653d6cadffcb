"""Models that ship inside the package, each a checkpoint folder beside this file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class BuiltinModel:
    """name: what `builtin:NAME` refers to. folder: the checkpoint folder. dataset: the procedural
    dataset it was trained on (anchors are encoded from it). family: vae | csvae | ddpm | sd."""

    name: str
    folder: Path
    dataset: str
    family: str
    description: str


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "dsprites-btcvae": BuiltinModel(
        name="dsprites-btcvae",
        folder=HERE / "dsprites_btcvae",
        dataset="dsprites",
        family="vae",
        description="beta-TCVAE (beta=6, 10 latents) trained on procedural dSprites; see its config.json",
    ),
}

DEFAULT_MODEL = "builtin:dsprites-btcvae"
