"""`latent-explainer eval [--model M] [--out DIR] [--json]`: explain a model trained on labelled
data, then measure the explanations against what the labels say each latent controls.

Steps (`evaluate_model`):
1. The model must be a VAE with its encoder, trained on a labelled dataset: a built-in VAE or a
   `latent-explainer train` checkpoint folder whose config names dataset "dsprites"
   (LABELLED_DATASETS). Any other model (FILE.py:FN, disvae:, CSVAE) is a UserError here:
   reading the factors of a model known by its decoder needs a probe (another issue).
2. Encode `n_images` labelled renders (seeded) with the model's encoder; from the codes: the
   ground truth per latent and the MIG (tools/ground_truth.py), DCI and SAP
   (tools/disentanglement_metrics.py).
3. Run `explain` on the model into the run folder.
4. Score the results (tools/evaluation.py): per latent truth, named factors, certainty,
   status; factor accuracy; gating AUC, F1 and Jaccard. Text metrics (tools/text_metrics.py)
   of every explained active latent against reference explanations of its true factors.
5. Write roc.png (certainty against "active", the run's threshold marked) and
   evaluation.json into the run folder, add both to results.json's "links" and re-write
   results.json and report.html.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.commands.explain import add_settings_arguments
from agent.errors import UserError
from tools.builtin_models import DEFAULT_MODEL

if TYPE_CHECKING:
    import numpy as np

    from agent.settings import Settings
    from tools.ground_truth import GroundTruth

LABELLED_DATASETS = ("dsprites",)
CATEGORICAL_FACTORS = ("shape",)
ROC_FILE = "roc.png"
EVALUATION_FILE = "evaluation.json"
DEFAULT_LABELLED_IMAGES = 10_000


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="explain a labelled model and score the explanations against its labels")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"builtin:NAME or a checkpoint folder with an encoder, trained on {', '.join(LABELLED_DATASETS)} "
                        f"(default {DEFAULT_MODEL})")
    p.add_argument("--out", type=Path, help="the run folder (default: a new folder under runs/)")
    p.add_argument("--json", action="store_true", help="print the evaluation as one JSON object")
    p.add_argument("--n-images", type=int, default=DEFAULT_LABELLED_IMAGES,
                   help=f"labelled images encoded for the ground truth, DCI and SAP (default {DEFAULT_LABELLED_IMAGES})")
    p.add_argument("--label-seed", type=int, default=0, help="seed of the labelled sample (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_settings_arguments(p)
    p.set_defaults(run=run)


def labelled_checkpoint(model_ref: str) -> tuple[Path, str]:
    """(checkpoint folder, dataset) of a model whose ground truth can be measured (step 1)."""
    from tools.builtin_models import BUILTIN_MODELS
    from tools.checkpoint import read_checkpoint_record
    from tools.model_ref import parse_model_ref

    ref = parse_model_ref(model_ref)
    if ref.kind not in ("builtin", "checkpoint"):
        raise UserError(
            f"eval needs a model with its encoder and labelled data (a built-in model or a checkpoint folder from "
            f"`latent-explainer train`); {model_ref!r} is a {ref.kind} reference, and models known only by their "
            "decoder are not supported yet"
        )
    if ref.kind == "builtin":
        model = BUILTIN_MODELS[ref.target]
        folder, dataset, family = model.folder, model.dataset, model.loader
    else:
        folder = Path(ref.target)
        record = read_checkpoint_record(folder)
        dataset, family = record.get("model", {}).get("dataset"), record.get("family", "vae")
    if family != "vae":
        raise UserError(
            f"eval measures ground truth with a VAE's encoder; {model_ref!r} is a {family} model, not supported yet"
        )
    if dataset not in LABELLED_DATASETS:
        raise UserError(
            f"model {model_ref!r} was trained on dataset {dataset!r}; eval measures ground truth only for "
            f"{', '.join(LABELLED_DATASETS)}"
        )
    return folder, dataset


def encode_labelled(
    model_ref: str, n_images: int, seed: int, device: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(means (N, D), logvars (N, D), factors (N, 5)) of the labelled sample encoded by the
    model (step 2); the encoder runs on `device` (auto: CUDA when present)."""
    from tools.checkpoint import CheckpointError, load_checkpoint
    from tools.device import resolve_device
    from tools.ground_truth import encode_labelled_sample

    folder, _ = labelled_checkpoint(model_ref)
    torch_device = resolve_device(device)
    try:
        model = load_checkpoint(folder, torch_device)
    except CheckpointError as error:
        raise UserError(str(error)) from None
    return encode_labelled_sample(model.encode, model.latent_dim, n_images, seed, torch_device)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _relink(run_dir: Path, results: dict, links: list[dict]) -> None:
    """Add `links` to results["links"] (replacing entries with the same path) and re-write
    results.json and report.html."""
    from agent.nodes.reporter import write_outputs

    paths = {link["path"] for link in links}
    results["links"] = [link for link in results.get("links") or [] if link.get("path") not in paths] + links
    write_outputs(run_dir, results)


