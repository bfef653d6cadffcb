"""`latent-explainer models`: the built-in models."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the built-in models")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tools.models.builtin import BUILTIN_MODELS

    for model in BUILTIN_MODELS.values():
        print(f"builtin:{model.name:<20} {model.family:<6} {model.dataset:<10} {model.description}")
    return 0
