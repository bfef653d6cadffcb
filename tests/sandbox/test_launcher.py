"""The launcher applies limits to itself, leaves the session, drops root, then execs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sandbox.kernel import LAUNCHER

REPORT = (
    "import json, os, resource\n"
    "print(json.dumps({'as': resource.getrlimit(resource.RLIMIT_AS), 'nofile': resource.getrlimit(resource.RLIMIT_NOFILE),"
    " 'uid': os.getuid(), 'sid_is_self': os.getsid(0) == os.getpid(), 'jpy': os.environ.get('JPY_PARENT_PID'),"
    " 'nnp': [l for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0].split()[1]}))"
)


def launch(*launcher_args: str, program: tuple[str, ...] = (sys.executable, "-c", REPORT)) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-I", "-S", str(LAUNCHER), *launcher_args, "--", *program]
    env = {**os.environ, "JPY_PARENT_PID": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)


def test_limits_session_and_no_new_privileges() -> None:
    done = launch("--rlimit", "AS=2000000000:2000000000", "--rlimit", "NOFILE=100:100")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["as"] == [2_000_000_000, 2_000_000_000] and report["nofile"] == [100, 100]
    assert report["sid_is_self"] and report["jpy"] is None and report["nnp"] == "1"


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/id"), reason="dropping root needs root")
def test_drops_root_and_groups() -> None:
    done = launch("--uid", "65534", "--gid", "65534", program=("/usr/bin/id",))  # a program any user can run
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("uid=65534(") and " gid=65534(" in done.stdout and "groups=65534(" in done.stdout


def test_a_failing_step_exits_126_with_one_line() -> None:
    done = launch("--rlimit", "NOFILE=100:1")  # soft above hard: EINVAL
    assert done.returncode == 126
    assert done.stderr.startswith("sandbox launcher:") and len(done.stderr.strip().splitlines()) == 1
