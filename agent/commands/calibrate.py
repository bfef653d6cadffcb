"""`latent-explainer calibrate --model M [--model M2 ...] [--out FILE] [--method ...]`: choose the
certainty threshold by leave-one-model-out cross-validation and save it, per certainty measure,
with the vision backend it belongs to (tools/certainty/calibration.py).

Steps:
1. Per model (each must be one `eval` can judge: tools/evaluation/model_ground_truth.py): its ground truth
   from a labelled sample, then an `explain` run with the gate open (threshold -1): every
   latent whose frames change is accepted at its first attempt, so its certainty is the raw
   agreement of its samples, not one raised by re-drawing anchors after a rejection. Frames
   that barely change are still widened as usual; a latent whose frames never change keeps the
   certainty of its "no change" samples. Unless --no-hard-negatives, the hard-negative model
   (tools/evaluation/hard_negatives.py: latents whose frames change without one meaning,
   labelled as not controlling a factor) is one more model; unless --no-corpus, the tuning
   half of the gate corpus (tests/data/gate_corpus.json: hand-written sample sets, consistent
   ones labelled positive, contradictory ones negative) is one more "model" too. Its held-out
   half is never used here.
2. Per certainty measure (--measure, default every one of tools/certainty/measures.py): the
   certainty of every latent's recorded samples (and claims) under that measure; label
   "active" as in tools/evaluation/scoring.py.
3. Leave one model out (tools/evaluation/cross_validation.py): per held-out model, the
   threshold chosen on the other models, applied to the held-out one; held-out F1, false
   accepts and AUC with bootstrap intervals. The choice (tools/evaluation/roc.py): by default
   "bounded-fpr", the most active latents accepted with at most 5% of the others accepted (the
   product's promise is "no clear explanation" rather than a wrong one); --method max-jaccard
   is the criterion of LatentExplainer (Zhu et al. 2024), --method youden Youden's J.
4. Save the cross-validated threshold (the median of the fold thresholds) per (backend,
   measure) to --out with the statistics behind it, and draw the pooled ROC beside it
   (<out stem>-<measure>-roc.png).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from agent.commands.explain import add_settings_arguments
from agent.errors import UserError
from agent.evaluation import DEFAULT_LABELLED_IMAGES

OPEN_GATE = -1.0
DEFAULT_OUT = Path("calibration.json")

if TYPE_CHECKING:
    from agent.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("calibrate", help="choose the certainty threshold from labelled models")
    p.add_argument("--model", action="append", required=True,
                   help="a labelled model (builtin:NAME or a checkpoint folder); repeat for several")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"calibration file to write or update (default {DEFAULT_OUT}); point "
                        "LATENT_EXPLAINER_CALIBRATION at it, or ship it as tools/certainty/calibration.json")
    p.add_argument("--method", choices=["bounded-fpr", "max-jaccard", "youden"], default="bounded-fpr",  # roc.METHODS
                   help="the most latents accepted with at most 5%% false accepts (default), the Jaccard agreement of "
                        "acceptance with activity (the paper's), or Youden's J")
    p.add_argument("--measure", action="append", choices=["groups", "cosine"],
                   help="calibrate this certainty measure (repeat; default: every measure)")
    p.add_argument("--no-hard-negatives", action="store_true",
                   help="leave out the hard-negative model (tools/evaluation/hard_negatives.py)")
    p.add_argument("--no-corpus", action="store_true",
                   help="leave out the tuning half of the gate corpus (tests/data/gate_corpus.json)")
    p.add_argument("--n-images", type=int, default=DEFAULT_LABELLED_IMAGES,
                   help=f"labelled images encoded for the ground truth (default {DEFAULT_LABELLED_IMAGES})")
    p.add_argument("--label-seed", type=int, default=0, help="seed of the labelled sample (default 0)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where the explain runs go (default runs/)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_settings_arguments(p)
    p.set_defaults(run=run)


HARD_NEGATIVES = "hard-negatives"
CORPUS_MODEL = "gate-corpus-tuning"
CORPUS_FILE = Path(__file__).resolve().parents[2] / "tests" / "data" / "gate_corpus.json"


def corpus_rows() -> list[dict]:
    """The tuning half of the gate corpus as calibration rows (one per sample set; positive when
    the set is consistent). UserError when the corpus file is not there (an installed package
    does not carry tests/: pass --no-corpus)."""
    if not CORPUS_FILE.is_file():
        raise UserError(f"the gate corpus {CORPUS_FILE} is not there (it lives in a source checkout); "
                        "pass --no-corpus to calibrate without it")
    corpus = json.loads(CORPUS_FILE.read_text())
    return [{"model": CORPUS_MODEL, "latent": s["id"], "samples": s["samples"], "sample_claims": None,
             "active": s["label"] == "consistent", "run_dir": None}
            for s in corpus["sets"] if s["split"] == "tuning"]


def open_gate_run(model_ref: str, settings: Settings, runs_dir: Path, quiet: bool) -> tuple[dict, Path]:
    """An explain run of the model with the gate open, in a new folder under runs_dir:
    (results.json as a dict, the run folder)."""
    from agent.nodes.reporter import RESULTS_FILE
    from agent.nodes.run_setup import new_run_dir
    from agent.request import resolve_request
    from agent.run import run_explain

    out = new_run_dir(None, model_ref, root=runs_dir)
    run_dir = run_explain(resolve_request(model_ref, None, replace(settings, threshold=OPEN_GATE), out=out,
                                          progress="quiet" if quiet else "lines"))
    return json.loads((run_dir / RESULTS_FILE).read_text()), run_dir


def raw_certainties(
    model_ref: str, settings: Settings, n_images: int, label_seed: int, runs_dir: Path, quiet: bool
) -> tuple[list[dict], dict]:
    """Step 1 for one model: its scored rows (tools.evaluation.scoring.LatentScore as dicts,
    plus the entry's samples and claims) from an open-gate explain run in a new folder under
    runs_dir, and the run's backend names. A latent whose run failed (a sandbox error or
    timeout: no samples) is left out: it says nothing about the gate. model_ref HARD_NEGATIVES: the hard-negative model
    with its truth by construction."""
    from agent.evaluation import measure_truth
    from tools.evaluation.scoring import evaluate_results
    from tools.models.references import parse_model_ref

    if model_ref == HARD_NEGATIVES:
        from tools.evaluation.hard_negatives import MODEL_REF, hard_negative_truth

        ref, truth = MODEL_REF, hard_negative_truth()
    else:
        ref = str(parse_model_ref(model_ref))
        truth = measure_truth(ref, n_images, label_seed, settings.device, traversal_range=settings.traversal_range).truth
    results, run_dir = open_gate_run(ref, settings, runs_dir, quiet)
    entries = results["latents"]
    rows = [row | {"model": model_ref, "run_dir": str(run_dir), "samples": entry.get("samples") or [],
                   "sample_claims": entry.get("sample_claims")}
            for row, entry in zip(evaluate_results(results, truth).to_dict()["rows"], entries, strict=True)]
    return [row for row in rows if row["status"] != "failed"], results.get("backend") or {}


def certainty_under(row: dict, measure: str) -> float:
    """Step 2: the certainty of one latent's recorded samples under `measure`."""
    from tools.certainty.measures import measure_certainty
    from tools.describe.describer import NO_CHANGE_TEXT

    samples = row["samples"]
    if not samples:
        return 0.0
    visible = [s != NO_CHANGE_TEXT for s in samples]
    return float(measure_certainty(samples, measure, row.get("sample_claims"), visible).certainty)


