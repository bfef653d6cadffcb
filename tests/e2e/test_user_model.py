"""`explain --model FILE.py:FN` end to end, and one clear line for every broken model."""

import json
from pathlib import Path

import pytest

from agent.cli import main

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"
FAST = ["--n-samples", "3", "--frames", "5", "--max-attempts", "2", "--quiet"]


@pytest.mark.slow
def test_user_model_is_explained(tmp_path):
    """The model file lives outside the project (under /tmp): the sandbox must still see it."""
    model_file = tmp_path / "my_model.py"
    model_file.write_text(FIXTURE.read_text())
    tmp_path.chmod(0o755)
    out = tmp_path / "run"
    assert main(["explain", "--model", f"{model_file}:build", "--out", str(out), *FAST]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["backend"]["vision"] == "offline-analytic"
    by_id = {entry["id"]: entry for entry in results["latents"]}
    assert set(by_id) == {"z0", "z1", "z2"}
    assert by_id["z0"]["status"] == "explained" and "left to right" in by_id["z0"]["explanation"]
    assert by_id["z1"]["status"] == "explained" and "bigger" in by_id["z1"]["explanation"]
    assert by_id["z2"]["status"] == "unclear" and by_id["z2"]["explanation"] is None
    for entry in results["latents"]:  # the contract's fields, frames in traversal order
        assert {"id", "indices", "status", "explanation", "certainty", "threshold", "samples", "gamma",
                "attempts", "frames", "strip", "measurements", "error"} <= entry.keys()
        assert all((out / f).is_file() for f in entry["frames"])
        assert entry["frames"] == sorted(entry["frames"])
    assert (out / "report.html").is_file()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("{fixture}:build_wrong_shape", "must return (2, C, H, W)"),
        ("{fixture}:build_out_of_range", "values in [0, 1]"),
        ("{fixture}:build_no_latent_dim", "latent_dim must be a positive int"),
        ("{fixture}:no_such_function", "has no function 'no_such_function'"),
        ("missing_file.py:build", "does not exist"),
        ("builtin:nope", "unknown built-in model 'nope'"),
    ],
)
def test_broken_models_get_one_clear_line(tmp_path, capsys, ref, message):
    code = main(["explain", "--model", ref.format(fixture=FIXTURE), "--out", str(tmp_path / "run"), *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("latent-explainer: error:") and message in err[-1]
    assert not any("Traceback" in line for line in err)
