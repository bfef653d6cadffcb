"""Ground truth for the latents of a model trained on a labelled dataset, from the labels.

An explanation is judged against what the labels say a latent carries, never against the
describer's own measurements. The measure is the one behind the Mutual Information Gap. The
dataset is data (tools/data/labelled.py: factor names, cardinalities, renderer, folds),
so one estimator serves dSprites and 3DShapes, and any code layout an encoder produces: a
VAE's z, or a CSVAE's [z | w_1 | ... | w_k] (tools/evaluation/labelled_encoders.py).

Steps (`ground_truth_from_codes`, after `encode_labelled_sample`):
1. Draw a labelled sample: `n_images` uniform factor tuples from a seeded generator
   (`labelled_factors`), rendered by the dataset's renderer.
2. Encode it: posterior means mu (N, D) and log-variances (N, D).
3. Activity: mean KL(q(z_i|x) || r_i) over the sample, in nats, against a reference r_i:
   N(0, 1) by default (a VAE's prior; 0.5 (mu^2 + exp(logvar) - logvar - 1)). Averaged over x,
   this KL equals I(x; z_i) + KL(q(z_i) || r_i) ("ELBO surgery", Hoffman & Johnson 2016), for
   any fixed r_i, and v_k -> x -> z_i is a Markov chain, so I(v_k; z_i) <= mean KL_i.
   Coordinates marked `aggregate_reference` use instead the Gaussian moment-matched to their
   aggregate posterior q(z_i) (mean of mu, mean of exp(logvar) plus variance of mu): the
   tightest Gaussian r_i, for coordinates whose prior is not N(0, 1) (a CSVAE's w, whose prior
   p(w | y) depends on the labels). A latent is active when mean KL_i >= KL_FLOOR_NATS (0.1
   nats, under 10% of the smallest factor entropy of dSprites, ln 3 = 1.10 nats for shape, and
   of 3DShapes, ln 4 = 1.39 for shape). The posterior mean alone can vary with x while the
   sampled z_i carries nothing (the noise swamps it), which is why the MI below, measured on
   the means, is gated by the KL.
4. Discretise each mu_i into `n_bins` (20, as in Locatello et al. 2019) equal-frequency bins:
   quantile edges, ties kept together, so outliers in mu cannot empty the other bins (they do
   with equal-width bins).
5. Mutual information from counts, in nats: I(a; b) = H(a) + H(b) - H(a, b), each entropy the
   plug-in estimate with the Miller-Madow correction (K - 1) / (2N), K the number of non-empty
   cells (Miller 1955; Paninski 2003). Without it, 20 bins against the 40 orientations on 10k
   images show about 0.04 nats of MI between independent variables; with it, about 0.
6. Normalise by the factor's (Miller-Madow) entropy: m_ik = I(mu_i; v_k) / H(v_k), in [0, 1].
   With 20 bins a factor with more than 20 values cannot reach 1 (a perfect posX code gives
   ln 20 / ln 32 = 0.86), the usual limit of this estimator.
7. Folds (the dataset's FactorFold list): a factor seen only modulo a symmetry of the renderer
   is measured within each value of the factor its period depends on. dSprites' orientation:
   a square at angle a and at a + 90 degrees, an ellipse at a and a + 180 degrees, render to
   the same image (ORIENTATION_PERIOD), so no encoder can tell them apart. Its column is the
   conditional MI I(mu_i; o mod P(shape) | shape) / H(o mod P(shape) | shape), averaged over
   shapes with their frequencies: orientation measured within each shape. Folding without
   conditioning would credit a pure shape latent with orientation information, since the
   folded range itself depends on the shape. `fold_orientation=False` skips the folds and gives
   the raw I(mu_i; o) / H(o) of the literature's MIG. 3DShapes has no fold.
8. MIG (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs", eq. 6, with the
   estimator of steps 4-7): mean over factors of the gap between the largest and the second
   largest m_ik over latents. 1 is perfectly axis-aligned, 0 is fully mixed.
9. Which factors a latent controls: none when inactive; otherwise every factor k with
   m_ik >= MIN_NORMALIZED_MI (the latent resolves at least 10% of the factor's entropy) and
   m_ik >= RELATIVE_MI * max_k' m_ik' (at least half of its strongest link), largest first.
   Several factors are allowed: a latent that moves the object diagonally controls posX and
   posY, one that rotates and morphs controls orientation and shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tools.data.labelled import ORIENTATION_PERIOD as ORIENTATION_PERIOD  # dSprites' fold (step 7)
from tools.data.labelled import FactorFold, LabelledDataset, labelled_dataset, seeded_factors
from tools.errors import UserError

KL_FLOOR_NATS = 0.1
MIN_NORMALIZED_MI = 0.1
RELATIVE_MI = 0.5
DEFAULT_BINS = 20
STANDARD_REFERENCE = "N(0, 1)"
AGGREGATE_REFERENCE = "aggregate posterior (moment-matched Gaussian)"
_MIN_IMAGES = 100

Encoder = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass
class LatentTruth:
    """What the labels say about latent z_index.

    factors: the dataset's factors it controls, strongest first; empty when inactive.
    active: mean KL >= KL_FLOOR_NATS. kl: mean KL(q(z_i|x) || r_i) in nats, r_i named by
    kl_reference (module docstring, step 3). normalized_mi: I(z_i; v_k) / H(v_k) per factor
    name, in [0, 1]."""

    index: int
    factors: list[str]
    active: bool
    kl: float
    normalized_mi: dict[str, float]
    kl_reference: str = STANDARD_REFERENCE


@dataclass
class GroundTruth:
    """Per-latent truth, the MIG, the (D, F) normalised-MI matrix and its column names.

    orientation_folded: whether the orientation column is measured modulo each shape's
    symmetry (module docstring, step 7; False where the dataset has no such fold). dataset:
    the labelled dataset's name."""

    latents: list[LatentTruth]
    mig: float
    mi_matrix: list[list[float]]
    factor_names: list[str]
    orientation_folded: bool = True
    dataset: str = "dsprites"


