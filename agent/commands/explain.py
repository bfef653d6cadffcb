"""`latent-explainer explain`: explain every latent of a model."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tools.models.builtin import DEFAULT_MODEL


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """The settings flags (generated from agent.settings.Settings) and the API key flag."""
    from agent.settings import add_arguments

    add_arguments(p)
    p.add_argument("--llm-api-key", help="API key (default: $OPENAI_API_KEY); never stored in the run")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("explain", help="explain every latent of a model")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"builtin:NAME, FILE.py:FUNCTION, a checkpoint folder, diffusers:FOLDER_OR_HUB_ID or "
                        f"sd:FOLDER_OR_HUB_ID (see `latent-explainer models`; default {DEFAULT_MODEL})")
    p.add_argument("--bias", help="the inductive-bias formula (default: the model family's)")
    p.add_argument("--out", type=Path, help="write results.json, report.html and frames into this folder")
    p.add_argument("--yes", action="store_true", help="accept an LLM's paraphrase of an unsupported formula")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--events", choices=["jsonl"], help="machine-readable progress events on stdout")
    p.add_argument("--resume", metavar="RUN", help="continue a stopped run (folder or name under runs/) from its checkpoint")
    add_settings_arguments(p)
    p.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace):
    """Checked Settings from the flags, the environment and the defaults: a bad LLM spec or a
    device that is not there fails here, before any work."""
    from agent.request import check_settings
    from agent.settings import from_arguments

    settings = from_arguments(args)
    if getattr(args, "llm_api_key", None):
        os.environ["OPENAI_API_KEY"] = args.llm_api_key  # read by the client; kept out of state
    return check_settings(settings)


def progress_mode(args: argparse.Namespace) -> str:
    return "jsonl" if args.events == "jsonl" else "quiet" if args.quiet else "lines"


def resume(args: argparse.Namespace) -> int:
    """Continue a stopped run with the model, bias and settings it was started with."""
    from agent.run import RunRequest, run_explain
    from agent.settings import Settings
    from agent.trace_reader import find_run, read_trace

    run_dir = find_run(args.resume)
    trace = read_trace(run_dir)
    if trace.finished:
        print(run_dir / "results.json")
        return 0
    values = trace.values
    settings = Settings.from_record(values["settings"])
    run_explain(RunRequest(values["model_ref"], values.get("bias_formula"), settings, run_dir,
                           progress_mode(args), resume=True))
    if args.events != "jsonl":
        print(run_dir / "results.json")
    return 0


def run(args: argparse.Namespace) -> int:
    from agent.request import resolve_request
    from agent.run import run_explain

    if args.resume:
        return resume(args)
    request = resolve_request(args.model, args.bias, settings_from_args(args), out=args.out,
                              progress=progress_mode(args), accept_paraphrase=args.yes)
    run_dir = run_explain(request)
    if args.events != "jsonl":
        print(run_dir / "results.json")
    return 0
