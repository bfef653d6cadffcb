"""The graph that langgraph.json names runs on a plain input, as LangGraph's own tools call it:
no run folder, kernel or settings prepared by our CLI."""

import os
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"


def _children() -> list[str]:
    """Process ids whose parent is this process."""
    kids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == str(os.getpid()):
            kids.append(pid)
    return kids


@pytest.mark.slow
def test_plain_invoke_makes_its_run_folder_and_leaves_no_kernel(tmp_path, monkeypatch):
    from agent.graph import graph
    from agent.kernel_pool import _kernels

    monkeypatch.chdir(tmp_path)
    final = graph.invoke({"model_ref": "builtin:dsprites-btcvae"}, context={"n_samples": 2, "frames": 3, "max_attempts": 1})
    run_dir = Path(final["run_dir"])
    assert run_dir.parent == tmp_path / "runs" and (run_dir / "results.json").is_file()
    assert len(final["latents"]) == 10 and {e["status"] for e in final["latents"]} <= {"explained", "unclear"}
    assert final["settings"]["n_samples"] == 2 and all(len(e["samples"]) == 2 for e in final["latents"])
    assert not _kernels and not _children()


def test_a_failing_model_closes_the_kernel_and_raises_one_line_error(tmp_path, monkeypatch):
    from agent.errors import UserError
    from agent.graph import graph
    from agent.kernel_pool import _kernels

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="model .*build_wrong_shape"):
        graph.invoke({"model_ref": f"{FIXTURE}:build_wrong_shape"}, context={"n_samples": 2, "frames": 3})
    assert not _kernels and not _children()


def test_missing_model_ref_is_a_user_error(tmp_path, monkeypatch):
    from agent.errors import UserError
    from agent.graph import graph

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="needs a model_ref"):
        graph.invoke({})
