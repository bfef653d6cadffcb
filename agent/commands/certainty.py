"""`latent-explainer certainty SAMPLE [SAMPLE ...] [--json] [--measure groups|cosine]`: how the gate
decides on a set of explanation samples: the certainty, the groups of samples that mean the same
(sample indices), the threshold in force and the decision (accept / reject).

The threshold in force is the one `explain` would use offline with the same settings: a given
--threshold (or LATENT_EXPLAINER_THRESHOLD), else the calibrated one for the offline backend
and this measure (tools/certainty/calibration.py), else the settings default. Samples are read
as free text (tools/certainty/claim_parser.py); each sample's claims are printed beside it.
"""

from __future__ import annotations

import argparse
import json

from agent.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("certainty", help="score a set of explanation samples the way the gate does")
    p.add_argument("samples", nargs="+", metavar="SAMPLE", help="one explanation sample per argument")
    p.add_argument("--measure", choices=["groups", "cosine"],
                   help="certainty measure (default: the certainty_measure setting, groups)")
    p.add_argument("--threshold", type=float, help="judge against this threshold instead of the calibrated one")
    p.add_argument("--json", action="store_true", help="print {certainty, threshold, decision, groups, measure}")
    p.set_defaults(run=run)


def judge(samples: list[str], measure: str | None = None, threshold: float | None = None) -> dict:
    """The gate's verdict on the samples, as printed by --json (plus per-sample claims, the
    representative and where the threshold came from)."""
    from agent.settings import Settings
    from tools.certainty.measures import measure_certainty

    overrides = {"certainty_measure": measure, "threshold": threshold}
    settings = Settings.resolve(overrides)
    if any(not s.strip() for s in samples):
        raise UserError("an empty sample was given; every SAMPLE must be an explanation sentence")
    result = measure_certainty(samples, settings.certainty_measure)
    decision = "accept" if result.certainty >= settings.threshold else "reject"
    return {
        "certainty": round(result.certainty, 4),
        "threshold": settings.threshold,
        "decision": decision,
        "groups": result.groups,
        "measure": result.measure,
        "threshold_source": settings.threshold_source,
        "representative": result.representative,
        "claims": result.claims,
    }


def run(args: argparse.Namespace) -> int:
    verdict = judge(args.samples, args.measure, args.threshold)
    if args.json:
        print(json.dumps({k: verdict[k] for k in ("certainty", "threshold", "decision", "groups", "measure")}))
        return 0
    print(f"certainty  {verdict['certainty']:.3f} ({verdict['measure']})")
    print(f"threshold  {verdict['threshold']:.4g} ({verdict['threshold_source']})")
    print(f"decision   {verdict['decision']}")
    for number, group in enumerate(verdict["groups"], 1):
        print(f"group {number}    samples {', '.join(str(i) for i in group)}")
    for i, (sample, claims) in enumerate(zip(args.samples, verdict["claims"], strict=True)):
        said = "; ".join(f"{c['property']}: {c['change']}" for c in claims) or "no claim"
        mark = "*" if verdict["decision"] == "accept" and i == verdict["representative"] else " "
        print(f"{mark}[{i}] {sample}  -> {said}")
    return 0
