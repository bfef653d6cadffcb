"""`explain --bias "<a formula the user wrote>"` runs with the plan and prompt derived from it,
and `trace` shows the prompt that was used."""

import json
from pathlib import Path

import pytest

from agent.cli import main

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"


@pytest.mark.slow
def test_user_formula_drives_plan_prompt_and_trace(tmp_path, capsys):
    out = tmp_path / "run"
    formula = "p(z_0, z_1) = p(z_0) p(z_1)"
    assert main(["explain", "--model", f"{FIXTURE}:build", "--bias", formula, "--out", str(out),
                 "--n-samples", "2", "--frames", "3", "--max-attempts", "1", "--quiet"]) == 0
    capsys.readouterr()
    results = json.loads((out / "results.json").read_text())
    assert results["bias"]["formula"] == formula and results["bias"]["kind"] == "custom"
    assert [e["id"] for e in results["latents"]] == ["z0", "z1"]  # z2 is not in the formula
    assert "z_0" in results["bias"]["prompt"]
    assert main(["trace", str(out), "--latent", "z1"]) == 0
    assert results["bias"]["prompt"].splitlines()[0] in capsys.readouterr().out


def test_malformed_formula_fails_before_any_work(tmp_path, capsys):
    code = main(["explain", "--model", f"{FIXTURE}:build", "--bias", "p(z | ) = ", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "^" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
