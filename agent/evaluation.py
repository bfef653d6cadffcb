"""The evaluation pipeline of a labelled model, as a library: `latent-explainer eval`, `calibrate`,
`sweep` and benchmarks/quality.py call it. It explains a model trained on labelled data, then
measures the explanations against what the labels say each latent controls.

Steps (`evaluate_model`):
1. The model must be one whose ground truth can be measured (tools/evaluation/model_ground_truth.py): a
   built-in model or a checkpoint folder, of a family with a measure (vae and csvae, through
   their encoders), trained on a labelled dataset (dsprites, shapes3d). Anything else
   (FILE.py:FN, disvae:, a DDPM, a model of an unlabelled dataset) is a one-line UserError
   before any work.
2. Measure the ground truth on `n_images` labelled renders (seeded): per latent, the factors it
   controls, and the MIG (tools/evaluation/ground_truth.py); DCI and SAP (tools/evaluation/disentanglement_metrics.py)
   of the encoded sample.
3. Run `explain` on the model into the run folder.
4. Score the results (tools/evaluation/scoring.py): per latent truth, named factors, certainty,
   status; strict and lenient factor accuracy, factor precision and recall; gating AUC, F1
   and Jaccard; where the threshold came from. Text metrics (tools/evaluation/text_metrics.py)
   of every explained active latent against reference explanations of its true factors.
5. Write roc.png (certainty against "active", the run's threshold marked) and
   evaluation.json into the run folder, add both to results.json's "links" and re-write
   results.json and report.html.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.settings import Settings
    from tools.evaluation.ground_truth import GroundTruth
    from tools.evaluation.model_ground_truth import LabelledModel, MeasuredTruth

ROC_FILE = "roc.png"
EVALUATION_FILE = "evaluation.json"
DEFAULT_LABELLED_IMAGES = 10_000
DEFAULT_PROBE_ANCHORS = 24


def labelled_checkpoint(model_ref: str) -> LabelledModel:
    """The checked model of step 1 (tools.evaluation.model_ground_truth.labelled_model); loads nothing."""
    from tools.evaluation.model_ground_truth import labelled_model

    return labelled_model(model_ref)


def measure_truth(model_ref: str, n_images: int, seed: int, device: str | None,
                  anchors: int = DEFAULT_PROBE_ANCHORS, traversal_range: float | None = None) -> MeasuredTruth:
    """Step 2's ground truth of the model, measured on a labelled sample of n_images drawn with
    `seed` (a DDPM: `anchors` probed traversals over the range explain uses); the model runs on
    `device` (auto: CUDA when present)."""
    from tools.evaluation.model_ground_truth import measure_ground_truth

    return measure_ground_truth(labelled_checkpoint(model_ref), n_images, seed, device, anchors, traversal_range)


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
    from tools.certainty.similarity import SIMILARITY_MEASURE
    from tools.evaluation.roc import operating_point, roc_curve, write_roc_png
    from tools.evaluation.scoring import evaluate_results, json_ready
    from tools.evaluation.text_metrics import mean_text_scores, reference_explanations, text_scores

    results = json.loads((run_dir / RESULTS_FILE).read_text())
    evaluation = evaluate_results(results, truth)
    rows, scored = [], []
    entries = results.get("latents") or []
    for row, row_dict, entry in zip(evaluation.rows, evaluation.to_dict()["rows"], entries, strict=True):
        text = None
        if row.active and row.status == "explained" and row.explanation:
            text = text_scores(row.explanation, reference_explanations(row.truth, truth.dataset))
            scored.append(text)
        rows.append(row_dict | {"text": text.to_dict() if text else None, "groups": entry.get("groups"),
                                "fidelity": entry.get("fidelity")})
    certainties, active = [r.certainty for r in evaluation.rows], [r.active for r in evaluation.rows]
    curve = roc_curve(certainties, active)
    marked = operating_point(certainties, active, evaluation.threshold) if evaluation.threshold is not None else None
    write_roc_png(curve, run_dir / ROC_FILE, title="certainty vs ground truth", marked=marked)
    summary = {
        "model": model_ref,
        "run_dir": str(run_dir),
        "backend": results.get("backend"),
        "similarity_measure": SIMILARITY_MEASURE,
        "certainty_measure": _certainty_measure(results),
        "threshold": evaluation.threshold,
        "threshold_source": evaluation.threshold_source,
        "n_latents": len(rows),
        "n_active": evaluation.n_active,
        "n_explained": evaluation.n_explained,
        "factor_accuracy": evaluation.factor_accuracy,
        "strict_factor_accuracy": evaluation.strict_factor_accuracy,
        "factor_precision": evaluation.factor_precision,
        "factor_recall": evaluation.factor_recall,
        "gating_auc": evaluation.gating_auc,
        "gating_f1": evaluation.gating_f1,
        "gating_jaccard": evaluation.gating_jaccard,
        **disentanglement,
        "text": mean_text_scores(scored),
        "fidelity": fidelity_by_truth(rows),
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


def fidelity_by_truth(rows: list[dict]) -> dict:
    """Mean fidelity (detection, direction) of the explained latents whose explanation names a
    true factor ("named_true": the lenient reading) and of the other explained ones ("rest"):
    {group: {n, detection, direction}}; None where a group has no scored latent."""
    groups: dict[str, list[dict]] = {"named_true": [], "rest": []}
    for row in rows:
        fidelity = row.get("fidelity")
        if row.get("status") == "explained" and isinstance(fidelity, dict):
            groups["named_true" if row.get("active") and row.get("named_true") else "rest"].append(fidelity)

    def mean(records: list[dict], key: str) -> float | None:
        return round(sum(r[key] for r in records) / len(records), 4) if records else None

    return {name: {"n": len(records), "detection": mean(records, "detection"), "direction": mean(records, "direction")}
            for name, records in groups.items()}


def _certainty_measure(results: dict) -> str:
    """The certainty measure the run's entries were gated with (the saved name,
    tools/certainty/measures.py); the paper's cosine for runs that do not record one."""
    from tools.certainty.similarity import SIMILARITY_MEASURE

    for entry in results.get("latents") or []:
        if entry.get("certainty_measure"):
            return str(entry["certainty_measure"])
    return SIMILARITY_MEASURE


