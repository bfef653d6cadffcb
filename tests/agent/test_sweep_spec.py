"""The sweep's input and its pieces that need no Ray: models files (text and YAML, labels),
folder names, settings comparison for reuse, run-folder archives, Ray addresses and task
resources, and every user mistake at `latent-explainer sweep` as one line."""

import io
import socket
import tarfile
from pathlib import Path

import pytest

from agent.cli import main
from agent.errors import UserError
from agent.settings import Settings
from agent.sweep.runner import SweepRequest, check_ray_address, error_line, placed_job, reachable, task_options
from agent.sweep.runs import differing_settings
from agent.sweep.spec import SweepModel, folder_name, model_family, read_models_file, sweep_models
from agent.sweep.task import SWEEP_ID_FILE, pack_folder, sees_sweep_folder, unpack_folder


def _checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"family": "ddpm"}')
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def test_text_file_with_labels_comments_and_blank_lines(tmp_path):
    path = tmp_path / "models.txt"
    path.write_text("# the beta sweep\nbuiltin:dsprites-btcvae beta=4 seed=2\n\n"
                    "builtin:shapes3d-csvae   # no labels\n")
    assert read_models_file(path) == [("builtin:dsprites-btcvae", {"beta": "4", "seed": "2"}),
                                      ("builtin:shapes3d-csvae", {})]


def test_yaml_lines_and_mappings(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("models:\n"
                    "  - builtin:dsprites-btcvae beta=4\n"
                    "  - model: builtin:shapes3d-csvae\n"
                    "    labels: {seed: 2, arch: conv}\n"
                    "  - {model: builtin:dsprites-ddpm, step: 12052}\n")
    assert read_models_file(path) == [("builtin:dsprites-btcvae", {"beta": "4"}),
                                      ("builtin:shapes3d-csvae", {"seed": "2", "arch": "conv"}),
                                      ("builtin:dsprites-ddpm", {"step": "12052"})]


def test_models_get_unique_readable_folders_and_their_family(tmp_path):
    a, b = _checkpoint(tmp_path / "a" / "ckpt"), _checkpoint(tmp_path / "b" / "ckpt")
    models = sweep_models(["builtin:dsprites-btcvae", str(a), str(b)], None)
    assert [m.name for m in models] == ["dsprites-btcvae", "ckpt", "ckpt-2"]
    assert [m.family for m in models] == ["vae", "ddpm", "ddpm"]
    assert folder_name("builtin:dsprites-btcvae", {"beta": "4", "seed": "2"}) == "dsprites-btcvae-beta4-seed2"
    assert folder_name("/x/my model.py:build", {}) == "my_model-build"
    assert folder_name("diffusers:google/ddpm-celebahq-256", {"seed": "1"}) == "ddpm-celebahq-256-seed1"
    assert folder_name("sd:/models/sd15", {}) == "sd15"


def test_diffusers_and_stable_diffusion_references_are_diffusion_models():
    from tools.models.references import ModelRef

    assert model_family(ModelRef("diffusers", "google/ddpm-celebahq-256")) == "ddpm"
    assert model_family(ModelRef("sd", "/models/sd15")) == "sd"
    assert model_family(ModelRef("file", "/x/m.py", "build")) is None


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.txt", "builtin:dsprites-btcvae beta4\n", "m.txt:1: 'beta4' is not a label"),
        ("m.txt", "\nbuiltin:nope\n", "m.txt: 'builtin:nope': unknown built-in model 'nope'"),
        ("m.txt", "builtin:dsprites-btcvae\nbuiltin:dsprites-btcvae\n", "listed twice"),
        ("m.txt", "# nothing\n", "lists no models"),
        ("m.yaml", "- [unclosed\n", "is not valid YAML at line"),
        ("m.yaml", "model: builtin:dsprites-btcvae\n", "expected a YAML list"),
        ("m.yaml", "- {labels: {beta: 4}}\n", "item 1: a mapping needs `model: REF`"),
        ("m.txt", "builtin:dsprites-btcvae beta=4 beta=6\n", "label 'beta' given twice"),
    ],
)
def test_bad_models_files_name_the_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserError) as error:
        sweep_models(None, path)
    assert message in str(error.value)


def test_requested_none_matches_the_models_own_default():
    recorded = {"frames": 3, "traversal_range": 3.0, "threshold_source": "given"}
    assert differing_settings(recorded, {"frames": 3, "traversal_range": None, "threshold_source": "default"}) == []
    assert differing_settings(recorded, {"frames": 7, "traversal_range": 1.0}) == ["frames", "traversal_range"]
    assert differing_settings({"mount": []}, {"mount": ()}) == []  # a record holds tuples as lists