def _resolve(dataset: str | LabelledDataset) -> LabelledDataset:
    return labelled_dataset(dataset) if isinstance(dataset, str) else dataset


def entropy(labels: np.ndarray, bias_correction: bool = True) -> float:
    """Entropy in nats of discrete labels (N,) (any integer values), from counts.

    Plug-in estimate, plus the Miller-Madow term (K - 1) / (2N) when bias_correction."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return 0.0
    counts = np.unique(labels, return_counts=True)[1]
    p = counts / labels.size
    h = float(-(p * np.log(p)).sum())
    if bias_correction:
        h += (counts.size - 1) / (2 * labels.size)
    return h


def mutual_information(a: np.ndarray, b: np.ndarray, bias_correction: bool = True) -> float:
    """I(a; b) in nats of two discrete label arrays (N,), from counts: H(a) + H(b) - H(a, b),
    Miller-Madow corrected when bias_correction, clipped at 0."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"mutual_information needs two (N,) arrays, got {a.shape} and {b.shape}")
    a_codes = np.unique(a, return_inverse=True)[1]
    b_codes = np.unique(b, return_inverse=True)[1]
    joint = a_codes.astype(np.int64) * (int(b_codes.max(initial=0)) + 1) + b_codes
    value = entropy(a_codes, bias_correction) + entropy(b_codes, bias_correction) - entropy(joint, bias_correction)
    return max(value, 0.0)


def conditional_mutual_information(
    a: np.ndarray, b: np.ndarray, given: np.ndarray, bias_correction: bool = True
) -> tuple[float, float]:
    """(I(a; b | given), H(b | given)) in nats for discrete label arrays (N,): the per-stratum
    values weighted by the strata's frequencies."""
    given = np.asarray(given)
    info = cond_entropy = 0.0
    for value in np.unique(given):
        mask = given == value
        weight = mask.mean()
        info += weight * mutual_information(a[mask], b[mask], bias_correction)
        cond_entropy += weight * entropy(b[mask], bias_correction)
    return info, cond_entropy


def equal_frequency_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin indices (N,), numbered 0..K-1 with K <= n_bins non-empty bins, for real values (N,)
    by quantile edges; tied values share a bin, so a constant input gives one bin and a
    discrete one at most its number of distinct values."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    return np.unique(np.searchsorted(edges, values, side="right"), return_inverse=True)[1]


def folded_factor(factors: np.ndarray, fold: FactorFold, factor_names: Sequence[str]) -> np.ndarray:
    """Factor fold.factor modulo its period for each row's fold.given value: (N,) from factor
    indices (N, F) with columns in factor_names order."""
    names = list(factor_names)
    periods = np.asarray(fold.periods)
    return factors[:, names.index(fold.factor)] % periods[factors[:, names.index(fold.given)]]


def folded_orientation(factors: np.ndarray) -> np.ndarray:
    """dSprites orientation index modulo the shape's symmetry period (N,), from factor indices
    (N, 5)."""
    dsprites = labelled_dataset("dsprites")
    return folded_factor(factors, dsprites.folds[0], dsprites.factor_names)


def mean_gaussian_kl(
    means: np.ndarray, logvars: np.ndarray, reference_mean: float | np.ndarray = 0.0,
    reference_logvar: float | np.ndarray = 0.0,
) -> np.ndarray:
    """Mean over the sample of KL(N(mu, exp(logvar)) || N(m, exp(s))) per latent: (N, D) ->
    (D,), nats; the reference (m, s) a scalar or (D,), N(0, 1) by default."""
    ratio = np.exp(logvars - reference_logvar)
    kl = 0.5 * (ratio + (means - reference_mean) ** 2 / np.exp(reference_logvar) - 1.0 - (logvars - reference_logvar))
    return kl.mean(axis=0)


