"""Hostile cells: each is contained, reported as a structured error (or harmless), and the
next cell works. They run only under bubblewrap (see conftest.needs_bwrap)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from sandbox import SandboxKernel
from sandbox.errors import CellTimeout, ExecutionError, KernelDied, ResourceLimitExceeded
from sandbox.isolation import PROJECT_ROOT
from tests.sandbox.conftest import assert_works, needs_bwrap, needs_root

pytestmark = needs_bwrap


def test_tcp_to_a_host_loopback_listener_cannot_connect(kernel: SandboxKernel) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.3)
        port = listener.getsockname()[1]
        with pytest.raises(ExecutionError) as caught:
            kernel.execute(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)")
        assert caught.value.ename == "ConnectionRefusedError"
        with pytest.raises(TimeoutError):
            listener.accept()
    assert_works(kernel)


def test_udp_to_a_host_loopback_socket_never_arrives(kernel: SandboxKernel) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(0.5)
        port = receiver.getsockname()[1]
        code = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        code += f"for _ in range(5): s.sendto(b'escape', ('127.0.0.1', {port}))"
        kernel.execute(code)  # UDP does not report loss: the datagrams go to the sandbox's own loopback
        with pytest.raises(TimeoutError):
            receiver.recvfrom(64)
    assert_works(kernel)


@pytest.mark.parametrize("kind", ["SOCK_STREAM", "SOCK_DGRAM"])
def test_outside_address_is_unreachable_at_once(kernel: SandboxKernel, kind: str) -> None:
    code = f"import socket\ns = socket.socket(socket.AF_INET, socket.{kind}); s.settimeout(5)\n"
    code += "s.connect(('1.1.1.1', 53)); s.send(b'x')"
    began = time.monotonic()
    with pytest.raises(ExecutionError) as caught:
        kernel.execute(code)
    assert time.monotonic() - began < 3, "no network: fails at once, not after a timeout"
    assert "Network is unreachable" in caught.value.evalue
    assert_works(kernel)


@pytest.mark.parametrize("target", [str(PROJECT_ROOT / "sandbox-escape.txt"), "/etc/sandbox-escape.txt",
                                    "/usr/sandbox-escape.txt"])
def test_writing_outside_the_run_folder_fails(kernel: SandboxKernel, target: str) -> None:
    with pytest.raises(ExecutionError) as caught:
        kernel.execute(f"open({target!r}, 'w').write('x')")
    assert caught.value.ename in ("OSError", "PermissionError")
    assert not os.path.exists(target)
    assert_works(kernel)


def test_tmp_is_private(kernel: SandboxKernel) -> None:
    target = f"/tmp/sandbox-escape-{uuid.uuid4().hex}.txt"
    assert kernel.execute(f"open({target!r}, 'w').write('x')").result == "1"
    assert not os.path.exists(target)


def test_host_secrets_are_not_in_the_kernel(kernel: SandboxKernel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "sk-fake-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://secret.example")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    kernel.restart()  # the environment is read when the kernel starts
    seen = kernel.execute("import os; print(dict(os.environ))").stdout
    assert "FAKE_API_KEY" not in seen and "OPENAI_BASE_URL" not in seen and "HF_TOKEN" not in seen
    assert "secret" not in seen.lower()
    assert "'OMP_NUM_THREADS': '1'" in seen
    with pytest.raises(ExecutionError):  # the host's processes are not visible
        kernel.execute(f"open('/proc/{os.getpid()}/environ').read()")
    assert_works(kernel)


@needs_root
def test_fork_bomb_is_bounded_and_cleaned_up(kernel: SandboxKernel) -> None:
    uid = kernel.settings.sandbox_uid
    assert kernel.execute("import os; os.getuid()").result == str(uid), "the limit only holds for a non-root user"
    namespace = kernel.execute("import os; os.readlink('/proc/self/ns/pid')").result.strip("'")
    # Every process forks until fork fails, then sleeps 3 s and exits: at most max_processes
    # tasks, none spinning, none outliving 3 s even if cleanup failed.
    bomb = (
        "import os, time\n"
        "def bomb():\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            try:\n"
        "                while True:\n"
        "                    os.fork()\n"
        "            except OSError:\n"
        "                time.sleep(3)\n"
        "            os._exit(0)\n"
        "bomb()\n"
    )
    with pytest.raises(ResourceLimitExceeded) as caught:
        kernel.execute(bomb, timeout=20)
    assert caught.value.limit == "max_processes" and caught.value.restarted
    deadline = time.monotonic() + 2
    while processes_in(namespace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_in(namespace) == [], "the restart ended every process of the old kernel's PID namespace"
    assert_works(kernel)


def processes_in(namespace: str) -> list[int]:
    """Host pids of the processes in a PID namespace ("pid:[inode]")."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "ns" / "pid") == namespace:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.parametrize("code", ["bytearray(50 * 10**9)", "import numpy; numpy.ones(50 * 10**9, dtype=numpy.uint8)"])
