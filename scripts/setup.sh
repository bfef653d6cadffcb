#!/usr/bin/env bash
# Create .venv at the checkout's root and install LatentExplainer with its test tools.
# CPU by default: torch is installed as the CPU build first (never a CUDA build on a CPU
# machine). Set TORCH_VARIANT=cuda to take PyPI's default (CUDA) build on a GPU machine.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.latent-explainer-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi
echo "setting up .venv (one time, a few minutes)..." >&2
$VPY -m pip install -q --upgrade pip
if ! $VPY -c "import torch" 2>/dev/null; then
  if [ "${TORCH_VARIANT:-cpu}" = "cuda" ]; then
    $VPY -m pip install -q "torch==2.13.0"
  else
    # The CPU build: from a local wheel where one is offered (find-links), else PyTorch's CPU index.
    $VPY -m pip install -q "torch==2.13.0+cpu" 2>/dev/null \
      || $VPY -m pip install -q "torch==2.13.0+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
  fi
fi
$VPY -m pip install -q -e ".[test]"
# The sandbox isolates generated code with bubblewrap; install it where we may (Debian/Ubuntu, root).
if ! command -v bwrap >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q bubblewrap >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1)) \
      || echo "warning: could not install bubblewrap; the sandbox will run without namespaces" >&2
  else
    echo "warning: bubblewrap (bwrap) not found; install it for an isolated sandbox (see README)" >&2
  fi
fi
# tests/e2e/test_report_browser.py renders report.html in headless Chromium; install Debian's
# package where we may (Debian, root). Without it that test is skipped, nothing else needs it.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
      || (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1)) \
      || echo "warning: could not install chromium; the report's browser test will be skipped" >&2
  fi
fi
touch "$stamp"
