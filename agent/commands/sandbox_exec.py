"""`latent-explainer sandbox exec FILE.py`: run a file's code in the isolated kernel and print
one JSON object {"stdout", "stderr", "result", "files_written", "duration_s", "run_dir", "error"}.

Exit status: 0 when the code ran, 1 when it failed inside the sandbox (`error` is then
{"type", "message", ...} from sandbox.errors), 2 for a user mistake (missing file, bad flag,
strict isolation without bubblewrap)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from agent.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sandbox", help="run code in the isolated kernel")
    actions = p.add_subparsers(dest="sandbox_action", metavar="ACTION", required=True)
    e = actions.add_parser("exec", help="run a Python file as one cell in the sandbox and print a JSON result")
    e.add_argument("file", help="Python file to run")
    e.add_argument("--timeout", type=float, default=None, help="seconds before the cell is interrupted (default 120)")
    e.add_argument("--run-dir", default=None, help="folder the code works in (default: a new temporary folder)")
    e.add_argument("--sandbox", choices=["auto", "strict", "off"], default="auto",
                   help="auto: bubblewrap when it works, else warn; strict: refuse without it; off: no bubblewrap")
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sandbox import SandboxKernel, SandboxSettings
    from sandbox.errors import SandboxError, SandboxUnavailable

    path = Path(args.file)
    if not path.is_file():
        raise UserError(f"sandbox exec: {args.file!r} is not a file; give the path of a Python file")
    try:
        code = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"sandbox exec: {args.file!r} is not UTF-8 text; give a Python source file") from None
    if args.timeout is not None and not args.timeout > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="latent-explainer-sandbox-"))
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--run-dir {args.run_dir!r} exists and is not a folder")
    settings = SandboxSettings(isolation=args.sandbox)
    output = {"stdout": "", "stderr": "", "result": None, "files_written": [], "duration_s": 0.0,
              "run_dir": str(run_dir.resolve()), "error": None}
    status = 0
    try:
        with SandboxKernel(run_dir, settings) as kernel:
            output.update(kernel.execute(code, timeout=args.timeout).to_dict())
    except SandboxUnavailable:
        raise
    except SandboxError as error:
        if error.partial is not None:
            output.update(error.partial.to_dict())
        output["error"] = error.to_dict()
        status = 1
    print(json.dumps(output))
    return status
