"""Where a diffusers model's files are: a local folder, or a Hugging Face hub id resolved through
the standard Hugging Face cache (huggingface_hub's HF_HUB_CACHE, ~/.cache/huggingface/hub).

The sandbox has no network, so a hub id must be in the cache before its kernel starts:
`locate_pretrained(..., download=True)` (host side) fetches it when a network is there; with
HF_HUB_OFFLINE=1, or when the fetch fails, one line says which files are missing and the
command that fetches them. Local folders never touch the hub.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tools.errors import UserError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
"""OWNER/NAME, as the Hugging Face hub spells a repository."""

WEIGHT_SUFFIXES = (".safetensors", ".bin")
CONFIG_NAMES = ("config.json", "scheduler_config.json", "tokenizer_config.json", "preprocessor_config.json",
                "vocab.json")


class ModelSourceError(UserError):
    """A diffusers model folder or hub id that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class PretrainedSource:
    """folder: the local folder holding the files (a hub id's cache snapshot). hub_id: the id when
    the source was one, else None. revision: the snapshot's commit hash (hub ids only)."""

    folder: Path
    hub_id: str | None = None
    revision: str | None = None

    @property
    def identity(self) -> str:
        """What names these weights in a cache key: the hub id at its commit, or the folder."""
        return f"{self.hub_id}@{self.revision}" if self.hub_id else str(self.folder)


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache (HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "huggingface" / "hub"


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) asks for no network."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def fetch_command(hub_id: str) -> str:
    """The shell command that puts hub_id into the cache (`hf` is huggingface_hub's CLI;
    before huggingface_hub 1.0 it was `huggingface-cli`)."""
    return f"hf download {hub_id}"


def cached_snapshot(hub_id: str) -> Path | None:
    """The newest cached snapshot folder of hub_id (the one refs/main names when present), or None."""
    repo = hub_cache_dir() / f"models--{hub_id.replace('/', '--')}"
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.is_file() and (snapshots / ref.read_text().strip()).is_dir():
        return snapshots / ref.read_text().strip()
    found = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def missing_files(folder: Path | None) -> list[str]:
    """The files a pipeline folder lacks: model_index.json, else per component named in it a
    config and (for models) weights, as 'unet/*.safetensors' patterns."""
    if folder is None:
        return ["all of it (model_index.json and the component folders it names)"]
    if not (folder / "model_index.json").is_file():
        return ["model_index.json"]
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except json.JSONDecodeError:
        return ["a readable model_index.json"]
    missing = []
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or spec[0] is None:
            continue
        sub = folder / name
        if not sub.is_dir():
            missing.append(f"{name}/")
            continue
        if not any((sub / c).is_file() for c in CONFIG_NAMES):
            missing.append(f"{name}/config")
        library, class_name = spec[0], str(spec[1])
        is_model = library in ("diffusers", "transformers") and ("Model" in class_name or "Autoencoder" in class_name
                                                                 or "Encoder" in class_name)
        if is_model and not any(p.name.endswith(WEIGHT_SUFFIXES) for p in sub.iterdir()):
            missing.append(f"{name}/*.safetensors")
    return missing


def locate_pretrained(text: str, what: str, download: bool = False) -> PretrainedSource:
    """The local files of a diffusers model given as a folder or a hub id.

    what: how the user's reference is named in messages (e.g. "diffusers:google/ddpm-cifar10-32").
    download: fetch a hub id that is not cached (host side, never in the sandbox) unless the hub
    is offline. Raises ModelSourceError (one line): a folder that does not exist, a name that is
    neither a folder nor OWNER/NAME, or a hub id whose files are not cached (naming them and
    the command that fetches them)."""
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelSourceError(f"{what}: {text!r} is a file; give the pipeline's folder (it holds model_index.json)")
        return PretrainedSource(path.resolve())
    if not HUB_ID.match(text) or text.startswith((".", "/", "~")):
        raise ModelSourceError(f"{what}: {text!r} is neither an existing folder nor a hub id like OWNER/NAME (Hugging Face)")
    snapshot = cached_snapshot(text)
    missing = missing_files(snapshot)
    if missing and download and not hub_offline():
        snapshot = _download(text, what)
        missing = missing_files(snapshot)
    if missing:
        why = "the hub is offline (HF_HUB_OFFLINE=1)" if hub_offline() else (
            "it could not be fetched" if download else "it has not been fetched yet")
        raise ModelSourceError(
            f"{what}: {text} is not in the Hugging Face cache ({hub_cache_dir()}) and {why}; missing "
            f"{', '.join(missing)}; fetch it once with `{fetch_command(text)}`, or give a local folder")
    return PretrainedSource(snapshot, text, snapshot.name)


def _download(hub_id: str, what: str) -> Path | None:
    """Fetch hub_id's pipeline files into the cache (diffusers picks the files a pipeline needs);
    None when that fails (no network, no such repository)."""
    try:
        from diffusers import DiffusionPipeline

        return Path(DiffusionPipeline.download(hub_id))
    except Exception:  # noqa: BLE001 - any failure to fetch becomes the one-line error above
        return cached_snapshot(hub_id)


def load_error_line(error: BaseException, folder: Path) -> str:
    """One line for an error raised while loading from folder; a permission problem gets the fix
    (as root, the sandbox's kernel runs as an unprivileged user that must be able to read it)."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if isinstance(error, PermissionError) or "Permission denied" in first:
        return f"{first}; the sandbox's user cannot read it: make the folder readable (chmod -R a+rX {folder})"
    return first


def unconditional_layout(folder: Path, what: str) -> tuple[str | None, str | None]:
    """(unet subfolder, scheduler subfolder) of a folder ("" = the folder itself), or a
    ModelSourceError naming what is missing and pointing at sd: for a text-to-image pipeline."""
    index = folder / "model_index.json"
    if index.is_file():
        spec = json.loads(index.read_text())
        if "text_encoder" in spec or "StableDiffusion" in str(spec.get("_class_name", "")):
            raise ModelSourceError(f"{what}: {folder} is a text-to-image pipeline ({spec.get('_class_name')}); "
                                   "use sd:FOLDER --prompt TEXT")
        unet = spec.get("unet")
        if not unet or unet[1] != "UNet2DModel":
            raise ModelSourceError(f"{what}: {folder} holds a {spec.get('_class_name')} whose unet is "
                                   f"{unet[1] if unet else 'missing'}; diffusers: needs a UNet2DModel pipeline "
                                   "(DDPMPipeline, DDIMPipeline)")
        if not spec.get("scheduler"):
            raise ModelSourceError(f"{what}: {folder}/model_index.json names no scheduler")
        return "unet", "scheduler"
    if (folder / "unet" / "config.json").is_file() and (folder / "scheduler" / "scheduler_config.json").is_file():
        return "unet", "scheduler"
    if (folder / "config.json").is_file() and (folder / "scheduler_config.json").is_file():
        return "", ""
    raise ModelSourceError(f"{what}: {folder} is not a diffusers pipeline (needs model_index.json, or unet/ and "
                           "scheduler/ folders, or a UNet2DModel's config.json with a scheduler_config.json)")
