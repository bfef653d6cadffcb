"""Fidelity benchmark: true, swapped and flipped explanations on fresh traversals.

    python benchmarks/fidelity.py [--model builtin:dsprites-btcvae] [--trials 32] [--out DIR] [--threshold T]

Runs `latent-explainer explain` offline (the agent's own fidelity step, --fidelity-trials N),
then rescores, on the same fresh traversals the run rendered (tools/fidelity/fresh_traversals.py,
seed + 1000), each explained latent's accepted claims three ways: as given (true), with
another explained latent's claims (swapped: the explanation of z_b read against z_a's
traversals, z_b the next explained latent), and with every direction word flipped (flipped).
Prints a markdown table (per explained latent: detection, direction, their Wilson 95%
intervals) and the means.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from agent.cli import main as cli
    from tools.certainty.claims import Claim, opposite
    from tools.fidelity import simulator
    from tools.fidelity.simulator import read_traversals, simulate_fidelity
    from tools.traversal.check import load_traversal

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="builtin:dsprites-btcvae")
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--out", default=None)
    parser.add_argument("--threshold", default=None,
                        help="explain's --threshold (0 accepts every explanation: to score hard negatives)")
    parser.add_argument("--reuse", action="store_true", help="rescore the run already in --out (no new explain)")
    parser.add_argument("--unclaimed-weight", type=float, default=None, help="the simulator's UNCLAIMED_WEIGHT")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="fidelity-bench-")) / "run"
    run = ["explain", "--model", args.model, "--out", str(out), "--fidelity-trials", str(args.trials), "--quiet"]
    run += ["--threshold", args.threshold] if args.threshold is not None else []
    if not args.reuse and cli(run) != 0:
        return 1
    if args.unclaimed_weight is not None:
        simulator.UNCLAIMED_WEIGHT = args.unclaimed_weight
        simulator.MeasuredSimulator.__init__.__defaults__ = (args.unclaimed_weight,)
    results = json.loads((out / "results.json").read_text())
    explained = [e for e in results["latents"] if e["status"] == "explained" and e.get("fidelity")]
    readings = {}

    def reading(path: str):
        if path not in readings:
            readings[path] = read_traversals(load_traversal(out / path).frames.astype(np.float32))
        return readings[path]

    def claims_of(entry: dict) -> list[Claim]:
        medoid = entry["samples"].index(entry["explanation"])
        return [Claim.from_dict(c) for c in entry["sample_claims"][medoid]]

    def flip(claim: Claim) -> Claim:
        """The opposite direction; "from A to B" read backwards."""
        if claim.change.startswith("from ") and " to " in claim.change:
            return Claim(claim.property, "from " + " to ".join(reversed(claim.change[5:].split(" to "))))
        return Claim(claim.property, opposite(claim.change) or claim.change)

    rows, sums = [], {"true": [], "swapped": [], "flipped": []}
    for n, entry in enumerate(explained):
        fidelity = entry["fidelity"]
        seed = fidelity["seed"]
        target, *distractors = (reading(path) for path in fidelity["traversals"])
        other = explained[(n + 1) % len(explained)]
        variants = {
            "true": claims_of(entry),
            "swapped": claims_of(other),
            "flipped": [flip(c) for c in claims_of(entry)],
        }
        cells = []
        for name, claims in variants.items():
            record = simulate_fidelity(claims, target, distractors, args.trials, seed=seed)
            sums[name].append((record["detection"], record["direction"]))
            cells.append(f"{record['detection']:.2f} [{record['detection_ci'][0]:.2f}, {record['detection_ci'][1]:.2f}] / "
                         f"{record['direction']:.2f} [{record['direction_ci'][0]:.2f}, {record['direction_ci'][1]:.2f}]")
        agent = f"{fidelity['detection']:.2f} / {fidelity['direction']:.2f}"
        claim_text = "; ".join(f"{c.property} {c.change}" for c in variants["true"])
        rows.append(f"| {entry['id']} | {claim_text} | {fidelity['chance']['detection']:.2f} | {agent} | "
                    f"{' | '.join(cells)} | {other['id']} |")
    print(f"model {args.model}, {args.trials} trials per task, fresh anchors seed {explained[0]['fidelity']['seed'] if explained else '-'}")
    print("| latent | claims (kept sample) | detection chance | agent's run: detection / direction | "
          "true: detection [95% CI] / direction [95% CI] | swapped | flipped | swapped with |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    means = " | ".join(f"{np.mean([d for d, _ in v]):.2f} / {np.mean([r for _, r in v]):.2f}" for v in sums.values())
    print(f"| mean | | | | {means} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
