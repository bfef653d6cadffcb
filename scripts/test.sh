#!/usr/bin/env bash
# The test command: sets up .venv if needed (scripts/setup.sh), then runs the whole suite,
# slow end-to-end tests included. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q "$@"
