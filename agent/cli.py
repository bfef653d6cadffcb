"""The `latent-explainer` command: parses flags, runs a sub-command, and turns a UserError
into one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import sys

from agent.commands import (
    ask,
    bias,
    calibrate,
    certainty,
    explain,
    models,
    sandbox_exec,
    sweep,
    trace,
    train,
    train_ddpm,
)
from agent.commands import eval as evaluate  # the module is named after the sub-command
from agent.errors import UserError

COMMANDS = (explain, ask, trace, models, train, sandbox_exec, bias, evaluate, calibrate, certainty, train_ddpm, sweep)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other user error
        sys.stderr.write(f"latent-explainer: error: {message} (see --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="latent-explainer", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UserError as error:
        sys.stderr.write(f"latent-explainer: error: {error}\n")
        return error.exit_code
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("latent-explainer: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
