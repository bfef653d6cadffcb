import pytest

from agent.errors import UserError
from tools.models.references import parse_model_ref


def test_forms(tmp_path):
    assert str(parse_model_ref("builtin:dsprites-btcvae")) == "builtin:dsprites-btcvae"
    file = tmp_path / "m.py"
    file.write_text("def build(): pass\n")
    ref = parse_model_ref(f"{file}:build")
    assert ref.kind == "file" and ref.function == "build"
    (tmp_path / "ck").mkdir()
    for name in ("config.json", "model.safetensors"):
        (tmp_path / "ck" / name).write_text("x")
    assert parse_model_ref(str(tmp_path / "ck")).kind == "checkpoint"


@pytest.mark.parametrize("text", ["", "builtin:nope", "x.py", "missing.py:build", "/", "nothing-here"])
def test_bad_refs(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError):
        parse_model_ref(text)
