"""`latent-explainer sweep --model REF [--model REF ...] | --models FILE [--out DIR]`: explain
many models with the same settings, each in its own run folder under DIR, as Ray tasks (a local
Ray with --workers CPUs, or the cluster at --ray ADDRESS), then write DIR/sweep.json and
DIR/sweep.html. Running it again with the same DIR reuses the finished runs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agent.commands.explain import add_settings_arguments
from agent.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sweep", help="explain many models (a sweep of beta, seeds, checkpoints) on Ray")
    p.add_argument("--model", action="append", metavar="REF",
                   help="a model reference as for explain (repeatable)")
    p.add_argument("--models", type=Path, metavar="FILE",
                   help="a text or YAML file, one model a line: REF [key=value ...], e.g. ckpt/b4 beta=4 seed=2")
    p.add_argument("--out", type=Path, help="the sweep folder (default: a new runs/sweep-<time>); "
                                            "give the same folder again to reuse its finished runs")
    p.add_argument("--bias", help="the inductive-bias formula for every model (default: each model family's)")
    p.add_argument("--yes", action="store_true", help="accept an LLM's paraphrase of an unsupported formula")
    p.add_argument("--workers", type=int, default=1, help="CPUs of the local Ray: models explained at once "
                                                          "(default 1; ignored with --ray)")
    p.add_argument("--ray", dest="ray_address", metavar="ADDRESS",
                   help="run on an existing Ray cluster: HOST:PORT of its head node, ray://HOST:PORT, or auto")
    p.add_argument("--retries", type=int, default=1, help="Ray retries of a model whose task failed or was lost "
                                                          "before it is reported failed (default 1)")
    p.add_argument("--no-eval", dest="evaluate", action="store_false",
                   help="do not score models trained on labelled data against their labels")
    p.add_argument("--n-images", type=int, default=10_000, help="labelled images for the scores (as for eval)")
    p.add_argument("--label-seed", type=int, default=0, help="seed of the labelled sample (default 0)")
    p.add_argument("--anchors", type=int, default=24, help="ddpm: anchors per direction of the factor probe")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--events", choices=["jsonl"], help="machine-readable progress events on stdout")
    add_settings_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from agent.commands.explain import progress_mode, settings_from_args
    from agent.sweep.runner import SweepRequest, check_ray_address, reachable, run_sweep
    from agent.sweep.spec import sweep_models

    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.retries < 0:
        raise UserError(f"--retries must be 0 or more, got {args.retries}")
    if args.evaluate and (args.n_images < 1 or args.anchors < 2):
        raise UserError("--n-images must be at least 1 and --anchors at least 2")
    if args.ray_address is not None:
        reachable(check_ray_address(args.ray_address))
    models = sweep_models(args.model, args.models)
    if args.ray_address is None:
        settings = settings_from_args(args)
    else:  # the device is there or not on the node that runs a model, not necessarily here
        from agent.llm_config import parse_llm_spec
        from agent.settings import from_arguments

        settings = from_arguments(args)
        parse_llm_spec(settings.llm, base_url=settings.llm_base_url)
    bias = args.bias
    if bias:
        from agent.formula_repair import resolve_formula

        bias = resolve_formula(bias, settings.llm, settings.llm_base_url, args.yes)
    out = args.out or Path("runs") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    request = SweepRequest(models=models, bias=bias, settings=settings, out=out, workers=args.workers,
                           ray_address=args.ray_address, retries=args.retries, evaluate=args.evaluate,
                           n_images=args.n_images, label_seed=args.label_seed, anchors=args.anchors,
                           progress=progress_mode(args))
    sweep_dir, outcomes = run_sweep(request)
    failed = [o for o in outcomes if o.status != "done"]
    if args.events != "jsonl":
        print(sweep_dir / "sweep.json")
    if failed:
        sys.stderr.write(f"latent-explainer: {len(failed)} of {len(outcomes)} models failed: "
                         f"{', '.join(o.model.title for o in failed)} (see {sweep_dir / 'sweep.json'})\n")
        return 1
    return 0
