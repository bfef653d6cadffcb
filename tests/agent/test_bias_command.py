"""`latent-explainer bias check`: prints the SymPy form, the kind, the prompt and the plan; user
mistakes exit 2 without a traceback."""

from __future__ import annotations

import json

import pytest

from agent.cli import main
from agent.commands.bias import parse_groups
from agent.errors import UserError
from tools.bias_formula import DEFAULT_FORMULAS


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["bias", "check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_prints_sympy_kind_prompt_and_plan(capsys) -> None:
    code, out, err = run(capsys, DEFAULT_FORMULAS["disentanglement"], "--latent-dim", "3", "--frames", "5")
    assert code == 0 and err == ""
    assert "SymPy:      Eq(Density(p, (z,), ()), Product(Density(p, (z[i],), ()), (i, 1, d)))" in out
    assert "kind:       disentanglement" in out
    assert "read as:    p(z) = prod_{i=1}^{d} p(z_i)" in out
    assert "LaTeX:      p(z) = \\prod_{i=1}^{d} p(z_i)" in out
    assert "    Inductive bias of the model: p(z) = prod_{i=1}^{d} p(z_i)" in out
    assert "plan (latent_dim 3, values [-3.0, -1.5, 0.0, 1.5, 3.0]):" in out
    assert [line.split()[0] for line in out.split("plan (")[1].splitlines()[1:]] == ["z0", "z1", "z2"]


def test_check_json_holds_the_spec_and_the_plan(capsys) -> None:
    code, out, _ = run(capsys, "p(z) = prod_k p(z_{G_k})", "--json", "--latent-dim", "4",
                       "--groups", "shape=0,1", "colour=2,3")
    assert code == 0
    data = json.loads(out)
    assert data["kind"] == "combination"
    assert data["varied_groups"] == [["z_{G_k}"]]
    assert data["latex"] == "p(z) = \\prod_{k} p(z_{G_k})"
    assert [(p["id"], p["indices"]) for p in data["plan"]] == [("shape", [0, 1]), ("colour", [2, 3])]
    assert data["prompt"].startswith("Inductive bias of the model: p(z) = prod_{k} p(z_{G_k})\n")


def test_conditional_check_uses_the_attributes(capsys) -> None:
    code, out, _ = run(capsys, DEFAULT_FORMULAS["conditional"], "--attributes", "shape,scale", "--json")
    assert code == 0
    plan = json.loads(out)["plan"]
    assert [p["id"] for p in plan] == ["shape", "scale"]
    assert plan[0]["mode"] == "offset"


@pytest.mark.parametrize("formula, needs", [
    (DEFAULT_FORMULAS["conditional"], "needs the model's attribute names (--attributes NAME,...)"),
    ("p(z) = prod_k p(z_{G_k})", "needs latent groups (--groups NAME=i,j ...)"),
    ("p(x | z, t) != p(x | z)", "give the prompt text"),
])
def test_a_valid_formula_without_model_context_exits_0_and_names_the_flags(capsys, formula, needs) -> None:
    code, out, err = run(capsys, formula)
    assert code == 0 and not err
    assert "kind:" in out and "prompt:" in out
    assert "plan:       needs the model's context: " in out and needs in out
    code, out, _ = run(capsys, formula, "--json")
    assert code == 0 and json.loads(out)["plan"] is None and needs in json.loads(out)["plan_needs"]


def test_the_image_of_a_prompt_conditional_is_called_the_image(capsys) -> None:
    _, out, _ = run(capsys, "p(x | z, t) != p(x | z)")
    assert "the distribution of the image x depends on the text prompt t" in out
    assert "latent variables x" not in out


def test_grammar_file_changes_the_prompt(tmp_path, capsys) -> None:
    path = tmp_path / "words.json"
    path.write_text(json.dumps({"symbols": {"z": {"words": "the codes {name}"}}}), encoding="utf-8")
    code, out, _ = run(capsys, "p(z) = prod_i p(z_i)", "--grammar", str(path), "--json")
    assert code == 0
    assert "the distribution of the codes z equals" in json.loads(out)["prompt"]


@pytest.mark.parametrize("args, message", [
    (["p(z) = prod_i p(z_i)", "--groups", "shape:0,1"], "--groups entry 'shape:0,1' is not NAME=i,j"),
    (["p(z) = prod_k p(z_{G_k})", "--groups", "a=0", "a=1"], "names the group 'a' twice"),
    (["p(z) = prod_k p(z_{G_k})", "--latent-dim", "2", "--groups", "a=0,5"], "outside the latent space 0..1"),
    (["p(z) = prod_i p(z_i)", "--frames", "1"], "--frames must be at least 2"),
    (["p(z) = prod_i p(z_i)", "--latent-dim", "0"], "latent_dim must be at least 1"),
    (["p(z) = prod_i p(z_i)", "--grammar", "/nonexistent/grammar.json"], "cannot read grammar file"),
])
def test_user_mistakes_exit_2_with_one_line(capsys, args, message: str) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_formula_is_an_argument_error(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bias", "check"])
    assert info.value.code == 2
    assert "the following arguments are required: formula" in capsys.readouterr().err


def test_parse_groups() -> None:
    assert parse_groups(["shape=0,1", "colour=2"]) == {"shape": [0, 1], "colour": [2]}
    with pytest.raises(UserError):
        parse_groups(["shape="])