def test_50_gb_allocation_hits_the_memory_limit(kernel: SandboxKernel, code: str) -> None:
    with pytest.raises(ResourceLimitExceeded) as caught:
        kernel.execute(code)
    assert caught.value.limit == "memory_limit_mb"
    assert caught.value.ename.endswith("MemoryError")
    assert_works(kernel)


def test_infinite_loop_is_interrupted_and_state_survives(kernel: SandboxKernel) -> None:
    kernel.execute("kept = 'yes'")
    began = time.monotonic()
    with pytest.raises(CellTimeout) as caught:
        kernel.execute("while True:\n    pass", timeout=1.0)
    assert not caught.value.restarted
    assert time.monotonic() - began < 1.0 + kernel.settings.interrupt_grace_s + 1
    assert kernel.execute("kept").result == "'yes'"


def test_loop_that_ignores_interrupts_restarts_the_kernel(kernel: SandboxKernel) -> None:
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('spinning', flush=True)\nwhile True:\n    pass"
    with pytest.raises(CellTimeout) as caught:
        kernel.execute(code, timeout=1.0)
    assert caught.value.restarted
    assert caught.value.partial is not None and caught.value.partial.stdout == "spinning\n"
    assert_works(kernel)


def test_segfault_is_a_dead_kernel_then_a_fresh_one(kernel: SandboxKernel) -> None:
    with pytest.raises(KernelDied) as caught:
        kernel.execute("import ctypes; ctypes.string_at(0)")
    assert caught.value.signal == "SIGSEGV" and caught.value.restarted
    assert_works(kernel)


def test_killing_its_own_process_group_does_not_reach_the_host(kernel: SandboxKernel) -> None:
    with pytest.raises(KernelDied) as caught:
        kernel.execute("import os; os.killpg(os.getpgid(0), 9)")
    assert caught.value.signal == "SIGKILL"
    assert_works(kernel)


def test_killing_its_parent_does_not_reach_the_host(kernel: SandboxKernel) -> None:
    # Inside its PID namespace the parent is bubblewrap's init (pid 1), owned by root.
    with pytest.raises(ExecutionError) as caught:
        kernel.execute("import os; print(os.getppid()); os.kill(os.getppid(), 9)")
    assert caught.value.ename == "PermissionError"
    assert caught.value.partial is not None and caught.value.partial.stdout == "1\n"
    assert_works(kernel)


def test_host_home_and_runtime_sockets_are_hidden(kernel: SandboxKernel) -> None:
    listing = kernel.execute("import os; print(sorted(os.listdir('/run')))").stdout
    assert listing == "[]\n"
    if Path("/root").is_dir():
        assert kernel.execute("import os; print('.bashrc' in os.listdir('/root'))").stdout == "False\n"


def test_writing_a_file_past_the_size_limit_fails(kernel: SandboxKernel) -> None:
    code = "with open('big.bin', 'wb') as f:\n    for _ in range(4):\n        f.write(bytes(2**19))"
    with pytest.raises(ResourceLimitExceeded) as caught:  # the limit is 1 MiB
        kernel.execute(code)
    assert caught.value.limit == "max_file_size_mb"
    assert (kernel.run_dir / "big.bin").stat().st_size <= 2**20
    assert_works(kernel)
