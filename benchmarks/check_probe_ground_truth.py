"""Print the probe-read ground truth of a decoder-only model (tools/evaluation/probe_ground_truth.py): per
coordinate whether it is traversed and active, its image change, the swept spread of each factor
(floors on the last line) and the factors it controls, then the gap statistic and the timings.

    python benchmarks/check_probe_ground_truth.py builtin:dsprites-ddpm [--anchors 24] [--values 7]
        [--range R] [--probe FOLDER] [--device cpu] [--threads 1] [--save FILE.json]

A second table gives, per coordinate and factor, the fraction of anchors whose own traversal
moves the factor past its floor (tools/evaluation/probe_ground_truth.py `consistency`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from agent.errors import UserError
from tools.evaluation.probe_ground_truth import (
    TraversalSpread,
    consistency,
    ground_truth_from_spread,
    measure_traversal_spread,
)


def format_table(measured: TraversalSpread) -> str:
    """The per-coordinate table as fixed-width text, one row per coordinate, floors last."""
    truth = ground_truth_from_spread(measured)
    names = measured.factor_names
    header = f"{'z':>3} {'active':>6} {'pixels':>7}  " + " ".join(f"{n:>11}" for n in names) + "  controls"
    rows = [header, "-" * len(header)]
    for latent in truth.latents:
        if latent.index not in measured.traversed:
            rows.append(f"{latent.index:>3} {'-':>6} {'-':>7}  " + " ".join(f"{'-':>11}" for _ in names) + "  not traversable")
            continue
        spread = " ".join(f"{latent.normalized_mi[n]:11.3f}" for n in names)
        rows.append(f"{latent.index:>3} {'yes' if latent.active else 'no':>6} "
                    f"{measured.image_change[latent.index]:7.3f}  {spread}  {', '.join(latent.factors) or '-'}")
    rows.append(f"{'floor':>18}  " + " ".join(f"{f:11.3f}" for f in measured.floors))
    rows.append(f"\ngap statistic over factors (traversal analogue of the MIG): {truth.mig:.3f}")
    rows.append(f"\nfraction of the {measured.n_anchors} anchors moving the factor past its floor")
    rows.append(f"{'z':>3} " + " ".join(f"{n:>11}" for n in names))
    for i, row in enumerate(consistency(measured)):
        if i in measured.traversed:
            rows.append(f"{i:>3} " + " ".join(f"{value:11.2f}" for value in row))
    return "\n".join(rows)


def measurement_record(measured: TraversalSpread) -> dict:
    """The measurement as a JSON-ready dict (arrays as nested lists)."""
    record = dict(vars(measured))
    for key, value in record.items():
        if isinstance(value, np.ndarray):
            record[key] = value.tolist()
    return record


def main(argv: list[str] | None = None) -> int:
    from tools.evaluation.factor_probe.model import load_probe
    from tools.models.loading import load_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a model reference (builtin:NAME, a checkpoint folder, FILE.py:FN)")
    parser.add_argument("--anchors", type=int, default=24)
    parser.add_argument("--values", type=int, default=7)
    parser.add_argument("--range", dest="traversal_range", type=float, help="default: the model's metadata, else 3")
    parser.add_argument("--probe", help="a probe folder (default: the shipped one for the model's dataset and size)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", help="also write the whole measurement to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        start = time.perf_counter()
        model = load_model(args.model, args.device)
        probe = load_probe(args.probe) if args.probe else None
        load_seconds = time.perf_counter() - start

        def progress(done: int, total: int) -> None:
            print(f"  decoded {done}/{total} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

        measured = measure_traversal_spread(model, probe, args.anchors, args.values, args.traversal_range, args.seed,
                                            args.batch_size, progress=progress)
    except UserError as error:
        sys.stderr.write(f"check_probe_ground_truth: error: {error}\n")
        return 2
    held = measured.probe_held_out
    print(f"model {args.model}: latent_dim {model.latent_dim}; traversal values {[round(v, 3) for v in measured.values]}, "
          f"{measured.n_anchors} anchors (seed {args.seed})")
    print("probe held-out accuracy (clean): " + ", ".join(f"{k} {v['accuracy']:.2f}" for k, v in held.items()))
    print(f"timings: load {load_seconds:.1f} s, decode {measured.decode_seconds:.1f} s ({measured.n_decoded} distinct "
          f"of {measured.n_codes} codes, batch {args.batch_size}), probe {measured.probe_seconds:.2f} s, "
          f"{torch.get_num_threads()} thread(s)\n")
    print(format_table(measured))
    if args.save:
        with open(args.save, "w") as handle:
            json.dump(measurement_record(measured), handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
