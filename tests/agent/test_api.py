"""The Python API: explain() runs the same graph as the CLI and returns a result with a rich
Jupyter display (strips inline)."""

import base64
import importlib.util
import json
import re
from pathlib import Path

import pytest

from agent.api import ExplainResult, explain
from agent.errors import UserError
from agent.settings import Settings

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"
TINY = {"n_samples": 2, "frames": 3, "max_attempts": 1}


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> ExplainResult:
    return explain(f"{FIXTURE}:build", out=tmp_path_factory.mktemp("api") / "run", quiet=True, **TINY)


@pytest.mark.slow
def test_explain_returns_the_runs_results(result):
    assert result.run_dir.is_dir() and result.report_path.is_file()
    assert result.results == json.loads((result.run_dir / "results.json").read_text())
    assert {e["id"]: e["status"] for e in result.latents} == {"z0": "explained", "z1": "explained", "z2": "unclear"}
    assert result.results["settings"]["frames"] == 3 and result.results["backend"]["vision"] == "offline-analytic"
    assert ExplainResult.load(result.run_dir) == result
    assert repr(result) == f"ExplainResult(run_dir={str(result.run_dir)!r}, 3 latents: 2 explained, 1 unclear)"


@pytest.mark.slow
def test_rich_display_inlines_every_strip(result):
    page = result._repr_html_()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="traversal strip of (z\d)"', page)
    assert sorted(latent for _, latent in images) == ["z0", "z1", "z2"]
    for data, latent in images:
        strip = next(e["strip"] for e in result.latents if e["id"] == latent)
        assert base64.b64decode(data) == (result.run_dir / strip).read_bytes()
    by_id = {e["id"]: e for e in result.latents}
    assert by_id["z0"]["explanation"] in page and "No clear explanation" in page
    threshold = Settings().threshold  # the shipped calibration, when there is one
    assert f"certainty 1.000 / threshold {threshold:.3f}" in page


def test_display_escapes_text_and_embeds_only_files_of_the_run(tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"\x89PNG not part of the run")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    results = {"model": {"ref": "m.py:<b>build</b>"}, "bias": {"formula": "p(z)", "kind": "disentanglement"},
               "latents": [{"id": "z0", "status": "explained", "explanation": "<script>alert(1)</script>",
                            "certainty": 0.9, "threshold": 0.8, "strip": "../outside.png"},
                           {"id": "z1", "status": "failed", "error": "decode broke & stopped", "certainty": None}]}
    page = ExplainResult(run_dir, results)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "m.py:&lt;b&gt;build&lt;/b&gt;" in page and "Failed: decode broke &amp; stopped" in page
    assert "data:image" not in page and page.count("(no strip)") == 2
    assert "certainty n/a" in page


def test_a_model_object_is_refused_with_the_way_to_pass_it():
    from tests.fixtures.user_models import build

    with pytest.raises(TypeError, match=r"not a model object: .*sandbox.*'FILE.py:FUNCTION'"):
        explain(build())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": f"{FIXTURE}:build", "frame": 5}, TypeError, r"unknown settings \['frame'\]; settings are: .*frames"),
        ({"model": f"{FIXTURE}:build", "frames": 1}, UserError, "frames must be at least 2"),
        ({"model": f"{FIXTURE}:build", "llm": "gpt-4o"}, UserError, "--llm 'gpt-4o' is not understood"),
        ({"model": "missing.py:build"}, UserError, "model file 'missing.py' does not exist"),
        ({"model": "builtin:nope"}, UserError, "unknown built-in model 'nope'"),
        ({"model": f"{FIXTURE}:build", "bias": "p(z) = "}, UserError, "cannot read the bias formula"),
    ],
)
def test_mistakes_fail_before_any_work(kwargs, error, message, tmp_path):
    with pytest.raises(error, match=message):
        explain(out=tmp_path / "run", **kwargs)
    assert not (tmp_path / "run").exists()


def test_loading_a_folder_without_results_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="holds no results.json"):
        ExplainResult.load(tmp_path)


def test_to_dataframe_needs_pandas(tmp_path):
    result = ExplainResult(tmp_path, {"latents": [{"id": "z0", "status": "unclear", "strip": "strips/z0.png"}]})
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(ImportError, match="pip install pandas"):
            result.to_dataframe()
    else:
        frame = result.to_dataframe()
        assert list(frame["id"]) == ["z0"] and frame["strip"][0] == str(tmp_path / "strips/z0.png")
