"""`latent-explainer train`: train a VAE / beta-VAE / beta-TCVAE on procedural dSprites, or a
CSVAE on labelled images (procedural dSprites or 3DShapes, scikit-learn's digits, or a folder
of class sub-folders)."""

from __future__ import annotations

import argparse
import json

from agent.errors import UserError

FAMILIES = ("vae", "csvae")
DEFAULT_BATCH = {"vae": 256, "csvae": 64}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a VAE-family model or a CSVAE")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--family", choices=FAMILIES, default="vae",
                   help="vae: VAE / beta-VAE / beta-TCVAE (--loss); csvae: conditional subspace VAE (Klys et al. 2018)")
    p.add_argument("--dataset", default="dsprites",
                   help="dsprites, shapes3d, digits, or a folder of images in class sub-folders (csvae); vae: dsprites")
    p.add_argument("--loss", choices=["vae", "beta_vae", "beta_tcvae"], default="beta_tcvae")
    p.add_argument("--beta", type=float, default=6.0, help="KL weight (beta-VAE) or TC weight (beta-TCVAE)")
    p.add_argument("--mi-weight", type=float, default=1.0,
                   help="beta-TCVAE: weight alpha of the index-code mutual information (Chen et al. 2018, eq. 4)")
    p.add_argument("--dim-kl-weight", type=float, default=1.0,
                   help="beta-TCVAE: weight gamma of the dimension-wise KL (Chen et al. 2018, eq. 4)")
    p.add_argument("--tc-estimator", choices=["mws", "mss"], default="mss",
                   help="estimator of log q(z) for beta-TCVAE (Chen et al. 2018)")
    p.add_argument("--latent-dim", type=int, default=None, help="size of z for --family vae (default 10)")
    p.add_argument("--z-dim", type=int, default=10, help="CSVAE: size of z")
    p.add_argument("--w-dim", type=int, default=2, help="CSVAE: size of each attribute's w subspace")
    p.add_argument("--image-size", type=int, choices=[32, 64], default=64, help="CSVAE on digits or a folder: image side")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=None, help="default 256 (vae) or 64 (csvae)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--adversary-lr", type=float, default=1e-3, help="CSVAE: learning rate of the adversary q(y|z)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=60.0, help="wall-clock budget")
    p.add_argument("--save-every-minutes", type=float, default=10.0)
    p.add_argument("--kl-warmup-steps", type=int, default=0,
                   help="vae: raise the KL weight linearly from 0 to 1 over this many steps")
    p.add_argument("--capacity-max", type=float, default=None, metavar="NATS",
                   help="vae: capacity control (Burgess et al. 2018): push the KL towards C nats, C rising "
                        "linearly from --capacity-start to this over --capacity-steps")
    p.add_argument("--capacity-start", type=float, default=0.0, metavar="NATS")
    p.add_argument("--capacity-steps", type=int, default=10_000)
    p.add_argument("--capacity-gamma", type=float, default=1000.0, help="weight of |KL - C| (1000 in the paper)")
    p.add_argument("--init-from", help="--family vae: continue from this checkpoint's weights "
                   "(same architecture and dataset; the loss weights may change; new optimiser)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when present)")
    p.set_defaults(run=run)


def _command_line(args: argparse.Namespace) -> str:
    """The options of this run as one reproducible command line (recorded in the checkpoint)."""
    parts = ["latent-explainer", "train"]
    for key, value in sorted(vars(args).items()):
        if key in ("run", "command") or value is None:
            continue
        parts += [f"--{key.replace('_', '-')}", str(value)]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    from tools.models.device import resolve_device

    batch_size = args.batch_size if args.batch_size is not None else DEFAULT_BATCH[args.family]
    refuse_bad_values([
        *budget_checks(args),
        (args.lr > 0, f"--lr must be positive, got {args.lr}"),
        (args.adversary_lr > 0, f"--adversary-lr must be positive, got {args.adversary_lr}"),
        (args.beta > 0, f"--beta must be positive, got {args.beta}"),
        (args.mi_weight >= 0, f"--mi-weight must be at least 0, got {args.mi_weight}"),
        (args.dim_kl_weight >= 0, f"--dim-kl-weight must be at least 0, got {args.dim_kl_weight}"),
        ((args.family, args.loss) == ("vae", "beta_tcvae") or (args.mi_weight == 1 and args.dim_kl_weight == 1),
         "--mi-weight and --dim-kl-weight weight the terms of --family vae --loss beta_tcvae only"),
        (args.capacity_max is None or (args.mi_weight == 1 and args.dim_kl_weight == 1),
         "--mi-weight and --dim-kl-weight do not apply under capacity control (--capacity-max), which sets the KL"),
        (args.kl_warmup_steps >= 0, f"--kl-warmup-steps must be at least 0, got {args.kl_warmup_steps}"),
    ])
    device = str(resolve_device(args.device))
    if args.family == "csvae":
        folder = _train_csvae(args, batch_size, device)
    else:
        folder = _train_vae(args, batch_size, device)
    print(json.dumps({"checkpoint": str(folder)}))
    return 0


