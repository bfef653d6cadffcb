"""`latent-explainer train`: train a VAE / beta-VAE / beta-TCVAE on procedural dSprites."""

from __future__ import annotations

import argparse
import json

from agent.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a VAE-family model on procedural dSprites")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--loss", choices=["vae", "beta_vae", "beta_tcvae"], default="beta_tcvae")
    p.add_argument("--beta", type=float, default=6.0, help="KL weight (beta-VAE) or TC weight (beta-TCVAE)")
    p.add_argument("--tc-estimator", choices=["mws", "mss"], default="mss",
                   help="estimator of log q(z) for beta-TCVAE (Chen et al. 2018)")
    p.add_argument("--latent-dim", type=int, default=10)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=60.0, help="wall-clock budget")
    p.add_argument("--save-every-minutes", type=float, default=10.0)
    p.add_argument("--kl-warmup-steps", type=int, default=0,
                   help="raise the KL weight linearly from 0 to 1 over this many steps")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when present)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tools.device import resolve_device
    from tools.train_vae import TrainSettings, train_vae
    from tools.vae import VAEConfig

    if args.latent_dim < 1:
        raise UserError(f"--latent-dim must be at least 1, got {args.latent_dim}")
    if args.batch_size < 3:
        raise UserError(f"--batch-size must be at least 3 for the TC estimator, got {args.batch_size}")
    config = VAEConfig(latent_dim=args.latent_dim, loss=args.loss, beta=args.beta, tc_estimator=args.tc_estimator)
    settings = TrainSettings(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        max_minutes=args.max_minutes, save_every_minutes=args.save_every_minutes,
        kl_warmup_steps=args.kl_warmup_steps, threads=args.threads, device=str(resolve_device(args.device)),
    )
    folder = train_vae(config, settings, args.out)
    print(json.dumps({"checkpoint": str(folder)}))
    return 0
