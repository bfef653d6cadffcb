"""`latent-explainer ask "SENTENCE"`: explain a model asked for in natural language.

The sentence is read into a RunSpec (by the configured LLM, else by the rule-based reader), the
RunSpec is checked like `explain`'s flags and shown as one block, and after a y/N confirmation
on the terminal (or --yes) the same graph runs as for `explain`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from agent.commands.explain import add_settings_arguments

EXAMPLES = '"explain ckpt/ with bias p(z)=prod_i p(z_i) using 8 frames"'


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ask", help="explain a model asked for in a sentence")
    p.add_argument("sentence", metavar="SENTENCE", help=f"what to explain, e.g. {EXAMPLES}")
    p.add_argument("--yes", "-y", action="store_true", help="run without asking for confirmation")
    p.add_argument("--out", type=Path, help="write results.json, report.html and frames into this folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines (the request block is still shown "
                                                        "unless --yes is given too)")
    p.add_argument("--events", choices=["jsonl"], help="machine-readable progress events on stdout")
    add_settings_arguments(p)
    p.set_defaults(run=run)


def read_request(sentence: str, settings: object) -> tuple[object, str]:
    """(RunSpec, who read it): the router role's LLM (--router-llm, else --llm), else the
    rule-based reader."""
    from agent.llm_config import role_config
    from agent.request_parser import parse_request, parse_request_with_llm

    config = role_config(settings, "router")
    if config is None:
        return parse_request(sentence), "rules (offline)"
    return parse_request_with_llm(sentence, config), f"openai:{config.model} (structured output)"


def confirm(stdin: TextIO, stderr: TextIO) -> bool:
    """Ask y/N on the terminal; True only for y or yes. Raises UserError when stdin is not a
    terminal (nobody could answer)."""
    from agent.errors import UserError

    if not stdin.isatty():
        raise UserError("no terminal to confirm the run on; pass --yes to run without confirming")
    stderr.write("Run it? [y/N] ")
    stderr.flush()
    answer = stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from agent.commands.explain import progress_mode, settings_from_args
    from agent.request import resolve_request
    from agent.run import run_explain
    from agent.run_spec import SETTING_FIELDS, describe_run_spec, resolve_run_spec

    settings = settings_from_args(args)
    spec, parsed_by = read_request(args.sentence, settings)
    resolved = resolve_run_spec(spec, settings, flags={name: getattr(args, name) for name in SETTING_FIELDS})
    progress = progress_mode(args)
    if not (args.yes and progress != "lines"):
        sys.stderr.write(f"latent-explainer: the request reads as:\n{describe_run_spec(resolved, parsed_by, args.out)}\n")
    if not args.yes and not confirm(sys.stdin, sys.stderr):
        sys.stderr.write("latent-explainer: not run\n")
        return 1
    run_dir = run_explain(resolve_request(resolved.model_ref, resolved.bias_formula, resolved.settings,
                                          out=args.out, progress=progress, accept_paraphrase=True))
    if progress != "jsonl":
        print(run_dir / "results.json")
    return 0