def calibrate_rows(rows: list[dict], measure: str, method: str) -> tuple[dict, list[float]]:
    """Steps 2-3 for one measure: (the cross-validation as a JSON-ready dict, the certainties)."""
    from tools.evaluation.cross_validation import leave_one_model_out
    from tools.evaluation.scoring import json_ready

    scores = [certainty_under(row, measure) for row in rows]
    cv = leave_one_model_out([row["model"] for row in rows], scores, [row["active"] for row in rows], method)
    return json_ready(cv.to_dict()), scores


def _interval(cv: dict, key: str) -> str:
    value, (low, high) = cv[key], cv["intervals"].get(key, [None, None])
    if value is None:
        return "n/a"
    return f"{value:.3f} [{'n/a' if low is None else f'{low:.3f}'}, {'n/a' if high is None else f'{high:.3f}'}]"


def run(args: argparse.Namespace) -> int:
    from agent.commands.explain import settings_from_args
    from agent.evaluation import labelled_checkpoint
    from tools.certainty.calibration import save_calibration
    from tools.certainty.measures import MEASURES, measure_id
    from tools.evaluation.roc import operating_point, roc_curve, write_roc_png
    from tools.evaluation.scoring import json_ready

    if args.threshold is not None:
        raise UserError(f"--threshold {args.threshold} has no meaning for calibrate: it runs with the gate open "
                        "and chooses the threshold")
    settings = settings_from_args(args)
    for model in args.model:  # every model is checked before the first run starts
        labelled_checkpoint(model)
    models = list(args.model) + ([] if args.no_hard_negatives else [HARD_NEGATIVES])
    corpus = [] if args.no_corpus else corpus_rows()  # checked before any run
    if len(models) + bool(corpus) < 2:
        raise UserError("leave-one-model-out calibration needs at least two models; give another --model "
                        "or leave the hard negatives in")
    rows, backends = [], set()
    for model in models:
        model_rows, backend = raw_certainties(model, settings, args.n_images, args.label_seed, args.runs_dir,
                                                args.quiet)
        rows += model_rows
        backends.add(backend.get("vision", "unknown"))
    if corpus:
        rows += corpus
        models.append(CORPUS_MODEL)
    (backend,) = backends  # one settings object, so one vision backend for every run
    active = [row["active"] for row in rows]
    for measure in args.measure or MEASURES:
        cv, scores = calibrate_rows(rows, measure, args.method)
        curve = roc_curve(scores, active)
        stats = json_ready({
            "selection": "leave-one-model-out (median of the fold thresholds)",
            "models": models,
            "runs": sorted({row["run_dir"] for row in rows if row["run_dir"]}),
            "latents": len(rows),
            "active": sum(active),
            "cross_validation": cv,
            "auc": curve.auc,
            "n_images": args.n_images,
            "label_seed": args.label_seed,
            "gate": f"open (threshold {OPEN_GATE}), max_attempts {settings.max_attempts}",
            "pairs": [{"model": r["model"], "latent": r["latent"], "certainty": round(c, 4), "active": r["active"]}
                      for r, c in zip(rows, scores, strict=True)],
        })
        path = save_calibration(args.out, cv["threshold"], measure_id(measure), backend, args.method, stats)
        marked = operating_point(scores, active, cv["threshold"], args.method)
        roc_path = write_roc_png(curve, path.with_name(f"{path.stem}-{measure}-roc.png"),
                                 title=f"calibration ({measure})", marked=marked)
        print(f"{measure}: threshold {cv['threshold']:.4f} (median of {len(cv['folds'])} leave-one-model-out folds; "
              f"all models together: {cv['all_models_threshold']:.4f}) over {len(rows)} latents "
              f"({sum(active)} active) of {len(models)} model(s); backend {backend}, measure {measure_id(measure)}")
        print(f"  held out: F1 {_interval(cv, 'f1')}, false accepts {_interval(cv, 'false_accept_rate')}, "
              f"AUC {_interval(cv, 'auc')} (95% bootstrap intervals)")
        print(f"  saved {path} (ROC: {roc_path})")
    print(f"use it with LATENT_EXPLAINER_CALIBRATION={Path(args.out).resolve()}")
    return 0