def aggregate_gaussian(means: np.ndarray, logvars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), log-variance (D,)) of the Gaussian moment-matched to the aggregate posterior
    (1/N) sum_n N(mu_n, exp(logvar_n)) of codes (N, D): mean of mu; mean of exp(logvar) plus
    the variance of mu."""
    variance = np.exp(logvars).mean(axis=0) + means.var(axis=0)
    return means.mean(axis=0), np.log(np.maximum(variance, 1e-12))


def normalized_mi_matrix(
    means: np.ndarray,
    factors: np.ndarray,
    n_bins: int = DEFAULT_BINS,
    fold_orientation: bool = True,
    dataset: str | LabelledDataset = "dsprites",
) -> np.ndarray:
    """m_ik = I(mu_i; v_k) / H(v_k): (D, F) in [0, 1] from posterior means (N, D) and factor
    indices (N, F) in the dataset's factor order (module docstring, steps 4-7); the dataset's
    folds apply when fold_orientation."""
    spec = _resolve(dataset)
    folds = {fold.factor: fold for fold in spec.folds} if fold_orientation else {}
    binned = [equal_frequency_bins(means[:, i], n_bins) for i in range(means.shape[1])]
    matrix = np.zeros((means.shape[1], factors.shape[1]))
    for k, name in enumerate(spec.factor_names):
        if name in folds:
            folded = folded_factor(factors, folds[name], spec.factor_names)
            given = factors[:, spec.factor_names.index(folds[name].given)]
            pairs = [conditional_mutual_information(z, folded, given) for z in binned]
            matrix[:, k] = [info / h if h > 0 else 0.0 for info, h in pairs]
        else:
            h = entropy(factors[:, k])
            matrix[:, k] = [mutual_information(z, factors[:, k]) / h if h > 0 else 0.0 for z in binned]
    return np.clip(matrix, 0.0, 1.0)


def mutual_information_gap(mi_matrix: np.ndarray) -> float:
    """MIG of a normalised MI matrix (D, F): mean over factors of the largest minus the second
    largest entry of the factor's column (the second is 0 when D = 1)."""
    ordered = -np.sort(-np.asarray(mi_matrix), axis=0)
    second = ordered[1] if ordered.shape[0] > 1 else np.zeros(ordered.shape[1])
    return float((ordered[0] - second).mean())


def controlled_factors(normalized_mi: dict[str, float], active: bool) -> list[str]:
    """The factors one latent controls, strongest first (module docstring, step 9)."""
    if not active or not normalized_mi:
        return []
    strongest = max(normalized_mi.values())
    chosen = [
        name for name, value in normalized_mi.items() if value >= MIN_NORMALIZED_MI and value >= RELATIVE_MI * strongest
    ]
    return sorted(chosen, key=lambda name: -normalized_mi[name])


def latent_activity(
    means: np.ndarray, logvars: np.ndarray, aggregate_reference: Sequence[bool] | None = None
) -> tuple[np.ndarray, list[str]]:
    """(mean KL per latent (D,) in nats, its reference per latent) from codes (N, D): against
    N(0, 1), or against the moment-matched aggregate posterior where aggregate_reference (D,)
    is True (module docstring, step 3)."""
    marks = np.zeros(means.shape[1], dtype=bool) if aggregate_reference is None else np.asarray(aggregate_reference, bool)
    if marks.shape != (means.shape[1],):
        raise ValueError(f"aggregate_reference needs one flag per latent ({means.shape[1]}), got {marks.shape}")
    kl = mean_gaussian_kl(means, logvars)
    if marks.any():
        centre, spread = aggregate_gaussian(means[:, marks], logvars[:, marks])
        kl[marks] = mean_gaussian_kl(means[:, marks], logvars[:, marks], centre, spread)
    return kl, [AGGREGATE_REFERENCE if mark else STANDARD_REFERENCE for mark in marks]


