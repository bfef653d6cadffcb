"""`python -m tools.evaluation.factor_probe train ...`: train a factor probe
(tools/evaluation/factor_probe/training.py has the options)."""

from __future__ import annotations

import sys

from tools.errors import UserError
from tools.evaluation.factor_probe.training import main as train_main


def main(argv: list[str] | None = None) -> int:
    """Dispatch `train ARGS...`; a user error prints one line and returns 2."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "train":
        print("usage: python -m tools.evaluation.factor_probe train --dataset dsprites --image-size 32 --out FOLDER [...]",
              file=sys.stderr)
        return 2
    try:
        return train_main(args[1:])
    except (UserError, ValueError) as error:
        print(f"factor_probe: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
