"""`latent-explainer explain`: explain every latent of a model."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tools.models.builtin import DEFAULT_MODEL


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """Flags for agent.settings.Settings; None means "not given" (environment, then default)."""
    p.add_argument("--n-samples", type=int, help="explanation samples per latent (default 5)")
    p.add_argument("--frames", type=int, help="frames per traversal (default 7)")
    p.add_argument("--range", dest="traversal_range", type=float, help="first traversal spans [-R, R] (default: the model's own, e.g. 1 for a DDPM edit, else 3)")
    p.add_argument("--threshold", type=float, help="certainty needed to accept an explanation")
    p.add_argument("--max-attempts", type=int, help="attempts per latent before 'No clear explanation' (default 3)")
    p.add_argument("--seed", type=int, help="seed of the anchor codes (default 0)")
    p.add_argument("--device", help="torch device in the sandbox: auto, cpu, cuda, cuda:N")
    p.add_argument("--sandbox", choices=["auto", "strict", "off"], help="isolation of generated code (default auto)")
    p.add_argument("--cell-timeout", dest="cell_timeout_s", type=float, help="seconds one sandbox cell may run")
    p.add_argument("--llm", help="openai:MODEL for any OpenAI-compatible endpoint; default: offline")
    p.add_argument("--llm-base-url", help="the endpoint, e.g. http://127.0.0.1:8000/v1 (default: $OPENAI_BASE_URL)")
    p.add_argument("--coder-max-turns", type=int, help="tool-calling turns the LLM coder gets per attempt (default 6)")
    p.add_argument("--llm-api-key", help="API key (default: $OPENAI_API_KEY); never stored in the run")


SETTINGS_FLAGS = ("n_samples", "frames", "traversal_range", "threshold", "max_attempts", "seed", "device",
                  "sandbox", "cell_timeout_s", "llm", "llm_base_url", "coder_max_turns")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("explain", help="explain every latent of a model")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"builtin:NAME, FILE.py:FUNCTION or a checkpoint folder (default {DEFAULT_MODEL})")
    p.add_argument("--bias", help="the inductive-bias formula (default: the model family's)")
    p.add_argument("--out", type=Path, help="write results.json, report.html and frames into this folder")
    p.add_argument("--yes", action="store_true", help="accept an LLM's paraphrase of an unsupported formula")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--events", choices=["jsonl"], help="machine-readable progress events on stdout")
    p.add_argument("--resume", metavar="RUN", help="continue a stopped run (folder or name under runs/) from its checkpoint")
    add_settings_arguments(p)
    p.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace):
    from agent.llm_config import parse_llm_spec
    from agent.settings import Settings

    settings = Settings.resolve({name: getattr(args, name, None) for name in SETTINGS_FLAGS}).with_calibrated_threshold()
    if args.llm_api_key:
        os.environ["OPENAI_API_KEY"] = args.llm_api_key  # read by the client; kept out of state
    parse_llm_spec(settings.llm, base_url=settings.llm_base_url)  # a bad spec fails here, before any work
    from tools.models.device import resolve_device

    resolve_device(settings.device)  # likewise a device that is not there
    return settings


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
    settings = Settings(**values["settings"])
    run_explain(RunRequest(values["model_ref"], values.get("bias_formula"), settings, run_dir,
                           progress_mode(args), resume=True))
    if args.events != "jsonl":
        print(run_dir / "results.json")
    return 0


def run(args: argparse.Namespace) -> int:
    from agent.run import RunRequest, run_explain
    from tools.models.references import parse_model_ref

    if args.resume:
        return resume(args)
    settings = settings_from_args(args)
    ref = parse_model_ref(args.model)
    bias = args.bias
    if bias:  # a malformed formula is reported (or, with an LLM, paraphrased) before any work
        from agent.formula_repair import resolve_formula

        bias = resolve_formula(bias, settings.llm, settings.llm_base_url, args.yes)
    run_dir = run_explain(RunRequest(str(ref), bias, settings, args.out, progress_mode(args)))
    if args.events != "jsonl":
        print(run_dir / "results.json")
    return 0