def ground_truth_from_codes(
    means: np.ndarray,
    logvars: np.ndarray,
    factors: np.ndarray,
    n_bins: int = DEFAULT_BINS,
    fold_orientation: bool = True,
    *,
    dataset: str | LabelledDataset = "dsprites",
    aggregate_reference: Sequence[bool] | None = None,
) -> GroundTruth:
    """Ground truth from an encoded labelled sample: means, logvars (N, D) of q(z|x), factors
    (N, F) int indices in the dataset's factor order (steps 3-9 of the module docstring).
    aggregate_reference (D,): latents whose activity is measured against their aggregate
    posterior rather than N(0, 1) (step 3)."""
    spec = _resolve(dataset)
    names = list(spec.factor_names)
    means, logvars = np.asarray(means, dtype=np.float64), np.asarray(logvars, dtype=np.float64)
    factors = np.asarray(factors, dtype=np.int64)
    if means.shape != logvars.shape or means.ndim != 2 or factors.shape != (means.shape[0], len(names)):
        raise ValueError(
            f"need means and logvars (N, D) and factors (N, {len(names)}) for {spec.name}; "
            f"got {means.shape}, {logvars.shape}, {factors.shape}"
        )
    if n_bins < 2:
        raise UserError(f"n_bins={n_bins} is too small; use at least 2 (20 is the usual choice)")
    bad = int((~np.isfinite(means)).sum() + (~np.isfinite(logvars)).sum())
    if bad:
        raise UserError(f"the encoder returned {bad} non-finite means/log-variances; is the checkpoint diverged?")
    kl, references = latent_activity(means, logvars, aggregate_reference)
    matrix = normalized_mi_matrix(means, factors, n_bins, fold_orientation, spec)
    latents = []
    for i in range(means.shape[1]):
        row = {name: float(matrix[i, k]) for k, name in enumerate(names)}
        active = bool(kl[i] >= KL_FLOOR_NATS)
        latents.append(LatentTruth(index=i, factors=controlled_factors(row, active), active=active, kl=float(kl[i]),
                                   normalized_mi=row, kl_reference=references[i]))
    return GroundTruth(
        latents=latents,
        mig=mutual_information_gap(matrix),
        mi_matrix=matrix.tolist(),
        factor_names=names,
        orientation_folded=fold_orientation and any(fold.factor == "orientation" for fold in spec.folds),
        dataset=spec.name,
    )


def labelled_factors(n_images: int, seed: int = 0, dataset: str | LabelledDataset = "dsprites") -> torch.Tensor:
    """The labelled sample of `encode_labelled_sample`: (n_images, F) uniform factor indices
    of the dataset from torch.Generator().manual_seed(seed), on the CPU."""
    return seeded_factors(_resolve(dataset), n_images, seed)


def encode_labelled_sample(
    encode: Encoder,
    latent_dim: int,
    n_images: int = 10_000,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 1000,
    dataset: str | LabelledDataset = "dsprites",
    with_factors: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render and encode the labelled sample: (means (N, D), logvars (N, D), factors (N, F)).

    encode: images (B, C, 64, 64) in [0, 1] on `device` -> (mean, logvar), each (B, D) with
    D = latent_dim; called as encode(images, factors) with the batch's factor indices (B, F)
    (on `device`) when with_factors (an encoder that also reads labels, such as a CSVAE's
    q(w | x, y)). Called in order on consecutive batches of `labelled_factors(n_images, seed,
    dataset)`, under torch.inference_mode. Images are rendered on `device`."""
    spec = _resolve(dataset)
    if n_images < _MIN_IMAGES:
        raise UserError(f"n_images={n_images} is too few to estimate mutual information; use at least {_MIN_IMAGES}")
    if batch_size < 1:
        raise UserError(f"batch_size={batch_size} must be at least 1")
    if latent_dim < 1:
        raise UserError(f"latent_dim={latent_dim} must be at least 1")
    factors = labelled_factors(n_images, seed, spec)
    means, logvars = [], []
    with torch.inference_mode():
        for start in range(0, n_images, batch_size):
            chunk = factors[start : start + batch_size].to(device)
            images = spec.render(chunk)
            mean, logvar = encode(images, chunk) if with_factors else encode(images)
            expected = (chunk.shape[0], latent_dim)
            if tuple(mean.shape) != expected or tuple(logvar.shape) != expected:
                raise UserError(
                    f"the encoder returned mean {tuple(mean.shape)} and logvar {tuple(logvar.shape)}; "
                    f"expected {expected} for latent_dim={latent_dim}"
                )
            means.append(mean.detach().float().cpu())
            logvars.append(logvar.detach().float().cpu())
    return torch.cat(means).numpy(), torch.cat(logvars).numpy(), factors.numpy()


def dsprites_ground_truth(
    encode: Encoder,
    latent_dim: int,
    n_images: int = 10_000,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 1000,
    n_bins: int = DEFAULT_BINS,
    fold_orientation: bool = True,
) -> GroundTruth:
    """Which dSprites factor each latent controls, measured on labelled images.

    encode: images (B, 1, 64, 64) in {0, 1} -> (mean, logvar) each (B, D), D = latent_dim; see
    `encode_labelled_sample` for how it is called. Method and thresholds: module docstring.
    """
    means, logvars, factors = encode_labelled_sample(encode, latent_dim, n_images, seed, device, batch_size)
    return ground_truth_from_codes(means, logvars, factors, n_bins, fold_orientation)

