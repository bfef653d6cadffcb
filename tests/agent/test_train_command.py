"""`latent-explainer train --init-from`: a continuation keeps the earlier stage in its record and
refuses a seed an earlier stage used (it would replay the same data)."""

import json

from agent.cli import main


def test_init_from_records_the_earlier_stage_and_refuses_its_seed(capsys, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--steps", "1", "--batch-size", "4", "--threads", "1", "--device", "cpu"]
    assert main(["train", "--out", str(first), "--seed", "0", *common]) == 0
    assert main(["train", "--out", str(second), "--init-from", str(first), "--seed", "1", "--beta", "2", *common]) == 0
    record = json.loads((second / "config.json").read_text())["training"]
    assert [stage["read_from"] for stage in record["earlier_stages"]] == [str(first)]
    capsys.readouterr()
    code = main(["train", "--out", str(tmp_path / "third"), "--init-from", str(second), "--seed", "0", *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--seed 0 was already used to train" in err[0] and "0, 1" in err[0]
