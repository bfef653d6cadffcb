"""Print the label-derived ground truth of a dSprites VAE checkpoint: per latent its mean KL,
activity, normalised MI with each factor and the factors it controls, then the MIG (with
orientation folded by shape symmetry, and raw as in the literature).

    python benchmarks/check_checkpoint.py training/dsprites_btcvae [--n-images 10000] [--device auto]
"""

from __future__ import annotations

import argparse
import sys
import time

from agent.errors import UserError
from tools.evaluation.ground_truth import (
    KL_FLOOR_NATS,
    MIN_NORMALIZED_MI,
    RELATIVE_MI,
    GroundTruth,
    encode_labelled_sample,
    ground_truth_from_codes,
)
from tools.models.device import resolve_device
from tools.models.vae.checkpoint import CheckpointError, load_checkpoint


def format_table(truth: GroundTruth) -> str:
    """The per-latent table as fixed-width text, one row per latent."""
    names = truth.factor_names
    header = f"{'z':>3} {'active':>6} {'KL':>6}  " + " ".join(f"{n:>11}" for n in names) + "  controls"
    rows = [header, "-" * len(header)]
    for latent in truth.latents:
        mi = " ".join(f"{latent.normalized_mi[n]:11.3f}" for n in names)
        controls = ", ".join(latent.factors) or "-"
        rows.append(f"{latent.index:>3} {'yes' if latent.active else 'no':>6} {latent.kl:6.2f}  {mi}  {controls}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="checkpoint folder with model.safetensors and config.json")
    parser.add_argument("--n-images", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
        model = load_checkpoint(args.folder, device)
        start = time.perf_counter()
        codes = encode_labelled_sample(model.encode, model.latent_dim, args.n_images, args.seed, device)
        truth = ground_truth_from_codes(*codes)
        raw_mig = ground_truth_from_codes(*codes, fold_orientation=False).mig
        seconds = time.perf_counter() - start
    except (UserError, CheckpointError) as error:
        sys.stderr.write(f"check_checkpoint: error: {error}\n")
        return 2
    record = getattr(model, "training_record", {})
    print(
        f"checkpoint {args.folder}: {model.name}, latent_dim {model.latent_dim}, "
        f"steps_done {record.get('steps_done', '?')}, images_seen {record.get('images_seen', '?')}"
    )
    print(
        f"{args.n_images} labelled images (seed {args.seed}) on {device} in {seconds:.1f} s; "
        f"active: mean KL >= {KL_FLOOR_NATS} nats; controls: normalised MI >= {MIN_NORMALIZED_MI} "
        f"and >= {RELATIVE_MI} x the latent's largest\n"
    )
    print(format_table(truth))
    print(f"\nMIG (orientation folded by shape symmetry): {truth.mig:.3f}")
    print(f"MIG (raw orientation, as in the literature): {raw_mig:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
