"""Wall time and peak memory of the main job (`latent-explainer explain` on the built-in model,
offline). Memory is the largest sum of resident set sizes over the CLI and all its descendants
(the sandbox kernel included), sampled every 50 ms from /proc.

    .venv/bin/python benchmarks/main_job.py [--repeat 3] [extra explain flags...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def _children(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        try:
            kids = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            found.append(kid)
            frontier.append(kid)
    return found


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_once(extra: list[str]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        command = [str(VENV_BIN / "latent-explainer"), "explain", "--out", str(Path(tmp) / "run"), "--quiet", *extra]
        start = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        peak = 0.0
        while process.poll() is None:
            tree = [process.pid, *_children(process.pid)]
            peak = max(peak, sum(_rss_mib(pid) for pid in tree))
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        if process.returncode != 0:
            raise SystemExit(f"explain exited with {process.returncode}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args, extra = parser.parse_known_args()
    print(f"cores: {os.cpu_count()}; command: latent-explainer explain {' '.join(extra)}")
    results = [run_once(extra) for _ in range(args.repeat)]
    for i, (seconds, mib) in enumerate(results, 1):
        print(f"run {i}: {seconds:.1f} s, peak RSS {mib:.0f} MiB")
    times = sorted(s for s, _ in results)
    print(f"median wall time {times[len(times) // 2]:.1f} s; max peak RSS {max(m for _, m in results):.0f} MiB")


if __name__ == "__main__":
    main()
