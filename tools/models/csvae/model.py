"""Conditional Subspace VAE (CSVAE) of Klys, Snell & Zemel 2018 ("Learning Latent Subspaces in
Variational Autoencoders", NeurIPS 2018): config, model, objective, checkpoints.

Data are images x with k binary attributes y in {0, 1}^k. The latent code is h = (z, w), with
w = (w_1, ..., w_k) one small subspace w_i (w_dim values) per attribute:

- generative model: p(x, y, w, z) = p(x | w, z) p(w | y) p(z) p(y), with p(z) = N(0, I),
  p(w | y) = prod_i p(w_i | y_i) fixed per attribute value (the paper's construction; the
  default values here are ours): y_i = 0 -> N(0, 0.1^2 I), an absent attribute leaves w_i near the
  origin; y_i = 1 -> N(1, 0.5^2 I), a present one moves w_i away and lets it spread over that
  attribute's variations. W_move is then about (1, ..., 1), so LatentExplainer's alpha in
  {0, ..., 4} moves an anchor without the attribute to one with it at alpha near 1. p(x | w, z) is
  Bernoulli per pixel value (sigmoid of the decoder's logits).
- inference: q(z | x) and q(w | x, y), diagonal Gaussians from two convolutional encoders of
  the Burgess et al. 2018 architecture (the second also reads y). By default (our choice; the
  paper leaves the encoder free) q(w | x, y) is a residual around p(w | y): its mean and
  log-variance are the prior's plus the encoder's output, which starts at zero. A free encoder
  trained for ~1k steps with b1 = 20 ignored y (W_move near 0); the residual form carries y in
  w from the first step, and the adversary then makes the decoder read y from w.
- adversary q_delta(y | z): a small MLP that predicts y from z. The encoder is trained to make
  it uninformative (maximise its entropy), which pushes the information about y out of z and
  into w (the paper's mutual-information minimisation between z and y).

Objective, per example, in nats, minimised (paper's eq. for M1 and M2, signs folded in):

    L = b1 * NLL(x | z, w)                          (reconstruction, Bernoulli, summed over pixels)
      + b2 * KL(q(w | x, y) || p(w | y))
      + b3 * KL(q(z | x) || N(0, I))
      + b4 * sum_i [ q_i log q_i + (1 - q_i) log(1 - q_i) ],  q_i = q_delta(y_i = 1 | z)
    adversary, separately: - sum_i log q_delta(y_i | z), with z detached (the paper's N).

b1..b4 = 20, 1, 0.2, 10 are the weights of LatentExplainer's CSVAE code (docs/method.md: beta1 =
20, beta2 = 1, beta3 = 0.2); that code applies them to a per-pixel mean squared error and to
KLs summed over the batch, here they weigh per-example sums, so only their ratios carry over.

Latent layout seen by the explainer (the model protocol, tools/models/references.py): h = [z | w_1 |
... | w_k], latent_dim = z_dim + k * w_dim. metadata["groups"] names each attribute's w indices
(combination bias: a group traversed together); attribute_direction(name) is the conditional
bias's W_move = mean w_i over images with y_i = 1 minus the mean over y_i = 0 (LatentExplainer:
w = w_hat + alpha * W_move), placed in w_i's indices, zeros elsewhere. Anchors (sample_latents)
are posterior means of held-out training images, stored in the checkpoint with W_move
(`fit_directions_and_anchors`), so loading needs no data.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tools.models.vae.checkpoint import CONFIG_FILE, WEIGHTS_FILE, CheckpointError

FAMILY = "csvae"
IMAGE_SIZES: tuple[int, ...] = (32, 64)


@dataclass
class CSVAEConfig:
    """Everything needed to rebuild a CSVAE and know what it models.

    attributes: names of the k binary attributes (one w subspace each). z_dim: size of z.
    w_dim: size of each w_i. image_channels / image_size: the data's (C, H = W), H in 32, 64.
    hidden_channels / hidden_dim: Burgess encoder-decoder widths. adversary_hidden: width of
    q_delta(y | z). beta_*: the objective's weights b1..b4 (module docstring).
    prior_absent_std, prior_present_mean, prior_present_std: p(w_i | y_i).
    w_posterior: "residual" (q(w | x, y) = p(w | y) shifted and rescaled by the encoder, which
    starts at zero: w follows y from the first step) or "free" (the encoder's output alone).
    anchor_count: posterior means stored as anchors. dataset / factor_names: what it was
    trained on (factor_names: the labelled factors of a procedural dataset, else empty).
    """

    attributes: list[str]
    z_dim: int = 10
    w_dim: int = 2
    image_channels: int = 3
    image_size: int = 64
    hidden_channels: int = 32
    hidden_dim: int = 256
    adversary_hidden: int = 64
    beta_reconstruction: float = 20.0
    beta_w: float = 1.0
    beta_z: float = 0.2
    beta_adversary: float = 10.0
    prior_absent_std: float = 0.1
    prior_present_mean: float = 1.0
    prior_present_std: float = 0.5
    w_posterior: str = "residual"
    anchor_count: int = 256
    dataset: str = ""
    factor_names: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.attributes:
            raise ValueError("a CSVAE needs at least one attribute")
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"attribute names must be distinct, got {self.attributes}")
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {self.image_size}")
        if self.w_posterior not in ("residual", "free"):
            raise ValueError(f"w_posterior must be 'residual' or 'free', got {self.w_posterior!r}")
        if not (self.prior_present_mean > 0 and self.prior_present_std > 0 and self.prior_absent_std > 0):
            raise ValueError("prior_present_mean, prior_present_std and prior_absent_std must be positive, got "
                             f"{self.prior_present_mean}, {self.prior_present_std}, {self.prior_absent_std}")
        if self.z_dim < 1 or self.w_dim < 1:
            raise ValueError(f"z_dim and w_dim must be at least 1, got {self.z_dim} and {self.w_dim}")

    @property
    def latent_dim(self) -> int:
        return self.z_dim + len(self.attributes) * self.w_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CSVAEConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class CSVAEOutput:
    """One forward pass on a batch of B images. logits: (B, C, H, W) Bernoulli logits of
    p(x | z, w). z, w: reparameterised samples (B, z_dim), (B, k * w_dim); *_mean / *_logvar:
    the parameters of q(z | x) and q(w | x, y)."""

    logits: torch.Tensor
    z: torch.Tensor
    w: torch.Tensor
    z_mean: torch.Tensor
    z_logvar: torch.Tensor
    w_mean: torch.Tensor
    w_logvar: torch.Tensor


@dataclass
class CSVAELoss:
    """loss: the encoder-decoder objective to minimise; the rest are batch means in nats
    (adversary_negentropy: sum over attributes of -H(q_delta(y_i | z)), in [-k ln 2, 0])."""

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl_w: torch.Tensor
    kl_z: torch.Tensor
    adversary_negentropy: torch.Tensor


def _conv_stack(channels: int, hidden: int, size: int) -> nn.Sequential:
    """4x4 stride-2 convolutions from size x size down to 4 x 4, then flatten: (B, hidden * 16)."""
    layers: list[nn.Module] = []
    for i in range(int(math.log2(size)) - 2):
        layers += [nn.Conv2d(channels if i == 0 else hidden, hidden, 4, 2, 1), nn.ReLU()]
    return nn.Sequential(*layers, nn.Flatten())


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


def gaussian_kl(mean_q: torch.Tensor, logvar_q: torch.Tensor, mean_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mean_q, exp(logvar_q)) || N(mean_p, exp(logvar_p))) elementwise (broadcasts), nats."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mean_q - mean_p) ** 2) / logvar_p.exp() - 1)


class CSVAE(nn.Module):
    """The CSVAE networks plus what the explainer needs (model protocol: latent_dim,
    decode, sample_latents, name, metadata, attribute_direction, anchors_without).

    Buffers saved with the weights: w_move (k, w_dim), anchors (anchor_count, latent_dim),
    anchor_attributes (anchor_count, k) and fitted (1 once fit_directions_and_anchors ran)."""

    def __init__(self, config: CSVAEConfig):
        super().__init__()
        self.config = config
        c, h, k, s = config.hidden_channels, config.hidden_dim, len(config.attributes), config.image_size
        features = c * 16
        self.attributes = list(config.attributes)
        self.latent_dim = config.latent_dim
        self.name = f"csvae-{config.dataset}" if config.dataset else "csvae"
        self.z_encoder = nn.Sequential(_conv_stack(config.image_channels, c, s), _mlp(features, h, 2 * config.z_dim))
        self.w_features = _conv_stack(config.image_channels, c, s)
        self.w_head = _mlp(features + k, h, 2 * k * config.w_dim)
        if config.w_posterior == "residual":
            nn.init.zeros_(self.w_head[-1].weight)
            nn.init.zeros_(self.w_head[-1].bias)
        up = [m for _ in range(int(math.log2(s)) - 3) for m in (nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU())]
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, h), nn.ReLU(),
            nn.Linear(h, h), nn.ReLU(),
            nn.Linear(h, features), nn.ReLU(),
            nn.Unflatten(1, (c, 4, 4)),
            *up,
            nn.ConvTranspose2d(c, config.image_channels, 4, 2, 1),
        )
        self.adversary = _mlp(config.z_dim, config.adversary_hidden, k)
        self.register_buffer("w_move", torch.zeros(k, config.w_dim))
        self.register_buffer("anchors", torch.zeros(config.anchor_count, config.latent_dim))
        self.register_buffer("anchor_attributes", torch.zeros(config.anchor_count, k))
        self.register_buffer("fitted", torch.zeros(()))

    # --- the CSVAE ---------------------------------------------------------------------------

    def encode_z(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x): images (B, C, H, W) in [0, 1] -> mean, logvar (B, z_dim)."""
        mean, logvar = self.z_encoder(x).chunk(2, dim=1)
        return mean, logvar

    def encode_w(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(w | x, y): images (B, C, H, W), attributes (B, k) in {0, 1} -> mean, logvar (B, k * w_dim).
        With w_posterior "residual" the encoder's output is added to p(w | y)'s mean and logvar."""
        mean, logvar = self.w_head(torch.cat([self.w_features(x), y.to(x)], dim=1)).chunk(2, dim=1)
        if self.config.w_posterior == "residual":
            prior_mean, prior_logvar = self.prior_w(y.to(x))
            mean, logvar = prior_mean + mean, prior_logvar + logvar
        return mean, logvar

    def prior_w(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(w | y): attributes (B, k) -> mean, logvar (B, k * w_dim), each w_i's from y_i."""
        cfg = self.config
        present = y.float().repeat_interleave(cfg.w_dim, dim=1)
        mean = present * cfg.prior_present_mean
        logvar = torch.where(present > 0.5, 2 * math.log(cfg.prior_present_std), 2 * math.log(cfg.prior_absent_std))
        return mean, logvar

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim) = [z | w] -> Bernoulli logits (B, C, H, W)."""
        return self.decoder(h)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> CSVAEOutput:
        """Encode, draw z and w by the reparameterisation trick, decode."""
        z_mean, z_logvar = self.encode_z(x)
        w_mean, w_logvar = self.encode_w(x, y)
        z = z_mean + torch.randn_like(z_mean) * torch.exp(0.5 * z_logvar)
        w = w_mean + torch.randn_like(w_mean) * torch.exp(0.5 * w_logvar)
        logits = self.decode_logits(torch.cat([z, w], dim=1))
        return CSVAEOutput(logits, z, w, z_mean, z_logvar, w_mean, w_logvar)

    # --- the explainer's model protocol ---------------------------------------------------------

    @property
    def groups(self) -> dict[str, list[int]]:
        """Each attribute's w indices in the full code [z | w_1 | ... | w_k]."""
        z, m = self.config.z_dim, self.config.w_dim
        return {name: list(range(z + i * m, z + (i + 1) * m)) for i, name in enumerate(self.attributes)}

    @property
    def metadata(self) -> dict:
        """The optional protocol metadata (JSON-serialisable)."""
        return {
            "family": FAMILY,
            "default_bias": "conditional",
            "groups": self.groups,
            "attributes": list(self.attributes),
            "traversable": list(range(self.latent_dim)),
            "dataset": self.config.dataset,
            "factor_names": list(self.config.factor_names),
            "z_indices": list(range(self.config.z_dim)),
            "conditional_max_alpha": self.conditional_max_alpha,
        }

    @property
    def conditional_max_alpha(self) -> float:
        """The largest alpha a conditional traversal needs: w_hat + alpha * W_move reaches two
        standard deviations past the present class's prior mean, W_move being about the gap
        between the class means (prior_present_mean - 0). With the default prior that is 2;
        the paper's alpha up to 4 goes to 6 sigma, where this decoder draws artefacts."""
        cfg = self.config
        return round((cfg.prior_present_mean + 2.0 * cfg.prior_present_std) / cfg.prior_present_mean, 3)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim) -> images (B, C, H, W) in [0, 1], on the codes' device."""
        device = next(self.parameters()).device
        return torch.sigmoid(self.decode_logits(h.to(device, torch.float32))).to(h.device)

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n anchor codes (n, latent_dim) on the CPU: stored posterior means of held-out images,
        drawn without replacement while they last; before fitting, draws from the prior
        (z ~ N(0, I), y_i ~ Bernoulli(1/2), w ~ p(w | y))."""
        if float(self.fitted) < 0.5:
            z = torch.randn(n, self.config.z_dim, generator=generator)
            y = torch.randint(0, 2, (n, len(self.attributes)), generator=generator).float()
            mean, logvar = self.prior_w(y)
            w = mean + torch.randn(mean.shape, generator=generator) * torch.exp(0.5 * logvar)
            return torch.cat([z, w], dim=1)
        count = self.anchors.shape[0]
        order = torch.cat([torch.randperm(count, generator=generator) for _ in range(-(-n // count))])
        return self.anchors.cpu()[order[:n]].clone()

    def anchors_without(self, name: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n anchor codes (n, latent_dim) on the CPU of held-out images that lack attribute `name`:
        where a conditional traversal w = w_hat + alpha * W_move starts, so that alpha > 0 adds
        the attribute to an image without it (Klys et al. 2018, section 5: attribute transfer onto
        images without the attribute); an image that has it already is pushed past its own
        class. Drawn without replacement while they last; all stored anchors when none lacks
        the attribute or before fitting (sample_latents). Raises ValueError for an unknown name."""
        if name not in self.attributes:
            raise ValueError(f"unknown attribute {name!r}; this CSVAE's attributes are: {', '.join(self.attributes)}")
        lacking = torch.nonzero(self.anchor_attributes[:, self.attributes.index(name)].cpu() < 0.5).flatten()
        if float(self.fitted) < 0.5 or len(lacking) == 0:
            return self.sample_latents(n, generator)
        order = torch.cat([lacking[torch.randperm(len(lacking), generator=generator)] for _ in range(-(-n // len(lacking)))])
        return self.anchors.cpu()[order[:n]].clone()

    def attribute_direction(self, name: str) -> torch.Tensor:
        """W_move for attribute `name` in the full code: (latent_dim,) float32 on the CPU, zeros
        outside the attribute's w indices. Raises ValueError for an unknown name."""
        if name not in self.attributes:
            raise ValueError(f"unknown attribute {name!r}; this CSVAE's attributes are: {', '.join(self.attributes)}")
        direction = torch.zeros(self.latent_dim)
        direction[self.groups[name]] = self.w_move[self.attributes.index(name)].float().cpu()
        return direction

    @torch.no_grad()
    def fit_directions_and_anchors(self, images: torch.Tensor, attributes: torch.Tensor, batch_size: int = 256) -> None:
        """Store W_move and the anchors from labelled images (N, C, H, W) in [0, 1] and their
        attributes (N, k), N >= anchor_count.

        Steps: 1. posterior means [mean z | mean w] of every image (w given its true y);
        2. W_move_i = mean of w_i over y_i = 1 minus mean over y_i = 0; 3. the first
        anchor_count codes and their attributes become the anchors. Raises ValueError when
        an attribute has no positive or no negative image."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        codes = []
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device)
            y = attributes[start : start + batch_size].to(device).float()
            codes.append(torch.cat([self.encode_z(x)[0], self.encode_w(x, y)[0]], dim=1).cpu())
        code = torch.cat(codes)
        y = attributes.float().cpu()
        m, z = self.config.w_dim, self.config.z_dim
        for i, name in enumerate(self.attributes):
            positive = y[:, i] > 0.5
            if positive.all() or not positive.any():
                raise ValueError(f"attribute {name!r} needs images with and without it to fit W_move")
            w_i = code[:, z + i * m : z + (i + 1) * m]
            self.w_move[i] = (w_i[positive].mean(0) - w_i[~positive].mean(0)).to(self.w_move)
        count = self.anchors.shape[0]
        if code.shape[0] < count:
            raise ValueError(f"fitting anchors needs at least {count} images, got {code.shape[0]}")
        self.anchors.copy_(code[:count])
        self.anchor_attributes.copy_(y[:count])
        self.fitted.fill_(1.0)
        self.train(was_training)


def csvae_loss(model: CSVAE, x: torch.Tensor, y: torch.Tensor, out: CSVAEOutput) -> CSVAELoss:
    """The encoder-decoder objective L (module docstring) for images x (B, C, H, W) in [0, 1],
    attributes y (B, k) and the forward pass `out`. Its gradient also reaches the adversary's
    parameters; the training loop leaves those to adversary_loss."""
    cfg = model.config
    batch = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(out.logits, x, reduction="sum") / batch
    prior_mean, prior_logvar = model.prior_w(y)
    kl_w = gaussian_kl(out.w_mean, out.w_logvar, prior_mean, prior_logvar).sum(1).mean()
    kl_z = gaussian_kl(out.z_mean, out.z_logvar, torch.zeros_like(out.z_mean), torch.zeros_like(out.z_logvar)).sum(1).mean()
    logits = model.adversary(out.z)
    # q log q + (1 - q) log(1 - q) with q = sigmoid(l), written stably with log-sigmoids.
    q = torch.sigmoid(logits)
    negentropy = (q * F.logsigmoid(logits) + (1 - q) * F.logsigmoid(-logits)).sum(1).mean()
    loss = (cfg.beta_reconstruction * reconstruction + cfg.beta_w * kl_w + cfg.beta_z * kl_z
            + cfg.beta_adversary * negentropy)
    return CSVAELoss(loss, reconstruction, kl_w, kl_z, negentropy)


def adversary_loss(model: CSVAE, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-log q_delta(y | z) summed over attributes, batch mean; z (B, z_dim) is detached, so
    only the adversary learns from it."""
    return F.binary_cross_entropy_with_logits(model.adversary(z.detach()), y.float(), reduction="sum") / z.shape[0]


def save_csvae(model: CSVAE, folder: str | Path, training: dict | None = None) -> Path:
    """Write model.safetensors and config.json ({"family": "csvae", "model": config,
    "training": record}) into folder (created if needed)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    (folder / WEIGHTS_FILE).chmod(0o644)  # safetensors writes 0600; the sandbox reads as another user
    record = {"family": FAMILY, "model": model.config.to_dict(), "training": training or {}}
    (folder / CONFIG_FILE).write_text(json.dumps(record, indent=2))
    return folder


def is_csvae_checkpoint(folder: str | Path) -> bool:
    """True when folder's config.json says family "csvae"."""
    path = Path(folder) / CONFIG_FILE
    return path.is_file() and json.loads(path.read_text()).get("family") == FAMILY


def load_csvae(folder: str | Path, device: str | torch.device = "cpu") -> CSVAE:
    """Rebuild the CSVAE of a checkpoint folder, in eval mode, on device; name = folder name."""
    from safetensors.torch import load_file

    folder = Path(folder)
    weights, config = folder / WEIGHTS_FILE, folder / CONFIG_FILE
    if not weights.is_file() or not config.is_file():
        raise CheckpointError(f"CSVAE checkpoint folder {folder} needs {WEIGHTS_FILE} and {CONFIG_FILE}")
    record = json.loads(config.read_text())
    if record.get("family") != FAMILY:
        raise CheckpointError(f"{config} is not a CSVAE checkpoint (family {record.get('family')!r})")
    model = CSVAE(CSVAEConfig.from_dict(record["model"]))
    model.load_state_dict(load_file(str(weights)))
    model.name = folder.name
    model.training_record = record.get("training", {})
    return model.to(device).eval()
