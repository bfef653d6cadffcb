"""`latent-explainer train-ddpm`: train a small DDPM (diffusers UNet2DModel) on procedural data;
the folder it writes is explained through its h-space directions."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from agent.commands.train import budget_checks, refuse_a_used_seed, refuse_bad_values
from agent.errors import UserError

if TYPE_CHECKING:
    from tools.models.ddpm.model import DDPMConfig


def _channels(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 32,32,64") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"channels must be positive integers, got {text!r}")
    return values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-ddpm", help="train a small DDPM on procedural data (explained by h-space directions)")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--dataset", choices=["dsprites", "shapes3d", "digits"], default=None, help="default dsprites")
    p.add_argument("--image-size", type=int, default=None, help="image side in pixels (divides 64; default 32)")
    p.add_argument("--channels", type=_channels, default=None,
                   help="UNet channels per resolution level, comma-separated (default 32,32,64)")
    p.add_argument("--layers-per-block", type=int, default=None, help="default 1")
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema-decay", type=float, default=0.999, help="EMA of the weights that is saved (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=15.0, help="wall-clock budget")
    p.add_argument("--save-every-minutes", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--init-from", default=None,
                   help="continue from this DDPM checkpoint's weights (its architecture and dataset are used; "
                        "new optimiser)")
    p.add_argument("--no-basis", action="store_true", help="do not compute and store the shared h-space basis")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when present)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tools.models.ddpm.training import DDPMTrainSettings, train_ddpm
    from tools.models.device import resolve_device

    architecture = {"--dataset": args.dataset, "--image-size": args.image_size, "--channels": args.channels,
                    "--layers-per-block": args.layers_per_block}
    given = [flag for flag, value in architecture.items() if value is not None]
    if args.init_from is not None and given:
        raise UserError(f"{', '.join(given)} cannot be combined with --init-from: the architecture and dataset "
                        f"are {args.init_from}'s")
    args.dataset = args.dataset or "dsprites"
    args.image_size = args.image_size if args.image_size is not None else 32
    args.channels = args.channels or (32, 32, 64)
    args.layers_per_block = args.layers_per_block if args.layers_per_block is not None else 1
    refuse_bad_values([
        *budget_checks(args),
        (args.batch_size >= 1, f"--batch-size must be at least 1, got {args.batch_size}"),
        (args.lr > 0, f"--lr must be positive, got {args.lr}"),
        (0 <= args.ema_decay < 1, f"--ema-decay must be in [0, 1), got {args.ema_decay}"),
        (args.layers_per_block >= 1, f"--layers-per-block must be at least 1, got {args.layers_per_block}"),
        (args.image_size >= 1 and 64 % args.image_size == 0, f"--image-size must divide 64, got {args.image_size}"),
    ])
    if args.init_from is not None:
        config = _checkpoint_config(args.init_from)
        refuse_a_used_seed(args.seed, args.init_from)
    else:
        config = _config_from_flags(args)
    settings = DDPMTrainSettings(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, ema_decay=args.ema_decay, seed=args.seed,
        max_minutes=args.max_minutes, save_every_minutes=args.save_every_minutes, threads=args.threads,
        device=str(resolve_device(args.device)), store_basis=not args.no_basis,
    )
    folder = train_ddpm(config, settings, args.out, init_from=args.init_from)
    print(json.dumps({"checkpoint": str(folder)}))
    return 0


def _config_from_flags(args: argparse.Namespace) -> DDPMConfig:
    from tools.data.procedural import DATASET_CHANNELS
    from tools.models.ddpm.model import DDPMConfig

    try:
        return DDPMConfig(image_size=args.image_size, block_out_channels=args.channels,
                            layers_per_block=args.layers_per_block, dataset=args.dataset,
                            image_channels=DATASET_CHANNELS[args.dataset],
                            norm_num_groups=_groups(args.channels))
    except ValueError as error:
        raise UserError(f"--channels {','.join(map(str, args.channels))} with --image-size {args.image_size}: {error}") from None


def _checkpoint_config(folder: str) -> DDPMConfig:
    """The DDPMConfig of checkpoint `folder`; UserError when it is not a DDPM checkpoint."""
    from pathlib import Path

    from tools.models.ddpm.model import CONFIG_FILE, DDPMConfig, is_ddpm_checkpoint

    if not is_ddpm_checkpoint(folder):
        raise UserError(f"--init-from {folder}: not a DDPM checkpoint folder (config.json with family \"ddpm\")")
    return DDPMConfig.from_dict(json.loads((Path(folder) / CONFIG_FILE).read_text())["model"])


def _groups(channels: tuple[int, ...]) -> int:
    """The largest GroupNorm group count <= 8 that divides every channel count."""
    return next(g for g in (8, 4, 2, 1) if all(c % g == 0 for c in channels))
