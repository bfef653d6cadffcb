"""The ground truth of a model reference: is it a model whose latents the labels can judge, and
how is its truth measured (per model family).

Steps:
1. `labelled_model`: the reference must name a built-in model or a checkpoint folder (a model
   known only by a Python factory or a disvae folder has no training record to read); its
   training record gives the family and the dataset, and the dataset must be a labelled one
   (tools/data/labelled.py). Every refusal is one UserError line, before any work.
2. `measure_ground_truth` dispatches on the family (MEASURES):
   - vae, csvae: label-derived, from the model's encoder (tools/evaluation/labelled_encoders.py): render
     and encode a seeded labelled sample, then tools/evaluation/ground_truth.py on the codes. The codes
     come back too, for DCI and SAP.
   - ddpm: known only by its decoder, so read by the shipped factor probe of its dataset and
     image size from traversal images (tools/evaluation/probe_ground_truth.py): `anchors` anchor codes per
     direction, over the same range explain traverses (the model's metadata unless the user
     gives one). No codes, so no DCI / SAP; its "MIG" is the probe's gap statistic.
   - any other family (sd): a UserError naming the families that have a measure. Add a
     function to MEASURES, returning a MeasuredTruth (codes may be None: no DCI / SAP then).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tools.data.labelled import LABELLED_DATASETS, LabelledDataset
from tools.errors import UserError
from tools.evaluation.ground_truth import GroundTruth


@dataclass(frozen=True)
class LabelledModel:
    """ref: the model reference as given. folder: its checkpoint folder. family: vae, csvae,
    ddpm... dataset: the name of the dataset it was trained on (a LABELLED_DATASETS member)."""

    ref: str
    folder: Path
    family: str
    dataset: str


@dataclass(frozen=True)
class MeasuredTruth:
    """truth: per latent what the labels say (tools.evaluation.ground_truth.GroundTruth). dataset: the
    labelled dataset. method: how it was measured, in words. codes (N, D) and factors (N, F):
    the encoded labelled sample behind it, None when the method has no encoder. n_images, seed:
    the labelled sample's size and seed."""

    truth: GroundTruth
    dataset: LabelledDataset
    method: str
    n_images: int
    seed: int
    codes: np.ndarray | None = None
    factors: np.ndarray | None = None


def labelled_model(model_ref: str) -> LabelledModel:
    """Step 1: what the reference names, checked; loads nothing."""
    from tools.models.builtin import BUILTIN_MODELS
    from tools.models.references import parse_model_ref
    from tools.models.vae.checkpoint import CheckpointError, read_checkpoint_record

    ref = parse_model_ref(model_ref)
    if ref.kind not in ("builtin", "checkpoint"):
        raise UserError(
            f"eval needs a model with its encoder and labelled data (a built-in model or a checkpoint folder from "
            f"`latent-explainer train`); {model_ref!r} is a {ref.kind} reference, and models known only by their "
            "decoder are not supported yet"
        )
    if ref.kind == "builtin":
        builtin = BUILTIN_MODELS[ref.target]
        folder, dataset, family = builtin.folder, builtin.dataset, builtin.family
    else:
        folder = Path(ref.target)
        try:
            record = read_checkpoint_record(folder)
        except CheckpointError as error:
            raise UserError(str(error)) from None
        dataset, family = record.get("model", {}).get("dataset"), record.get("family", "vae")
    if family not in MEASURES:
        raise UserError(
            f"eval has no ground truth for {family} models yet ({model_ref!r}); it measures the families "
            f"{', '.join(MEASURES)}"
        )
    if dataset not in LABELLED_DATASETS:
        raise UserError(
            f"model {model_ref!r} was trained on dataset {dataset!r}; eval measures ground truth only for "
            f"{', '.join(LABELLED_DATASETS)}"
        )
    return LabelledModel(ref=model_ref, folder=folder, family=family, dataset=dataset)


def truth_from_encoder(model: LabelledModel, n_images: int, seed: int, device: str | None,
                       **_probe_options) -> MeasuredTruth:
    """Label-derived ground truth of a model with an encoder (vae, csvae): step 2. The probe
    options (anchors, traversal_range) do not apply."""
    from tools.evaluation.ground_truth import encode_labelled_sample, ground_truth_from_codes
    from tools.evaluation.labelled_encoders import load_labelled_encoder
    from tools.models.device import resolve_device

    torch_device = resolve_device(device)
    encoder = load_labelled_encoder(model.folder, model.family, torch_device)
    means, logvars, factors = encode_labelled_sample(
        encoder.encode, encoder.latent_dim, n_images, seed, torch_device, dataset=encoder.dataset, with_factors=True)
    truth = ground_truth_from_codes(means, logvars, factors, dataset=encoder.dataset,
                                    aggregate_reference=encoder.aggregate_reference)
    return MeasuredTruth(truth=truth, dataset=encoder.dataset, method=f"labels, through the {model.family}'s encoder",
                         n_images=n_images, seed=seed, codes=means, factors=factors)


def truth_from_probe(model: LabelledModel, n_images: int, seed: int, device: str | None,
                     anchors: int, traversal_range: float | None) -> MeasuredTruth:
    """Probe-read ground truth of a DDPM's h-space directions (step 2). n_images is the probe's
    concern only (it was trained on labelled renders); the sample here is `anchors` anchor codes
    drawn with `seed`, each traversed over [-r, r], r = traversal_range or the model's own."""
    from tools.data.labelled import labelled_dataset
    from tools.evaluation.probe_ground_truth import probe_ground_truth
    from tools.models.ddpm.hspace_model import load_ddpm_model
    from tools.models.device import resolve_device

    if anchors < 2:
        raise UserError(f"--anchors must be at least 2 (the probe's truth compares anchors), got {anchors}")
    decoder = load_ddpm_model(model.folder, resolve_device(device))
    truth = replace(probe_ground_truth(decoder, n_anchors=anchors, traversal_range=traversal_range, seed=seed),
                    dataset=model.dataset)
    return MeasuredTruth(truth=truth, dataset=labelled_dataset(model.dataset),
                         method=f"factor probe on traversal images ({anchors} anchors per direction)",
                         n_images=anchors, seed=seed)


Measure = Callable[..., MeasuredTruth]
MEASURES: dict[str, Measure] = {"vae": truth_from_encoder, "csvae": truth_from_encoder, "ddpm": truth_from_probe}


def measure_ground_truth(model: LabelledModel, n_images: int, seed: int, device: str | None,
                         anchors: int, traversal_range: float | None) -> MeasuredTruth:
    """Step 2: the family's measure on a labelled sample of n_images drawn with `seed` (a probe:
    `anchors` traversed anchor codes over [-traversal_range, traversal_range], None: the model's
    range); the models run on `device` (None or "auto": CUDA when present)."""
    return MEASURES[model.family](model, n_images, seed, device, anchors=anchors, traversal_range=traversal_range)
