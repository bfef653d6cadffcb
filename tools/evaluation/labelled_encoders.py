"""The encoder of a checkpoint, as the ground-truth estimator (tools/evaluation/ground_truth.py) calls it:
labelled images in, one posterior Gaussian per latent coordinate out, in the coordinates the
explain run traverses.

- vae: the code is z (latent_dim coordinates), posterior q(z given x), activity against N(0, 1),
  its prior.
- csvae: the code is [z, w_1, ..., w_k] (z_dim + k * w_dim coordinates; tools/models/csvae/model.py's layout,
  the one the explain run's indices and metadata["groups"] use), posteriors q(z given x) and
  q(w given x, y); activity of z against N(0, 1), of w against w's aggregate posterior.

A CSVAE's w posterior q(w | x, y) reads the attributes y as well as the image. The labels of the
rendered images give y (the dataset's attribute function in tools/models/csvae/training.py, the one the
model was trained with), because
1. that is the posterior the model was trained with, and the one that fitted the anchors and
   W_move the explain run starts from and moves along (CSVAE.fit_directions_and_anchors), so the
   measured codes are the codes the traversals explore;
2. the alternatives are worse: a CSVAE has no classifier for y (its adversary q(y | z) is
   trained to know nothing), and averaging q(w | x, y) over every y gives codes the decoder
   never saw.
The consequence, to keep in mind when reading the truth: w_i always carries what y_i says about
the factors (y_i is a function of them; "green_floor" partitions floor_hue), because the prior
p(w_i | y_i) pulls it there whether or not the decoder uses w_i. What each w carries beyond y
comes from the image.

Activity of w is measured against the Gaussian moment-matched to w's aggregate posterior
(tools/evaluation/ground_truth.py, step 3), not against N(0, 1) and not against p(w | y): N(0, 1) is not
w's prior (a w whose posterior is N(0, 0.1^2) for every image carries nothing, yet its KL to
N(0, 1) is 1.8 nats), and KL to p(w | y)
would count only the information beyond y, missing what w is there to carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from tools.data.labelled import LabelledDataset, labelled_dataset
from tools.errors import UserError

Encode = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class LabelledEncoder:
    """family: the checkpoint's model family. dataset: the labelled dataset it was trained on.
    latent_dim: D. encode(images (B, C, 64, 64) in [0, 1], factors (B, F) int64, both on the
    model's device) -> (mean, logvar), each (B, D). aggregate_reference (D,): coordinates whose
    activity is measured against their aggregate posterior (module docstring). layout: name ->
    coordinate indices, for reports ({"z": [0..9], "w:green_floor": [14, 15]})."""

    family: str
    dataset: LabelledDataset
    latent_dim: int
    encode: Encode
    aggregate_reference: tuple[bool, ...]
    layout: dict[str, list[int]]


def vae_encoder(folder: str | Path, device: torch.device) -> LabelledEncoder:
    """The encoder of a `latent-explainer train` VAE checkpoint; q(z | x) ignores the labels."""
    from tools.models.vae.checkpoint import load_checkpoint

    vae = load_checkpoint(folder, device)
    dataset = labelled_dataset(vae.config.dataset)
    return LabelledEncoder(
        family="vae",
        dataset=dataset,
        latent_dim=vae.latent_dim,
        encode=lambda images, factors: vae.encode(images),
        aggregate_reference=(False,) * vae.latent_dim,
        layout={"z": list(range(vae.latent_dim))},
    )


def csvae_attribute_function(dataset: str, attributes: list[str]) -> Callable[[torch.Tensor], torch.Tensor]:
    """factor indices (B, F) -> attributes y (B, k) in {0, 1}, as the CSVAE was trained on
    `dataset`; UserError when the model's attribute names are not that dataset's."""
    from tools.models.csvae.training import (
        DSPRITES_ATTRIBUTES,
        SHAPES3D_ATTRIBUTES,
        dsprites_attributes,
        shapes3d_attributes,
    )

    known = {"dsprites": (DSPRITES_ATTRIBUTES, dsprites_attributes), "shapes3d": (SHAPES3D_ATTRIBUTES, shapes3d_attributes)}
    if dataset not in known:
        raise UserError(f"no attribute labels for a CSVAE trained on {dataset!r}; known: {', '.join(known)}")
    names, function = known[dataset]
    if list(attributes) != list(names):
        raise UserError(f"the CSVAE's attributes {list(attributes)} are not the {dataset} attributes {list(names)} "
                        "its labels give; ground truth cannot feed it y")
    return function


def csvae_encoder(folder: str | Path, device: torch.device) -> LabelledEncoder:
    """The encoders of a CSVAE checkpoint: [mean z | mean w] and [logvar z | logvar w], w given
    the rendered images' true attributes y (module docstring)."""
    from tools.models.csvae.model import load_csvae

    model = load_csvae(folder, device)
    config = model.config
    dataset = labelled_dataset(config.dataset)
    attributes = csvae_attribute_function(dataset.name, model.attributes)

    def encode(images: torch.Tensor, factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z_mean, z_logvar = model.encode_z(images)
        w_mean, w_logvar = model.encode_w(images, attributes(factors).to(images))
        return torch.cat([z_mean, w_mean], dim=1), torch.cat([z_logvar, w_logvar], dim=1)

    layout = {"z": list(range(config.z_dim))} | {f"w:{name}": indices for name, indices in model.groups.items()}
    return LabelledEncoder(
        family="csvae",
        dataset=dataset,
        latent_dim=model.latent_dim,
        encode=encode,
        aggregate_reference=(False,) * config.z_dim + (True,) * (model.latent_dim - config.z_dim),
        layout=layout,
    )


ENCODERS: dict[str, Callable[[str | Path, torch.device], LabelledEncoder]] = {"vae": vae_encoder, "csvae": csvae_encoder}


def load_labelled_encoder(folder: str | Path, family: str, device: torch.device) -> LabelledEncoder:
    """The LabelledEncoder of a checkpoint folder of `family`; UserError for a family without
    an encoder here or a checkpoint that cannot be read."""
    from tools.models.vae.checkpoint import CheckpointError

    if family not in ENCODERS:
        raise UserError(f"no encoder for {family} models; label-derived ground truth needs one of: {', '.join(ENCODERS)}")
    try:
        return ENCODERS[family](folder, device)
    except CheckpointError as error:
        raise UserError(str(error)) from None