def test_run_folder_archive_round_trip_and_refuses_escapes(tmp_path):
    run = tmp_path / "run"
    (run / "frames").mkdir(parents=True)
    (run / "results.json").write_text('{"latents": []}')
    (run / "frames" / "z0.png").write_bytes(b"\x89PNG")
    unpack_folder(pack_folder(run), tmp_path / "copy")
    assert (tmp_path / "copy" / "frames" / "z0.png").read_bytes() == b"\x89PNG"
    assert (tmp_path / "copy" / "results.json").read_text() == '{"latents": []}'

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.TarError):
        unpack_folder(buffer.getvalue(), tmp_path / "evil")
    assert not (tmp_path / "outside.txt").exists()


def test_a_worker_writes_in_place_only_when_it_sees_the_sweep_folder(tmp_path):
    (tmp_path / SWEEP_ID_FILE).write_text("abc\n")
    assert sees_sweep_folder(tmp_path, "abc")
    assert not sees_sweep_folder(tmp_path, "another-sweep")
    assert not sees_sweep_folder(tmp_path / "elsewhere", "abc")


@pytest.mark.parametrize("address", ["10.0.0.5:6379", "head-node:6379", "auto", "ray://head:10001"])
def test_ray_address_forms(address):
    assert check_ray_address(address) == address


@pytest.mark.parametrize("address", ["10.0.0.5", "http://head:6379", "ray://head", "head:port", ""])
def test_bad_ray_addresses(address):
    with pytest.raises(UserError, match="is not a Ray address"):
        check_ray_address(address)


def test_an_address_where_nothing_listens_fails_fast():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match="nothing answers at the Ray address"):
        reachable(f"127.0.0.1:{port}", timeout_s=2)


@pytest.mark.parametrize(
    ("family", "gpus", "device", "wanted"),
    [("ddpm", 1, "auto", 1), ("ddpm", 0, "auto", 0), ("ddpm", 2, "cpu", 0), ("vae", 1, "auto", 0), (None, 1, "cuda", 0)],
)
def test_a_diffusion_model_asks_for_a_gpu_when_the_cluster_has_one(family, gpus, device, wanted, tmp_path):
    request = SweepRequest(models=[], bias=None, settings=Settings(device=device), out=tmp_path, retries=3)
    options = task_options(request, SweepModel("builtin:x", {}, "x", family), gpus)
    assert options["num_gpus"] == wanted and options["num_cpus"] == 1
    assert options["max_retries"] == 3 and options["retry_exceptions"] is True


def test_a_task_without_a_gpu_on_a_gpu_cluster_runs_its_model_on_the_cpu(tmp_path):
    job = {"settings": Settings().to_dict()}
    assert placed_job(job, {"num_gpus": 0}, 2)["settings"]["device"] == "cpu"
    assert placed_job(job, {"num_gpus": 1}, 2)["settings"]["device"] == "auto"
    assert placed_job(job, {"num_gpus": 0}, 0)["settings"]["device"] == "auto"
    assert differing_settings({"device": "cpu"}, {"device": "auto"}) == []  # where it ran, not what it is


def test_a_failed_task_is_told_by_its_original_exception():
    class Wrapped(Exception):
        cause = ValueError("model exploded\nsecond line")

    assert error_line(Wrapped("ray::explain_model() long traceback")) == "ValueError: model exploded"
    assert error_line(ConnectionError("worker died\ndetails")) == "ConnectionError: worker died"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep"], "no models to sweep"),
        (["sweep", "--models", "missing.txt"], "models file 'missing.txt' does not exist"),
        (["sweep", "--model", "builtin:nope"], "--model 'builtin:nope': unknown built-in model"),
        (["sweep", "--model", "builtin:dsprites-btcvae", "--ray", "not an address"], "is not a Ray address"),
        (["sweep", "--model", "builtin:dsprites-btcvae", "--workers", "0"], "--workers must be at least 1"),
        (["sweep", "--model", "builtin:dsprites-btcvae", "--n-samples", "1"], "n_samples must be at least 2"),
        (["sweep", "--model", "builtin:dsprites-btcvae", "--out", "/proc/no-sweep-here"], "cannot write the sweep folder"),
    ],
)
def test_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


def test_an_unreachable_cluster_is_one_line(capsys, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["sweep", "--model", "builtin:dsprites-btcvae", "--ray", f"127.0.0.1:{port}",
                 "--out", str(tmp_path / "sweep"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "nothing answers at the Ray address" in err[0]
