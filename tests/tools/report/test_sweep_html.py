"""The sweep page: models x latents with status, explanation and certainty, strips embedded only
from inside the sweep folder, every text escaped, scores of the labelled models side by side."""

import pytest

from tools.errors import UserError
from tools.report.sweep_html import latent_groups, write_sweep_report

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def _sweep(strip: str) -> dict:
    return {
        "sweep": {"bias": None, "ray": "on a local Ray with 2 workers", "wall_s": 12.5, "settings": {"frames": 3}},
        "models": [
            {"ref": "builtin:a", "title": "builtin:a beta=4", "labels": {"beta": "4"}, "status": "done",
             "report": "a/report.html", "backend": {"vision": "offline-analytic"}, "elapsed_s": 3.2, "host": "node1",
             "latents": [{"id": "z0", "status": "explained", "explanation": "moves <b>left</b>", "certainty": 0.9,
                          "threshold": 0.3, "strip": strip},
                         {"id": "z1", "status": "unclear", "explanation": None, "certainty": 0.1, "threshold": 0.3}],
             "evaluation": {"factor_accuracy": 0.75, "mig": 0.21, "gating_auc": 0.9, "gating_f1": 0.8,
                            "gating_jaccard": 0.6, "threshold": 0.3, "n_active": 4, "n_explained": 3,
                            "dci": {"disentanglement": 0.4, "completeness": 0.3, "informativeness": 0.5}, "sap": 0.2},
             "scoring": None},
            {"ref": "m.py:build", "title": "m.py:build", "labels": {}, "status": "failed",
             "error": "RuntimeError: <script>boom</script>", "latents": [], "evaluation": None,
             "scoring": "eval needs a model with its encoder"},
            {"ref": "builtin:b", "title": "builtin:b", "labels": {}, "status": "done", "reused": True,
             "latents": [{"id": "z2", "status": "failed", "error": "kernel died\nmore", "certainty": 0.0}],
             "evaluation": None, "scoring": None},
        ],
    }


def test_table_of_models_and_latents(tmp_path):
    (tmp_path / "a" / "strips").mkdir(parents=True)
    (tmp_path / "a" / "strips" / "z0.png").write_bytes(PNG)
    page = write_sweep_report(_sweep("a/strips/z0.png"), tmp_path).read_text()
    groups = latent_groups(_sweep("")["models"])
    assert [(ids, [m["ref"] for m in members]) for ids, members in groups] == \
        [(["z0", "z1"], ["builtin:a"]), (["z2"], ["builtin:b"]), ([], ["m.py:build"])]
    assert "no results" in page
    assert page.count("data:image/png;base64,") == 1
    assert "moves &lt;b&gt;left&lt;/b&gt;" in page and "<b>left</b>" not in page
    assert "&lt;script&gt;boom" in page and "<script" not in page
    assert "No clear explanation" in page and "Failed: kernel died</span>" in page  # the first line only
    assert "certainty 0.900 / 0.300" in page and "finished run reused" in page and "3.2 s on node1" in page
    assert '<a href="a/report.html">builtin:a</a>' in page and "<code>beta=4</code>" in page
    assert "75.0%" in page and "0.210" in page and "eval needs a model with its encoder" in page
    assert "Offline analytic describer" in page


@pytest.mark.parametrize("strip", ["../outside.png", "/etc/hostname", "a/missing.png"])
def test_strips_outside_the_folder_or_missing_are_not_read(tmp_path, strip):
    (tmp_path / "outside.png").write_bytes(PNG)
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    page = write_sweep_report(_sweep(strip), sweep_dir).read_text()
    assert "data:image/png;base64," not in page


def test_a_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_sweep_report(_sweep(""), tmp_path / "nope")
