"""Runs inside the sandbox, before the kernel: applies resource limits to itself, leaves the
host's session, drops root, forbids privilege gains, then replaces itself with the kernel.

Usage: python -I -S launcher.py [--rlimit NAME=SOFT:HARD]... [--uid UID --gid GID] -- CMD...
(NAME as in the `resource` module without RLIMIT_, SOFT/HARD in the limit's units or
"inf"). Standard library only; it must start in milliseconds. Exit status 126 and one line on
stderr when a step fails."""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38


def _parse_rlimit(text: str) -> tuple[int, int, int]:
    """"AS=1024:2048" -> (resource.RLIMIT_AS, 1024, 2048)."""
    name, _, values = text.partition("=")
    soft, _, hard = values.partition(":")

    def number(value: str) -> int:
        return resource.RLIM_INFINITY if value == "inf" else int(value)

    return getattr(resource, f"RLIMIT_{name}"), number(soft), number(hard or soft)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="sandbox-launcher")
    parser.add_argument("--rlimit", action="append", default=[], type=_parse_rlimit)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    parent = os.getppid()
    try:
        # 1. Own session and process group: killpg from the kernel cannot reach the host.
        if os.getsid(0) != os.getpid():
            os.setsid()
        # 2. Limits first, while still privileged; children inherit them.
        for which, soft, hard in args.rlimit:
            resource.setrlimit(which, (soft, hard))
        # 3. Drop root: groups, then group, then user (the order that still has the right to).
        if args.uid is not None:
            os.setgroups([])
            os.setgid(args.gid if args.gid is not None else args.uid)
            os.setuid(args.uid)
            if os.geteuid() == 0 or os.getuid() == 0:
                raise PermissionError("could not drop root")
        # 4. No setuid binary may give privileges back; die with the parent (set after the
        #    uid change, which clears it), and stop if the parent is already gone.
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            raise ProcessLookupError("parent exited during start-up")
        # 5. ipykernel exits when its parent pid looks like init: true for PID 1 inside bwrap.
        os.environ.pop("JPY_PARENT_PID", None)
        os.execv(args.command[0], args.command)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"sandbox launcher: {error}\n")
        sys.exit(126)


if __name__ == "__main__":
    main(sys.argv[1:])
