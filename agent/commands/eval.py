"""`latent-explainer eval [--model M] [--out DIR] [--json]`: explain a model trained on labelled
data, then measure the explanations against what the labels say each latent controls. The
pipeline is agent/evaluation.py; this module is its command line and its printed report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agent.commands.explain import add_settings_arguments
from agent.errors import UserError
from agent.evaluation import DEFAULT_LABELLED_IMAGES, DEFAULT_PROBE_ANCHORS, EVALUATION_FILE, ROC_FILE, evaluate_model
from tools.data.labelled import LABELLED_DATASETS
from tools.models.builtin import DEFAULT_MODEL


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="explain a labelled model and score the explanations against its labels")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"builtin:NAME or a checkpoint folder (vae, csvae: through the encoder; ddpm: through a "
                        f"factor probe), trained on {', '.join(LABELLED_DATASETS)} (default {DEFAULT_MODEL})")
    p.add_argument("--out", type=Path, help="the run folder (default: a new folder under runs/)")
    p.add_argument("--json", action="store_true", help="print the evaluation as one JSON object")
    p.add_argument("--n-images", type=int, default=DEFAULT_LABELLED_IMAGES,
                   help=f"labelled images encoded for the ground truth, DCI and SAP (default {DEFAULT_LABELLED_IMAGES})")
    p.add_argument("--label-seed", type=int, default=0, help="seed of the labelled sample (default 0)")
    p.add_argument("--anchors", type=int, default=DEFAULT_PROBE_ANCHORS,
                   help=f"ddpm: anchor codes per direction the factor probe reads (default {DEFAULT_PROBE_ANCHORS})")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_settings_arguments(p)
    p.set_defaults(run=run)



def _sample_words(ground_truth: dict) -> str:
    """What the truth was measured on, in words: labelled images, or a probe's traversals."""
    if str(ground_truth.get("method", "")).startswith("factor probe"):
        return f"{ground_truth['method']}; MIG is the probe's gap statistic"
    return f"{ground_truth['n_images']} labelled {ground_truth.get('dataset', '')} images"


def _number(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _fidelity_words(fidelity: dict) -> str:
    """"naming a true factor (n=4): detection 0.9, direction 1.0; the rest (n=0): n/a"."""
    def part(label: str, group: dict | None) -> str:
        group = group or {"n": 0}
        if not group.get("n"):
            return f"{label} (n=0): n/a"
        return f"{label} (n={group['n']}): detection {_number(group['detection'])}, direction {_number(group['direction'])}"
    return part("naming a true factor", fidelity.get("named_true")) + "; " + part("the rest", fidelity.get("rest"))


def format_report(summary: dict, width: int = 70) -> str:
    """The per-latent table (latent, truth, status, certainty, named?, explanation) and the
    summary lines, as text; the first two columns widen to their longest entry."""
    ids = max([7, *(len(row["latent"]) for row in summary["latents"])])
    truths = max([22, *(len(row["truth_label"]) for row in summary["latents"])])
    lines = [f"{'latent':<{ids}} {'truth':<{truths}} {'status':<9} {'certainty':>9}  {'named?':<6} explanation"]
    for row in summary["latents"]:
        named = "-"
        if row["active"]:
            named = "yes" if row.get("strict_correct") else "some" if row["named_true"] else "no"
        text = row["explanation"] or "No clear explanation"
        if len(text) > width:
            text = text[: width - 3] + "..."
        lines.append(f"{row['latent']:<{ids}} {row['truth_label']:<{truths}} {row['status']:<9} {row['certainty']:>9.3f}  "
                     f"{named:<6} {text}")
    dci, text = summary["dci"] or {}, summary["text"]
    correct = sum(r["active"] and r["status"] == "explained" and r["named_true"] for r in summary["latents"])
    strict = sum(bool(r.get("strict_correct")) for r in summary["latents"])
    lines += [
        "",
        f"model            {summary['model']}  (vision: {(summary.get('backend') or {}).get('vision', 'n/a')})",
        f"factor accuracy  strict {strict}/{summary['n_active']} = {_percent(summary.get('strict_factor_accuracy'))} "
        "(a true factor named, no false one); "
        f"lenient {correct}/{summary['n_active']} = {_percent(summary['factor_accuracy'])} (a true factor named)",
        f"factors named    precision {_percent(summary.get('factor_precision'))}, "
        f"recall {_percent(summary.get('factor_recall'))}",
        f"gating           AUC {_number(summary['gating_auc'])}, F1 {_number(summary['gating_f1'])}, "
        f"Jaccard {_number(summary['gating_jaccard'])} at threshold {_number(summary['threshold'])} "
        f"({summary.get('certainty_measure', summary['similarity_measure'])}; "
        f"threshold from {summary.get('threshold_source') or 'n/a'})",
        f"disentanglement  MIG {_number(summary['mig'])}, DCI D {_number(dci.get('disentanglement'))} "
        f"C {_number(dci.get('completeness'))} I {_number(dci.get('informativeness'))}, SAP {_number(summary['sap'])} "
        f"({_sample_words(summary['ground_truth'])})",
        f"text (n={text['n']})       BLEU-4 {_number(text['bleu4'])}, ROUGE-L {_number(text['rouge_l'])}, "
        f"METEOR {_number(text['meteor'])} (exact+stem), embedding {_number(text['embedding'])}",
        "fidelity         " + _fidelity_words(summary.get("fidelity") or {}),
        f"files            {Path(summary['run_dir']) / ROC_FILE}, {EVALUATION_FILE}, report.html",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from agent.commands.explain import settings_from_args

    settings = settings_from_args(args)
    if args.anchors < 2:
        raise UserError(f"--anchors must be at least 2 (the probe compares anchors), got {args.anchors}")
    summary = evaluate_model(args.model, settings, args.out, args.n_images, args.label_seed, args.quiet, args.anchors)
    print(json.dumps(summary, indent=2) if args.json else format_report(summary))
    return 0