def _train_vae(args: argparse.Namespace, batch_size: int, device: str):
    from tools.models.vae.model import VAEConfig
    from tools.models.vae.training import TrainSettings, train_vae

    if args.dataset != "dsprites":
        raise UserError(f"--family vae trains on --dataset dsprites only, not {args.dataset!r}; "
                        "use --family csvae for shapes3d, digits or an image folder")
    latent_dim = 10 if args.latent_dim is None else args.latent_dim
    if latent_dim < 1:
        raise UserError(f"--latent-dim must be at least 1, got {latent_dim}")
    if batch_size < 3:
        raise UserError(f"--batch-size must be at least 3 for the TC estimator, got {batch_size}")
    config = VAEConfig(latent_dim=latent_dim, loss=args.loss, beta=args.beta, tc_estimator=args.tc_estimator,
                       mi_weight=args.mi_weight, dim_kl_weight=args.dim_kl_weight)
    settings = TrainSettings(
        steps=args.steps, batch_size=batch_size, lr=args.lr, seed=args.seed,
        max_minutes=args.max_minutes, save_every_minutes=args.save_every_minutes,
        kl_warmup_steps=args.kl_warmup_steps, threads=args.threads, device=device,
        capacity_max=args.capacity_max, capacity_start=args.capacity_start, capacity_steps=args.capacity_steps,
        capacity_gamma=args.capacity_gamma, command=_command_line(args),
    )
    if args.capacity_max is not None and not (0 <= args.capacity_start and 0 < args.capacity_max
                                                 and args.capacity_steps >= 1 and args.capacity_gamma > 0):
        raise UserError("capacity control needs --capacity-start >= 0, --capacity-max > 0, --capacity-steps >= 1 "
                        "and --capacity-gamma > 0")
    if args.init_from:
        from tools.models.references import parse_model_ref

        if parse_model_ref(args.init_from).kind != "checkpoint":
            raise UserError(f"--init-from {args.init_from!r} must be a checkpoint folder")
        refuse_a_used_seed(args.seed, args.init_from)
    return train_vae(config, settings, args.out, init_from=args.init_from)


def budget_checks(args: argparse.Namespace) -> list[tuple[bool, str]]:
    """(ok, message) for the options `train` and `train-ddpm` share: steps, time and threads."""
    return [
        (args.steps >= 1, f"--steps must be at least 1, got {args.steps}"),
        (args.max_minutes > 0, f"--max-minutes must be positive, got {args.max_minutes}"),
        (args.save_every_minutes > 0, f"--save-every-minutes must be positive, got {args.save_every_minutes}"),
        (args.threads >= 0, f"--threads must be at least 0 (0: torch's default), got {args.threads}"),
    ]


def refuse_bad_values(checks: list[tuple[bool, str]]) -> None:
    """UserError with the first failed check's message, before any training starts."""
    for ok, message in checks:
        if not ok:
            raise UserError(message)


def refuse_a_used_seed(seed: int, init_from: str) -> None:
    """UserError when a stage of checkpoint `init_from` was trained with `seed`: the
    continuation would see the same data again (tools/models/training_record.py)."""
    from tools.models.training_record import used_seeds

    used = used_seeds(init_from)
    if seed in used:
        raise UserError(f"--seed {seed} was already used to train {init_from} (its stages used "
                        f"{', '.join(map(str, sorted(used)))}); give another --seed so the continuation sees new data")


def _train_csvae(args: argparse.Namespace, batch_size: int, device: str):
    from tools.models.csvae.model import CSVAEConfig
    from tools.models.csvae.training import CSVAETrainSettings, labelled_source, train_csvae

    if args.latent_dim is not None:
        raise UserError("--latent-dim is for --family vae; a CSVAE's code is --z-dim plus --w-dim per attribute")
    if args.z_dim < 1 or args.w_dim < 1:
        raise UserError(f"--z-dim and --w-dim must be at least 1, got {args.z_dim} and {args.w_dim}")
    if batch_size < 2:
        raise UserError(f"--batch-size must be at least 2, got {batch_size}")
    source = labelled_source(args.dataset, args.image_size)
    config = CSVAEConfig(
        attributes=list(source.attributes), z_dim=args.z_dim, w_dim=args.w_dim,
        image_channels=source.image_channels, image_size=source.image_size,
        dataset=source.name, factor_names=list(source.factor_names),
    )
    settings = CSVAETrainSettings(
        steps=args.steps, batch_size=batch_size, lr=args.lr, adversary_lr=args.adversary_lr, seed=args.seed,
        max_minutes=args.max_minutes, save_every_minutes=args.save_every_minutes, threads=args.threads,
        device=device, command=_command_line(args),
    )
    return train_csvae(source, config, settings, args.out)
