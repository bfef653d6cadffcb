"""Ground truth for a model known only by its decoder (a DDPM's h-space directions, a FILE.py:FN
decoder), read from the images it draws by a factor probe (tools/evaluation/factor_probe/model.py).

A VAE's ground truth (tools/evaluation/ground_truth.py) encodes labelled images and measures the mutual
information between each latent and each factor. A decoder has no encoder, so the direction is
reversed: traverse each coordinate, draw the images, let the probe read the factors, and
measure how far each factor moves.

Steps (`probe_ground_truth`):
1. Anchors: `n_anchors` codes (A, D) from the model's sample_latents (tools/models/loading.py
   `sample_anchor_latents`, seeded).
2. Traversals: for each traversable coordinate i (metadata "traversable"; every coordinate when
   the model does not say) and each anchor, z_i is set to each of `n_values` values t evenly
   spaced over [-r, r]; r is the argument `traversal_range`, else metadata "traversal_range",
   else 3 (the paper's VAE range). A DDPM's last coordinate is its noise seed: not traversable,
   reported inactive with a zero row.
3. Decoding: the codes of all coordinates together, each distinct code once (a DDPM's t = 0 codes
   are shared by all directions), `batch_size` codes per decode call.
4. Probe readings phi_k(a, t) of every image and factor k (tools/evaluation/factor_probe/model.py: class
   probabilities, a [0, 1] value, or a folded (cos, sin) pair).
5. Swept spread, the measure:
       s_ik = sqrt( min(1, mean_a tr Var_t phi_k(a, t) / R_k) )          in [0, 1]
   Var_t is the variance over the traversal values within one anchor, tr sums it over phi's
   dimensions, and R_k is the total variance of phi_k over clean labelled renders (the data's
   spread, stored with the probe). s_ik is the fraction of the factor's natural spread (its
   standard deviation) that moving z_i alone sweeps: about 1 for a coordinate that carries the
   object across the whole range, 0.5 across half of it, 0 for a coordinate the decoder
   ignores (the images, and so the readings, do not change). Why not a mutual information, as
   for the VAE: with a few anchors x a few values (tens to hundreds of images per coordinate,
   each a slow DDPM decode) a count-based MI between the traversal value and a binned reading
   is dominated by its bias, and it would credit a coordinate that shifts the object by one
   pixel as fully as one that sweeps the image; the spread is stable on small samples and
   scales with how much the factor moves. The standard deviation rather than the variance keeps
   the scale linear in the distance swept (a quarter of the range gives 0.25, not 0.06).
6. Floor: the probe is not noise-free; on a traversal that changes nothing a factor depends on,
   its readings still jitter by about jitter_k (the probe's own noise on two corrupted copies of
   one render, in units of the data's spread, stored with the probe). A factor counts for
   coordinate i only when s_ik >= floor_k = max(MIN_SPREAD, JITTER_MULTIPLE * jitter_k)
   (0.1, and twice the jitter); a factor the probe reads badly (orientation at 32x32) gets a
   high floor and is assigned only when it clearly sweeps.
7. Consistency: the factor must also move past its floor on at least MIN_CONSISTENCY (half) of
   the anchors taken one at a time (`consistency`). The explainer is judged on what a
   coordinate does across anchors (its certainty is agreement across them), and the mean of
   step 5 is dominated by rare anchors: on builtin:dsprites-ddpm (24 anchors, |c| <= 1,
   2026-11-22) coordinate 0's (direction c_1's) traversal swept 0.5 to 0.9 of posX's spread on 4 anchors (objects
   appearing, vanishing, jumping) and under 0.2 on the other 20, so the mean spread over the
   first 12 anchors was 0.39 and over the last 12 0.05. Without this gate the truth flipped
   with the anchors' seed; with it, a coordinate that rearranges a few scenes controls nothing.
8. Active: some factor clears its floor and the consistency gate (the probed change;
   `image_change`, the pixels' own change along the traversal, is reported beside it for
   diagnosis but does not decide).
9. Factors controlled: tools/evaluation/ground_truth.py `controlled_factors` over the spreads that clear
   both (the others set to 0): at least 0.1 and at least half of the strongest, strongest
   first.
10. GroundTruth fields: normalized_mi and mi_matrix hold the swept spreads s_ik (the raw values,
    floors not applied), not mutual informations; mig is the same gap statistic (mean over
    factors of the largest minus the second largest s_ik over coordinates), a traversal
    analogue of the MIG, not Chen et al.'s estimate; kl is NaN (no posterior, so no KL);
    orientation_folded is True when the probe reads an angle folded by the shape's symmetry
    (dSprites' orientation). tools/evaluation/scoring.py reads only factors, active and
    normalized_mi, so it scores this truth as it scores a VAE's.

Measured on builtin:dsprites-ddpm with the shipped dsprites_32 probe, 24 anchors x 7 values x 5
directions (744 distinct decodes), one CPU thread shared with other jobs (2026-11-22): |c| <= 1
(its metadata's range) 6.0 min, no direction active (each moves posX / posY past the floor on
30-40% of the anchors only); |c| <= 3 (explain's default range) 8.9 min, every direction
"posX, posY" (on 60-75% of the anchors), gap statistic 0.035: the directions of this briefly
trained DDPM are not factor-aligned. Reading 744 images with the probe takes under 0.5 s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from tools.errors import UserError
from tools.evaluation.factor_probe.model import FactorProbe, load_builtin_probe
from tools.evaluation.ground_truth import GroundTruth, LatentTruth, controlled_factors, mutual_information_gap
from tools.models.loading import sample_anchor_latents

MIN_SPREAD = 0.1
JITTER_MULTIPLE = 2.0
MIN_CONSISTENCY = 0.5
DEFAULT_TRAVERSAL_RANGE = 3.0


@dataclass
class TraversalSpread:
    """The measurement behind a probe ground truth (module docstring, steps 1-6).

    spread: (D, F) swept spreads s_ik in [0, 1] (zero rows for coordinates not traversed).
    floors: (F,) floor_k per factor. image_change: (D,) sqrt(mean over anchors and pixels of the
    pixel variance along the traversal), intensity units in [0, 1] (0 when not traversed).
    traversed: the coordinates traversed. values: the traversal values (V,). n_anchors: A.
    factor_names: the probe's factors, the columns of spread. n_codes / n_decoded: traversal
    codes and distinct codes decoded. decode_seconds / probe_seconds: wall-clock time spent.
    probe_held_out: the probe's held-out accuracies on clean renders, per factor (its training
    record; {} when it has none). dataset: the probe's dataset. folded: whether the probe reads
    an angle folded by a symmetry (dSprites' orientation). anchor_spread: (D, A, F) the same
    spread from each anchor's traversal alone, sqrt(min(1, tr Var_t phi_k(a, t) / R_k)), to see
    whether a coordinate moves a factor on every anchor or on a few (`consistency`)."""

    spread: np.ndarray
    floors: np.ndarray
    image_change: np.ndarray
    traversed: list[int]
    values: list[float]
    n_anchors: int
    factor_names: list[str]
    n_codes: int
    n_decoded: int
    decode_seconds: float
    probe_seconds: float
    probe_held_out: dict = field(default_factory=dict)
    anchor_spread: np.ndarray | None = None
    dataset: str = "dsprites"
    folded: bool = True


def traversal_codes(anchors: torch.Tensor, index: int, values: torch.Tensor) -> torch.Tensor:
    """Codes (A * V, D), anchor-major, of anchors (A, D) with column `index` set to each of
    values (V,)."""
    codes = anchors.repeat_interleave(len(values), dim=0).clone()
    codes[:, index] = values.repeat(len(anchors))
    return codes


def traversal_values(traversal_range: float, n_values: int) -> torch.Tensor:
    """n_values values (V,) evenly spaced over [-r, r], r = traversal_range, symmetric about 0 and
    with an exact 0 in the middle when n_values is odd (torch.linspace gives -6e-8 there, which
    would make every anchor's own code a distinct one per coordinate)."""
    fractions = 2 * torch.arange(n_values, dtype=torch.float64) / (n_values - 1) - 1
    return (traversal_range * fractions).float()


def decode_distinct(decode: Callable[[torch.Tensor], torch.Tensor], codes: torch.Tensor, batch_size: int,
                    progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, int]:
    """(images (N, C, H, W) on the CPU, number of distinct codes decoded) for codes (N, D):
    each distinct row decoded once, batch_size rows per decode call; progress(done, total) is
    called after each call."""
    unique, inverse = torch.unique(codes, dim=0, return_inverse=True)
    parts = []
    for start in range(0, len(unique), batch_size):
        with torch.inference_mode():
            parts.append(torch.as_tensor(decode(unique[start:start + batch_size])).detach().float().cpu())
        if progress:
            progress(min(start + batch_size, len(unique)), len(unique))
    return torch.cat(parts)[inverse], len(unique)


def anchor_variances(features: torch.Tensor) -> torch.Tensor:
    """tr Var_t per anchor (A,) for features (A, V, d): the population variance over the V
    traversal values, summed over the d dimensions."""
    return features.var(dim=1, unbiased=False).sum(dim=-1)


def within_anchor_variance(features: torch.Tensor) -> float:
    """mean over anchors of tr Var_t for features (A, V, d) (`anchor_variances`)."""
    return float(anchor_variances(features).mean())


def consistency(measured: TraversalSpread) -> np.ndarray:
    """(D, F): the fraction of anchors whose own traversal of coordinate i moves factor k past
    its floor (anchor_spread >= floor_k); zeros for coordinates not traversed (module
    docstring, step 7)."""
    if measured.anchor_spread is None:
        raise ValueError("this measurement has no per-anchor spreads")
    return (measured.anchor_spread >= measured.floors[None, None, :]).mean(axis=1)


def factor_floors(probe: FactorProbe) -> np.ndarray:
    """floor_k = max(MIN_SPREAD, JITTER_MULTIPLE * jitter_k) per probe factor (F,) (step 6);
    MIN_SPREAD for a factor without a recorded jitter."""
    jitter = probe.config.jitter
    return np.array([max(MIN_SPREAD, JITTER_MULTIPLE * jitter.get(name, 0.0)) for name in probe.config.factor_names])


def _traversable(model, indices: list[int] | None) -> list[int]:
    metadata = getattr(model, "metadata", None) or {}
    allowed = list(metadata.get("traversable", range(model.latent_dim)))
    if indices is None:
        return allowed
    bad = [i for i in indices if i not in allowed]
    if bad:
        raise UserError(f"coordinates {bad} cannot be traversed; this model's traversable coordinates are {allowed}")
    return list(indices)


def checked_probe(model, probe: FactorProbe | None, code: torch.Tensor) -> FactorProbe:
    """The probe to use (the given one, or `probe_for_model`), checked against the (C, H, W) of
    the image the model draws for code (1, D), so that a mismatch stops the run before the
    long decode; UserError naming both shapes otherwise."""
    with torch.inference_mode():
        shape = tuple(torch.as_tensor(model.decode(code)).shape[1:])
    probe = probe if probe is not None else probe_for_model(model, shape)
    expected = (probe.config.channels, probe.config.image_size, probe.config.image_size)
    if shape != expected:
        raise UserError(f"the model draws images {shape} but the probe reads {expected}; train a probe at the "
                        f"model's size (python -m tools.evaluation.factor_probe train --image-size {shape[-1]} ...)")
    return probe


def measure_traversal_spread(
    model,
    probe: FactorProbe | None = None,
    n_anchors: int = 24,
    n_values: int = 7,
    traversal_range: float | None = None,
    seed: int = 0,
    batch_size: int = 64,
    indices: list[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TraversalSpread:
    """Steps 1-6 of the module docstring for a protocol model (latent_dim, decode (B, D) ->
    (B, C, H, W) in [0, 1], optional sample_latents and metadata) and a probe trained at the
    model's image size and channels (None: the shipped probe for the model's dataset and the
    size of the images it drew, `probe_for_model`). indices: the coordinates to traverse
    (default: all traversable). Decoding costs one row (`checked_probe`) plus, when the anchors'
    own values are 0 (a DDPM's), n_anchors * ((n_values - 1) * len(indices) + 1) rows (else
    n_anchors * n_values * len(indices)); progress(done, total) after each decode call."""
    if n_anchors < 2 or n_values < 2:
        raise UserError(f"need at least 2 anchors and 2 traversal values, got {n_anchors} and {n_values}")
    if batch_size < 1:
        raise UserError(f"batch_size={batch_size} must be at least 1")
    metadata = getattr(model, "metadata", None) or {}
    r = float(traversal_range if traversal_range is not None else metadata.get("traversal_range", DEFAULT_TRAVERSAL_RANGE))
    if not (math.isfinite(r) and r > 0):
        raise UserError(f"traversal_range must be a positive number, got {r}")
    traversed = _traversable(model, indices)
    anchors = sample_anchor_latents(model, n_anchors, seed)
    values = traversal_values(r, n_values)
    codes = torch.cat([traversal_codes(anchors, i, values) for i in traversed])
    start = time.monotonic()
    probe = checked_probe(model, probe, anchors[:1])
    images, n_decoded = decode_distinct(model.decode, codes, batch_size, progress)
    decode_seconds = time.monotonic() - start
    start = time.monotonic()
    readings = probe.read(images)
    probe_seconds = time.monotonic() - start
    names = probe.config.factor_names
    spread = np.zeros((model.latent_dim, len(names)))
    anchor_spread = np.zeros((model.latent_dim, n_anchors, len(names)))
    image_change = np.zeros(model.latent_dim)
    per_coordinate = n_anchors * n_values
    for row, i in enumerate(traversed):
        block = slice(row * per_coordinate, (row + 1) * per_coordinate)
        pixels = images[block].reshape(n_anchors, n_values, -1)
        image_change[i] = math.sqrt(float(pixels.var(dim=1, unbiased=False).mean()))
        for k, name in enumerate(names):
            features = readings[name].features[block].reshape(n_anchors, n_values, -1)
            reference = probe.config.reference_variance.get(name, 0.0)
            ratios = anchor_variances(features).numpy() / reference if reference > 0 else np.zeros(n_anchors)
            spread[i, k] = math.sqrt(min(1.0, float(ratios.mean())))
            anchor_spread[i, :, k] = np.sqrt(np.minimum(1.0, ratios))
    return TraversalSpread(spread=spread, floors=factor_floors(probe), image_change=image_change, traversed=traversed,
                           anchor_spread=anchor_spread,
                           values=values.tolist(), n_anchors=n_anchors, factor_names=names, n_codes=len(codes),
                           n_decoded=n_decoded, decode_seconds=decode_seconds, probe_seconds=probe_seconds,
                           probe_held_out=(getattr(probe, "training_record", {}).get("held_out") or {}).get("clean", {}),
                           dataset=probe.config.dataset,
                           folded=any(spec.kind == "folded_angle" for spec in probe.config.factors))


def ground_truth_from_spread(measured: TraversalSpread) -> GroundTruth:
    """The GroundTruth of a traversal measurement (module docstring, steps 6-10); without
    per-anchor spreads (anchor_spread None) the consistency gate is skipped."""
    names = measured.factor_names
    passes = measured.spread >= measured.floors[None, :]
    if measured.anchor_spread is not None:
        passes &= consistency(measured) >= MIN_CONSISTENCY
    latents = []
    for i, row in enumerate(measured.spread):
        cleared = {name: float(value) if passes[i, k] else 0.0 for k, (name, value) in
                   enumerate(zip(names, row, strict=True))}
        active = i in measured.traversed and any(value > 0 for value in cleared.values())
        latents.append(LatentTruth(index=i, factors=controlled_factors(cleared, active), active=active, kl=math.nan,
                                   normalized_mi={name: float(value) for name, value in zip(names, row, strict=True)}))
    return GroundTruth(latents=latents, mig=mutual_information_gap(measured.spread), mi_matrix=measured.spread.tolist(),
                       factor_names=list(names), orientation_folded=measured.folded)


def model_dataset(model) -> str | None:
    """The labelled dataset a model was trained on, from metadata "dataset" or a `dataset`
    attribute; None when it does not say."""
    metadata = getattr(model, "metadata", None) or {}
    return metadata.get("dataset") or getattr(model, "dataset", None)


def probe_for_model(model, image_shape: tuple[int, ...]) -> FactorProbe:
    """The shipped probe for the model's dataset (`model_dataset`) and the (C, H, W) of the
    images it draws; UserError when the model names no dataset or no shipped probe fits."""
    dataset = model_dataset(model)
    if dataset is None:
        raise UserError("the model does not say which labelled dataset it draws (metadata 'dataset'); "
                        "pass a factor probe explicitly")
    return load_builtin_probe(dataset, int(image_shape[-1]), int(image_shape[0]))


def probe_ground_truth(
    model,
    probe: FactorProbe | None = None,
    n_anchors: int = 24,
    n_values: int = 7,
    traversal_range: float | None = None,
    seed: int = 0,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> GroundTruth:
    """Which labelled factor each coordinate of a decoder-only model controls, read by a factor
    probe from traversal images (module docstring). probe: None for the shipped probe of the
    model's dataset and image size (`probe_for_model`). Other arguments: see
    `measure_traversal_spread`."""
    measured = measure_traversal_spread(model, probe, n_anchors, n_values, traversal_range, seed, batch_size,
                                        progress=progress)
    return ground_truth_from_spread(measured)
