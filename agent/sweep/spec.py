"""Which models a sweep explains: `--model REF` flags and `--models FILE`.

FILE is a text file (one model a line: `REF [key=value ...]`, `#` starts a comment, blank lines
are skipped) or, when it ends in .yaml/.yml, a YAML list whose items are such lines or mappings
`{model: REF, labels: {beta: 4, seed: 2}}` (a top-level mapping with a `models:` list is also
read). Labels are free key=value pairs the researcher uses to tell the models apart (beta, seed,
architecture, checkpoint step); they travel into sweep.json and the table. Every reference is
checked here (tools.models.references.parse_model_ref) before any work starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import UserError

YAML_SUFFIXES = (".yaml", ".yml")
LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class SweepModel:
    """ref: the checked reference, in its canonical form. labels: key -> value (strings), in the
    order given. name: the model's run folder under the sweep folder, unique in the sweep.
    family: vae | csvae | ddpm | sd | None (unknown, e.g. a FILE.py:FUNCTION model)."""

    ref: str
    labels: dict[str, str] = field(default_factory=dict)
    name: str = ""
    family: str | None = None

    @property
    def title(self) -> str:
        """The reference followed by its labels, as shown in progress lines and the table."""
        return " ".join([self.ref, *(f"{k}={v}" for k, v in self.labels.items())])

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "labels": dict(self.labels), "name": self.name, "family": self.family}


def parse_label(token: str, where: str) -> tuple[str, str]:
    """`key=value` -> (key, value); UserError naming `where` otherwise."""
    key, sep, value = token.partition("=")
    if not sep or not LABEL_KEY.match(key) or not value:
        raise UserError(f"{where}: {token!r} is not a label; labels are key=value, e.g. beta=4 seed=2")
    return key, value


def parse_line(line: str, where: str) -> tuple[str, dict[str, str]] | None:
    """One `REF [key=value ...]` line -> (ref text, labels); None for a blank or comment line."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    ref, *tokens = text.split()
    labels: dict[str, str] = {}
    for token in tokens:
        key, value = parse_label(token, where)
        if key in labels:
            raise UserError(f"{where}: label {key!r} given twice")
        labels[key] = value
    return ref, labels


def _yaml_item(item: Any, where: str) -> tuple[str, dict[str, str]] | None:
    if isinstance(item, str):
        return parse_line(item, where)
    if isinstance(item, Mapping):
        ref = item.get("model")
        if not isinstance(ref, str) or not ref.strip():
            raise UserError(f"{where}: a mapping needs `model: REF` (got keys {sorted(map(str, item))})")
        labels = item.get("labels") or {}
        extra = {k: v for k, v in item.items() if k not in ("model", "labels")}
        if not isinstance(labels, Mapping):
            raise UserError(f"{where}: `labels` must be a mapping like {{beta: 4, seed: 2}}")
        merged = {**labels, **extra}
        for key, value in merged.items():
            if not LABEL_KEY.match(str(key)) or value is None or isinstance(value, Mapping | list):
                raise UserError(f"{where}: label {key!r}: {value!r} is not a plain key and value")
        return ref.strip(), {str(k): str(v) for k, v in merged.items()}
    raise UserError(f"{where}: expected `REF key=value ...` or a mapping with `model:`, got {type(item).__name__}")


def read_models_file(path: Path) -> list[tuple[str, dict[str, str]]]:
    """The (ref text, labels) entries of a models file, in order; UserError for a missing or
    malformed file, naming the line (text) or item (YAML)."""
    if not path.is_file():
        raise UserError(f"models file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    entries: list[tuple[str, dict[str, str]] | None] = []
    if path.suffix.lower() in YAML_SUFFIXES:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"models file {str(path)!r} is not valid YAML{at}") from None
        if isinstance(data, Mapping) and "models" in data:
            data = data["models"]
        if not isinstance(data, list):
            raise UserError(f"models file {str(path)!r}: expected a YAML list of models (or `models:` with one)")
        entries = [_yaml_item(item, f"{path}: item {i}") for i, item in enumerate(data, 1)]
    else:
        entries = [parse_line(line, f"{path}:{i}") for i, line in enumerate(text.splitlines(), 1)]
    found = [entry for entry in entries if entry is not None]
    if not found:
        raise UserError(f"models file {str(path)!r} lists no models")
    return found


def folder_name(ref: str, labels: Mapping[str, str]) -> str:
    """A readable folder name: the reference's last part plus the labels, e.g. dsprites-btcvae-beta4-seed2."""
    base = re.sub(r"^(builtin|disvae|diffusers|sd):", "", ref).rstrip("/")
    if ".py:" in base:
        file, _, function = base.rpartition(":")
        base = f"{Path(file).stem}-{function}"
    else:
        base = Path(base).name or base
    parts = [base, *(f"{k}{v}" for k, v in labels.items())]
    name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", "-".join(parts)).strip("._-")
    return name[:80] or "model"


def model_family(ref: Any) -> str | None:
    """The family of a checked reference (tools.models.references.ModelRef), read from the
    built-in table or the checkpoint's config.json; None when the reference does not say."""
    import json

    from tools.models.builtin import BUILTIN_MODELS

    if ref.kind == "builtin":
        return BUILTIN_MODELS[ref.target].family
    if ref.kind == "checkpoint":
        try:
            return json.loads((Path(ref.target) / "config.json").read_text()).get("family", "vae")
        except (OSError, ValueError):
            return None
    if ref.kind == "disvae":
        return "vae"
    if ref.kind in ("diffusers", "sd"):  # a diffusers DDPM/DDIM pipeline, a Stable Diffusion pipeline
        return "ddpm" if ref.kind == "diffusers" else "sd"
    return None


def sweep_models(refs: Sequence[str] | None, models_file: Path | None) -> list[SweepModel]:
    """The checked models of a sweep, from --model flags then --models FILE, each with a unique
    folder name; UserError for none, a bad reference (naming its line) or a model listed twice."""
    entries: list[tuple[str, dict[str, str], str]] = [(ref, {}, f"--model {ref!r}") for ref in refs or []]
    if models_file is not None:
        entries += [(ref, labels, f"{models_file}: {ref!r}") for ref, labels in read_models_file(models_file)]
    if not entries:
        raise UserError("no models to sweep; give --model REF (repeatable) or --models FILE")
    return _checked(entries)


def _checked(entries: Iterable[tuple[str, dict[str, str], str]]) -> list[SweepModel]:
    from tools.models.references import parse_model_ref

    models: list[SweepModel] = []
    seen: dict[tuple, str] = {}
    names: set[str] = set()
    for text, labels, where in entries:
        try:
            ref = parse_model_ref(text)
        except UserError as error:
            raise UserError(f"{where}: {error}") from None
        key = (str(ref), tuple(sorted(labels.items())))
        if key in seen:
            raise UserError(f"{where}: the same model and labels are listed twice (first as {seen[key]})")
        seen[key] = where
        name = base = folder_name(str(ref), labels)
        suffix = 1
        while name in names:
            suffix += 1
            name = f"{base}-{suffix}"
        names.add(name)
        models.append(SweepModel(str(ref), dict(labels), name, model_family(ref)))
    return models