def evaluate_run(run_dir: Path, truth: GroundTruth, model_ref: str, disentanglement: dict) -> dict:
    """Score the run in run_dir against `truth` (a GroundTruth) and write roc.png and
    evaluation.json (steps 4-5); returns the evaluation as a JSON-ready dict."""
    from agent.nodes.reporter import RESULTS_FILE
    from tools.evaluation import evaluate_results, json_ready
    from tools.roc import operating_point, roc_curve, write_roc_png
    from tools.similarity import SIMILARITY_MEASURE
    from tools.text_metrics import mean_text_scores, reference_explanations, text_scores

    results = json.loads((run_dir / RESULTS_FILE).read_text())
    evaluation = evaluate_results(results, truth)
    rows, scored = [], []
    for row, row_dict in zip(evaluation.rows, evaluation.to_dict()["rows"], strict=True):
        text = None
        if row.active and row.status == "explained" and row.explanation:
            text = text_scores(row.explanation, reference_explanations(row.truth))
            scored.append(text)
        rows.append(row_dict | {"text": text.to_dict() if text else None})
    certainties, active = [r.certainty for r in evaluation.rows], [r.active for r in evaluation.rows]
    curve = roc_curve(certainties, active)
    marked = operating_point(certainties, active, evaluation.threshold) if evaluation.threshold is not None else None
    write_roc_png(curve, run_dir / ROC_FILE, title="certainty vs ground truth", marked=marked)
    summary = {
        "model": model_ref,
        "run_dir": str(run_dir),
        "backend": results.get("backend"),
        "similarity_measure": SIMILARITY_MEASURE,
        "threshold": evaluation.threshold,
        "n_latents": len(rows),
        "n_active": evaluation.n_active,
        "n_explained": evaluation.n_explained,
        "factor_accuracy": evaluation.factor_accuracy,
        "gating_auc": evaluation.gating_auc,
        "gating_f1": evaluation.gating_f1,
        "gating_jaccard": evaluation.gating_jaccard,
        **disentanglement,
        "text": mean_text_scores(scored),
        "roc": {"fpr": curve.fpr, "tpr": curve.tpr, "thresholds": curve.thresholds},
        "latents": rows,
        "files": {"roc": ROC_FILE, "evaluation": EVALUATION_FILE},
    }
    summary = json_ready(summary)
    (run_dir / EVALUATION_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    _relink(run_dir, results, [
        {"label": "ROC of certainty against ground-truth activity", "path": ROC_FILE},
        {"label": "Evaluation against the labels (JSON)", "path": EVALUATION_FILE},
    ])
    return summary


def measure_disentanglement(
    means: np.ndarray, factors: np.ndarray, truth: GroundTruth, n_images: int, seed: int
) -> dict:
    """MIG (from truth), DCI and SAP of the encoded labelled sample: means (N, D), factors
    (N, 5) in truth.factor_names order; a JSON-ready dict."""
    from tools.disentanglement_metrics import dci, sap

    dci_scores = dci(means, factors, seed=seed)
    categorical = [name in CATEGORICAL_FACTORS for name in truth.factor_names]
    return {
        "mig": truth.mig,
        "dci": {
            "disentanglement": dci_scores.disentanglement,
            "completeness": dci_scores.completeness,
            "informativeness": dci_scores.informativeness,
        },
        "sap": sap(means, factors, categorical, seed=seed).score,
        "ground_truth": {"n_images": n_images, "seed": seed, "orientation_folded": truth.orientation_folded},
    }


def evaluate_model(model_ref: str, settings: Settings, out: Path | None, n_images: int = DEFAULT_LABELLED_IMAGES,
                   label_seed: int = 0, quiet: bool = False) -> dict:
    """The whole evaluation of one model (module docstring, steps 1-5); returns the JSON-ready
    summary that `eval --json` prints. settings: agent.settings.Settings for the explain run."""
    from agent.run import RunRequest, run_explain
    from tools.ground_truth import ground_truth_from_codes
    from tools.model_ref import parse_model_ref

    ref = str(parse_model_ref(model_ref))
    labelled_checkpoint(ref)  # a model eval cannot judge is refused before any work
    _say(quiet, f"latent-explainer: encoding {n_images} labelled images with {ref}")
    means, logvars, factors = encode_labelled(ref, n_images, label_seed, settings.device)
    truth = ground_truth_from_codes(means, logvars, factors)
    disentanglement = measure_disentanglement(means, factors, truth, n_images, label_seed)
    run_dir = run_explain(RunRequest(model_ref=ref, bias_formula=None, settings=settings, out=out,
                                     progress="quiet" if quiet else "lines"))
    return evaluate_run(run_dir, truth, ref, disentanglement)


def _number(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_report(summary: dict, width: int = 70) -> str:
    """The per-latent table (latent, truth, status, certainty, named?, explanation) and the
    summary lines, as text."""
    lines = [f"{'latent':<7} {'truth':<22} {'status':<9} {'certainty':>9}  {'named?':<6} explanation"]
    for row in summary["latents"]:
        named = ("yes" if row["named_true"] else "no") if row["active"] else "-"
        text = row["explanation"] or "No clear explanation"
        if len(text) > width:
            text = text[: width - 3] + "..."
        lines.append(f"{row['latent']:<7} {row['truth_label']:<22} {row['status']:<9} {row['certainty']:>9.3f}  "
                     f"{named:<6} {text}")
    dci, text = summary["dci"], summary["text"]
    correct = sum(r["active"] and r["status"] == "explained" and r["named_true"] for r in summary["latents"])
    lines += [
        "",
        f"model            {summary['model']}  (vision: {(summary.get('backend') or {}).get('vision', 'n/a')})",
        f"factor accuracy  {correct}/{summary['n_active']} = {_percent(summary['factor_accuracy'])} "
        "(active latents explained with a true factor named)",
        f"gating           AUC {_number(summary['gating_auc'])}, F1 {_number(summary['gating_f1'])}, "
        f"Jaccard {_number(summary['gating_jaccard'])} at threshold {_number(summary['threshold'])} "
        f"({summary['similarity_measure']})",
        f"disentanglement  MIG {_number(summary['mig'])}, DCI D {_number(dci['disentanglement'])} "
        f"C {_number(dci['completeness'])} I {_number(dci['informativeness'])}, SAP {_number(summary['sap'])} "
        f"({summary['ground_truth']['n_images']} labelled images)",
        f"text (n={text['n']})       BLEU-4 {_number(text['bleu4'])}, ROUGE-L {_number(text['rouge_l'])}, "
        f"METEOR {_number(text['meteor'])} (exact+stem), embedding {_number(text['embedding'])}",
        f"files            {Path(summary['run_dir']) / ROC_FILE}, {EVALUATION_FILE}, report.html",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from agent.commands.explain import settings_from_args

    settings = settings_from_args(args)
    summary = evaluate_model(args.model, settings, args.out, args.n_images, args.label_seed, args.quiet)
    print(json.dumps(summary, indent=2) if args.json else format_report(summary))
    return 0
