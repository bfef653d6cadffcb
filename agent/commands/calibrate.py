"""`latent-explainer calibrate --model M [--model M2 ...] [--out FILE] [--method ...]`: choose the
certainty threshold from labelled models and save it with the similarity measure and vision
backend it belongs to (tools/certainty/calibration.py).

Steps:
1. Per model (each must be one `eval` can judge: tools/evaluation/model_ground_truth.py): its ground truth
   from a labelled sample, then an `explain` run with the gate open (threshold -1, the lowest cosine): every
   latent whose frames change is accepted at its first attempt, so its certainty is the raw
   agreement of its samples, not one raised by re-drawing anchors after a rejection. Frames
   that barely change are still widened as usual; a latent whose frames never change keeps the
   certainty of its "no change" samples.
2. Pool (certainty, active) over all latents of all models; "active" as in tools/evaluation/scoring.py.
3. Pick the threshold by maximum Jaccard of (certainty >= t) with "active" (the criterion of
   LatentExplainer, Zhu et al. 2024), or by Youden's J with --method youden (tools/evaluation/roc.py).
4. Save it to --out with the statistics behind it, and draw the pooled ROC beside it
   (<out stem>-roc.png).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from agent.commands.eval import DEFAULT_LABELLED_IMAGES
from agent.commands.explain import add_settings_arguments
from agent.errors import UserError

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
    p.add_argument("--method", choices=["max-jaccard", "youden"], default="max-jaccard",  # tools.evaluation.roc.METHODS
                   help="maximise the Jaccard agreement of acceptance with activity (default) or Youden's J")
    p.add_argument("--n-images", type=int, default=DEFAULT_LABELLED_IMAGES,
                   help=f"labelled images encoded for the ground truth (default {DEFAULT_LABELLED_IMAGES})")
    p.add_argument("--label-seed", type=int, default=0, help="seed of the labelled sample (default 0)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where the explain runs go (default runs/)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_settings_arguments(p)
    p.set_defaults(run=run)


def raw_certainties(
    model_ref: str, settings: Settings, n_images: int, label_seed: int, runs_dir: Path, quiet: bool
) -> tuple[list[dict], dict]:
    """Step 1 for one model: its scored rows (tools.evaluation.scoring.LatentScore as dicts) from an
    open-gate explain run in a new folder under runs_dir, and the run's backend names."""
    from agent.commands.eval import measure_truth
    from agent.nodes.reporter import RESULTS_FILE
    from agent.nodes.run_setup import new_run_dir
    from agent.run import RunRequest, run_explain
    from tools.evaluation.scoring import evaluate_results
    from tools.models.references import parse_model_ref

    ref = str(parse_model_ref(model_ref))
    truth = measure_truth(ref, n_images, label_seed, settings.device, traversal_range=settings.traversal_range).truth
    out = new_run_dir(None, ref, root=runs_dir)
    run_dir = run_explain(RunRequest(model_ref=ref, bias_formula=None, settings=replace(settings, threshold=OPEN_GATE),
                                     out=out, progress="quiet" if quiet else "lines"))
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    rows = [row | {"model": ref, "run_dir": str(run_dir)} for row in evaluate_results(results, truth).to_dict()["rows"]]
    return rows, results.get("backend") or {}


def run(args: argparse.Namespace) -> int:
    from agent.commands.eval import labelled_checkpoint
    from agent.commands.explain import settings_from_args
    from tools.certainty.calibration import save_calibration
    from tools.certainty.similarity import SIMILARITY_MEASURE
    from tools.evaluation.roc import roc_curve, select_threshold, write_roc_png
    from tools.evaluation.scoring import json_ready

    if args.threshold is not None:
        raise UserError(f"--threshold {args.threshold} has no meaning for calibrate: it runs with the gate open "
                        "and chooses the threshold")
    settings = settings_from_args(args)
    for model in args.model:  # every model is checked before the first run starts
        labelled_checkpoint(model)
    rows, backends = [], set()
    for model in args.model:
        model_rows, backend = raw_certainties(model, settings, args.n_images, args.label_seed, args.runs_dir,
                                                args.quiet)
        rows += model_rows
        backends.add(backend.get("vision", "unknown"))
    (backend,) = backends  # one settings object, so one vision backend for every run
    scores, active = [row["certainty"] for row in rows], [row["active"] for row in rows]
    choice = select_threshold(scores, active, args.method)
    curve = roc_curve(scores, active)
    stats = json_ready({
        "models": list(args.model),
        "runs": sorted({row["run_dir"] for row in rows}),
        "latents": len(rows),
        "active": sum(active),
        "auc": curve.auc,
        "tpr": choice.tpr,
        "fpr": choice.fpr,
        "jaccard": choice.jaccard,
        "youden_j": choice.youden_j,
        "f1": choice.f1,
        "n_images": args.n_images,
        "label_seed": args.label_seed,
        "gate": f"open (threshold {OPEN_GATE}), max_attempts {settings.max_attempts}",
        "pairs": [{"model": r["model"], "latent": r["latent"], "certainty": r["certainty"], "active": r["active"]}
                  for r in rows],
    })
    path = save_calibration(args.out, choice.threshold, SIMILARITY_MEASURE, backend, args.method, stats)
    roc_path = write_roc_png(curve, path.with_name(f"{path.stem}-roc.png"), title="calibration", marked=choice)
    print(f"threshold {choice.threshold:.4f} by {args.method} over {len(rows)} latents ({sum(active)} active) "
          f"of {len(args.model)} model(s); backend {backend}, measure {SIMILARITY_MEASURE}")
    auc = "n/a" if stats["auc"] is None else f"{stats['auc']:.3f}"
    print(f"at it: Jaccard {choice.jaccard:.3f}, F1 {choice.f1:.3f}, TPR {choice.tpr:.3f}, FPR {choice.fpr:.3f}; "
          f"AUC {auc}")
    print(f"saved {path} (ROC: {roc_path}); use it with LATENT_EXPLAINER_CALIBRATION={path.resolve()}")
    return 0
