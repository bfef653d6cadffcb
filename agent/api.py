"""The Python API, for notebooks and scripts:

    from agent.api import explain
    result = explain("models/vae.py:build", frames=9)   # runs the same graph as the CLI
    result                                              # in Jupyter: each latent's strip inline
    result.latents[0]["explanation"]

`model` is a reference, as for `latent-explainer explain --model`. A model object from this
Python process cannot be used directly: the model runs only inside the sandbox kernel (another
process, isolated from this one), so it has to be something that kernel can build itself.
"""

from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import UserError

NO_CLEAR_EXPLANATION = "No clear explanation"
STATUS_COLOURS = {"explained": "#1f7a44", "unclear": "#9a5b00", "failed": "#b3261e"}


@dataclass(frozen=True)
class ExplainResult:
    """A finished run. run_dir: the folder holding results.json, report.html and the frames.
    results: results.json as a dict (the contract in docs/results.md)."""

    run_dir: Path
    results: dict = field(repr=False)

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> ExplainResult:
        """The result of an earlier run, from its folder; UserError when it has no results.json."""
        run_dir = Path(run_dir).resolve()
        path = run_dir / "results.json"
        if not path.is_file():
            raise UserError(f"{str(run_dir)!r} holds no results.json; give the folder of a finished run")
        return cls(run_dir, json.loads(path.read_text(encoding="utf-8")))

    @property
    def latents(self) -> list[dict]:
        """One entry per latent / group: id, status, explanation, certainty, threshold, strip..."""
        return list(self.results.get("latents") or [])

    @property
    def report_path(self) -> Path:
        """The self-contained HTML report of the run."""
        return self.run_dir / "report.html"

    def __repr__(self) -> str:
        counts = {}
        for entry in self.latents:
            counts[entry.get("status")] = counts.get(entry.get("status"), 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no latents"
        return f"ExplainResult(run_dir={str(self.run_dir)!r}, {len(self.latents)} latents: {summary})"

    def _repr_html_(self) -> str:
        """Jupyter's rich display: model, bias, then one row per latent with its strip inlined
        (base64 PNG), status, explanation and certainty against the threshold. All text is
        escaped."""
        model = self.results.get("model") or {}
        bias = self.results.get("bias") or {}
        vision = (self.results.get("backend") or {}).get("vision")
        head = (f"<p><b>LatentExplainer</b> &middot; model <code>{_e(model.get('ref') or model.get('name'))}</code>"
                f" &middot; bias <code>{_e(bias.get('formula'))}</code> ({_e(bias.get('kind'))})"
                f" &middot; vision {_e(vision)} &middot; report <code>{_e(self.report_path)}</code></p>")
        rows = "".join(self._row(entry) for entry in self.latents)
        table = ('<table><tr><th style="text-align:left">latent</th><th style="text-align:left">traversal</th>'
                 f'<th style="text-align:left">explanation</th></tr>{rows}</table>')
        return f'<div class="latent-explainer-result">{head}{table}</div>'

    def _row(self, entry: dict) -> str:
        status = entry.get("status")
        colour = STATUS_COLOURS.get(status, "#5f6b76")
        if status == "failed":
            text = f"Failed: {_e(entry.get('error'))}"
        elif status == "explained":
            text = _e(entry.get("explanation"))
        else:
            text = NO_CLEAR_EXPLANATION
        uri = _png_data_uri(self.run_dir, entry.get("strip"))
        image = f'<img src="{uri}" alt="traversal strip of {_e(entry.get("id"))}" style="max-width:480px">' if uri else "(no strip)"
        certainty = f"certainty {_number(entry.get('certainty'))} / threshold {_number(entry.get('threshold'))}"
        return (f'<tr><td style="vertical-align:top"><b>{_e(entry.get("id"))}</b><br>'
                f'<span style="color:{colour}">{_e(status)}</span></td><td>{image}</td>'
                f'<td style="vertical-align:top;text-align:left">{text}<br><small>{certainty}</small></td></tr>')

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per latent: id, status, explanation, certainty, threshold,
        attempts, strip (absolute path). Raises ImportError when pandas is not installed."""
        try:
            import pandas
        except ImportError:
            raise ImportError("ExplainResult.to_dataframe needs pandas, which is not installed; "
                              "pip install pandas, or read ExplainResult.latents") from None
        columns = ("id", "status", "explanation", "certainty", "threshold", "attempts")
        rows = [{**{c: entry.get(c) for c in columns},
                 "strip": str(self.run_dir / entry["strip"]) if entry.get("strip") else None} for entry in self.latents]
        return pandas.DataFrame(rows, columns=[*columns, "strip"])


def explain(model: str | os.PathLike, bias: str | None = None, llm: str | None = None,
            out: str | os.PathLike | None = None, *, quiet: bool = False, **settings: Any) -> ExplainResult:
    """Explain every latent of `model` and return the run's result.

    model: "builtin:NAME", "FILE.py:FUNCTION" (FUNCTION() returns an object with `latent_dim` and
    `decode(z)`: (B, latent_dim) -> (B, C, H, W) in [0, 1]) or a checkpoint folder.
    bias: the inductive-bias formula (None: the model family's). llm: "openai:MODEL" for an
    OpenAI-compatible endpoint (None: the offline describer; the key comes from OPENAI_API_KEY).
    out: the run folder (None: a new folder under runs/). quiet: no progress lines on stderr.
    settings: any agent.settings.Settings field, e.g. frames=9, n_samples=5, llm_base_url=...

    Raises TypeError for a model object or an unknown setting, UserError for a bad value.
    """
    from agent.request import resolve_request
    from agent.run import run_explain
    from agent.settings import Settings, setting_names

    if not isinstance(model, str | os.PathLike):
        kind = "a model object" if hasattr(model, "decode") and hasattr(model, "latent_dim") else type(model).__name__
        raise TypeError(f"explain() needs a model reference, not {kind}: the model runs only inside the sandbox "
                        "kernel, which cannot reach objects in this Python process; put a function that builds it "
                        "in a file and pass 'FILE.py:FUNCTION' (or a checkpoint folder, or 'builtin:NAME')")
    known = set(setting_names()) - {"llm"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"explain() got unknown settings {unknown}; settings are: {', '.join(sorted(known))}")
    request = resolve_request(os.fspath(model), bias, Settings.resolve({**settings, "llm": llm}),
                              out=Path(out) if out is not None else None, progress="quiet" if quiet else "lines",
                              confirm=lambda _question: False)  # no paraphrase is used unasked from Python
    run_dir = run_explain(request)
    return ExplainResult.load(run_dir)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"


def _png_data_uri(run_dir: Path, relative: Any) -> str | None:
    """A base64 data URI of run_dir/relative when that is a PNG file inside run_dir, else None."""
    if not isinstance(relative, str) or not relative.lower().endswith(".png"):
        return None
    root = run_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