def measure_disentanglement(measured: MeasuredTruth) -> dict:
    """MIG (from the truth), DCI and SAP of the encoded labelled sample (codes (N, D), factors
    (N, F) in the dataset's factor order); DCI and SAP are None when the truth was measured
    without codes. A JSON-ready dict."""
    from tools.evaluation.disentanglement_metrics import dci, sap

    truth = measured.truth
    scores: dict = {"dci": None, "sap": None}
    if measured.codes is not None and measured.factors is not None:
        dci_scores = dci(measured.codes, measured.factors, seed=measured.seed)
        categorical = [name in measured.dataset.categorical for name in truth.factor_names]
        scores = {
            "dci": {
                "disentanglement": dci_scores.disentanglement,
                "completeness": dci_scores.completeness,
                "informativeness": dci_scores.informativeness,
            },
            "sap": sap(measured.codes, measured.factors, categorical, seed=measured.seed).score,
        }
    return {
        "mig": truth.mig,
        **scores,
        "ground_truth": {"dataset": truth.dataset, "method": measured.method, "n_images": measured.n_images,
                         "seed": measured.seed, "orientation_folded": truth.orientation_folded},
    }


def evaluate_model(model_ref: str, settings: Settings, out: Path | None, n_images: int = DEFAULT_LABELLED_IMAGES,
                   label_seed: int = 0, quiet: bool = False, anchors: int = DEFAULT_PROBE_ANCHORS) -> dict:
    """The whole evaluation of one model (module docstring, steps 1-5); returns the JSON-ready
    summary that `eval --json` prints. settings: agent.settings.Settings for the explain run."""
    from agent.request import resolve_request
    from agent.run import run_explain
    from tools.models.references import parse_model_ref

    ref = str(parse_model_ref(model_ref))
    family = labelled_checkpoint(ref).family  # a model eval cannot judge is refused before any work
    sample = f"{anchors} probed traversals per direction" if family == "ddpm" else f"{n_images} labelled images"
    _say(quiet, f"latent-explainer: measuring the ground truth of {ref} on {sample}")
    measured = measure_truth(ref, n_images, label_seed, settings.device, anchors, settings.traversal_range)
    truth = measured.truth
    disentanglement = measure_disentanglement(measured)
    run_dir = run_explain(resolve_request(ref, None, settings, out=out, progress="quiet" if quiet else "lines"))
    return evaluate_run(run_dir, truth, ref, disentanglement)
