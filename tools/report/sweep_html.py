"""A sweep's report as one self-contained HTML page (the run report's template and helpers,
tools/report/html.py: CSS inline, images as base64 data URIs, no scripts, all text escaped).

Input is sweep.json (written by `latent-explainer sweep`): per model its reference, labels,
status and run folder (relative to the sweep folder), its latents (id, status, explanation,
certainty, threshold, strip relative to the sweep folder) and, for a model scored against its
labels, the evaluation (factor accuracy, MIG, DCI, SAP, gating AUC / F1 / Jaccard).

The page: a header (models, bias, settings, where it ran, wall time), the tables of models x
latents (one per set of latent ids, so models of one family line up; each cell: status badge,
explanation or why none, certainty against the threshold, the traversal strip), and the scores
of the labelled models side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from tools.errors import UserError
from tools.report.html import (
    NO_CLEAR_EXPLANATION,
    TEMPLATE_NAME,
    _badge,
    _data_uri,
    _e,
    _kv_table,
    _number,
    is_offline_vision,
)

SWEEP_CSS = """<style>
  .sweep { overflow-x: auto; margin-bottom: 16px; }
  .sweep table { width: auto; min-width: 100%; }
  .sweep td.cell { min-width: 180px; max-width: 240px; font-size: 13px; }
  .sweep td.cell img { display: block; max-width: 220px; margin-top: 4px; image-rendering: pixelated; }
  .sweep th.model, .sweep td.model { position: sticky; left: 0; background: var(--paper); min-width: 200px; }
  .labels code { margin-right: 6px; }
</style>"""


def latent_groups(models: Sequence[Mapping[str, Any]]) -> list[tuple[list[str], list[Mapping[str, Any]]]]:
    """The models grouped by their latent ids (models of one family and size share a table),
    in first-seen order: [(latent ids, models)]. Models without latents form the last group."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for model in models:
        ids = tuple(str(latent.get("id")) for latent in model.get("latents") or [])
        groups.setdefault(ids, []).append(model)
    ordered = [(list(ids), members) for ids, members in groups.items() if ids]
    return ordered + ([([], groups[()])] if () in groups else [])


def _cell(latent: Mapping[str, Any] | None, sweep_dir: Path) -> str:
    if latent is None:
        return '<td class="cell muted">&mdash;</td>'
    status = latent.get("status")
    if status == "failed":
        first = (str(latent.get("error") or "no error recorded").strip().splitlines() or [""])[0]
        text = f'<span class="muted">Failed: {_e(first)}</span>'
    elif status == "explained":
        text = _e(latent.get("explanation") or "n/a")
    else:
        text = f'<span class="muted">{NO_CLEAR_EXPLANATION}</span>'
    certainty = (f'<br><small class="muted">certainty {_number(latent.get("certainty"))} / '
                 f'{_number(latent.get("threshold"))}</small>')
    uri = _data_uri(sweep_dir, latent.get("strip"))
    image = f'<img src="{uri}" alt="traversal strip of {_e(latent.get("id"))}">' if uri else ""
    return f'<td class="cell">{_badge(latent)} {text}{certainty}{image}</td>'


def _model_cell(model: Mapping[str, Any]) -> str:
    labels = "".join(f"<code>{_e(k)}={_e(v)}</code>" for k, v in (model.get("labels") or {}).items())
    report = model.get("report")
    name = f'<a href="{_e(report)}">{_e(model.get("ref"))}</a>' if report else f"<code>{_e(model.get('ref'))}</code>"
    status = model.get("status")
    note = ""
    if status == "failed":
        note = f'<br><span class="badge failed">failed</span> <small>{_e(model.get("error"))}</small>'
    elif model.get("reused"):
        note = '<br><small class="muted">finished run reused</small>'
    elif model.get("elapsed_s") is not None:
        note = f'<br><small class="muted">{_number(model.get("elapsed_s"), 1)} s on {_e(model.get("host"))}</small>'
    return f'<td class="model">{name}<div class="labels">{labels}</div>{note}</td>'


def _latent_table(models: Sequence[Mapping[str, Any]], sweep_dir: Path) -> str:
    tables = []
    for columns, members in latent_groups(models):
        head = ('<tr><th class="model">Model</th>' + "".join(f"<th>{_e(c)}</th>" for c in columns)
                + ("" if columns else "<th>Latents</th>") + "</tr>")
        rows = []
        for model in members:
            by_id = {str(latent.get("id")): latent for latent in model.get("latents") or []}
            cells = "".join(_cell(by_id.get(c), sweep_dir) for c in columns) or '<td class="muted">no results</td>'
            rows.append(f"<tr>{_model_cell(model)}{cells}</tr>")
        tables.append(f'<div class="sweep"><table>{head}{"".join(rows)}</table></div>')
    return "<h2>Models &times; latents</h2>" + "".join(tables)


def _percent(value: Any) -> str:
    number = _number(value, 3)
    return "n/a" if number == "n/a" else f"{100 * float(value):.1f}%"


def _score_table(models: Sequence[Mapping[str, Any]]) -> str:
    scored = [m for m in models if m.get("evaluation")]
    unscored = [m for m in models if not m.get("evaluation") and m.get("scoring")]
    if not scored and not unscored:
        return ""
    head = ("<tr><th>Model</th><th>Factor accuracy</th><th>MIG</th><th>DCI D / C / I</th><th>SAP</th>"
            "<th>Gating AUC</th><th>Gating F1</th><th>Gating Jaccard</th><th>Threshold</th></tr>")
    rows = []
    for model in scored:
        ev = model["evaluation"]
        dci = ev.get("dci") or {}
        accuracy = f"{_percent(ev.get('factor_accuracy'))} ({_e(ev.get('n_explained'))} explained, {_e(ev.get('n_active'))} active)"
        rows.append(
            f"<tr><td>{_e(model.get('title') or model.get('ref'))}</td><td class=\"num\">{accuracy}</td>"
            f"<td class=\"num\">{_number(ev.get('mig'))}</td>"
            f"<td class=\"num\">{_number(dci.get('disentanglement'))} / {_number(dci.get('completeness'))} / "
            f"{_number(dci.get('informativeness'))}</td><td class=\"num\">{_number(ev.get('sap'))}</td>"
            f"<td class=\"num\">{_number(ev.get('gating_auc'))}</td><td class=\"num\">{_number(ev.get('gating_f1'))}</td>"
            f"<td class=\"num\">{_number(ev.get('gating_jaccard'))}</td><td class=\"num\">{_number(ev.get('threshold'))}</td></tr>"
        )
    table = f"<table>{head}{''.join(rows)}</table>" if rows else ""
    notes = "".join(f"<li><code>{_e(m.get('title') or m.get('ref'))}</code>: {_e(m.get('scoring'))}</li>" for m in unscored)
    notes = f'<p class="muted">Not scored:</p><ul class="muted">{notes}</ul>' if notes else ""
    return f"<h2>Scores against the labels</h2>{table}{notes}"


def _header(sweep: Mapping[str, Any], models: Sequence[Mapping[str, Any]]) -> str:
    counts = {s: sum(1 for m in models if m.get("status") == s) for s in ("done", "failed")}
    visions = sorted({str(m.get("backend", {}).get("vision")) for m in models if m.get("backend")})
    facts = [
        ("Models", f"{len(models)} ({counts['done']} done, {counts['failed']} failed)"),
        ("Inductive bias", f"<code>{_e(sweep.get('bias') or 'each model family default')}</code>"),
        ("Ran", _e(sweep.get("ray"))),
        ("Wall time", f"{_number(sweep.get('wall_s'), 1)} s"),
        ("Vision backend", ", ".join(f"<code>{_e(v)}</code>" for v in visions) or "n/a"),
    ]
    rows = "".join(f"<dt>{_e(term)}</dt><dd>{value}</dd>" for term, value in facts)
    parts = ['<header class="panel">', "<h1>LatentExplainer sweep</h1>", f'<dl class="facts">{rows}</dl>']
    if any(is_offline_vision(v) for v in visions):
        parts.append('<div class="notice"><strong>Offline analytic describer.</strong> Explanations were written by '
                     "measuring the frames, not by a multimodal LLM; certainty is agreement across anchors.</div>")
    settings = sweep.get("settings")
    if isinstance(settings, Mapping) and settings:
        parts.append(f"<details><summary>Settings (every model)</summary>{_kv_table(settings)}</details>")
    parts.append("</header>")
    return "\n".join(parts)


def write_sweep_report(sweep: Mapping[str, Any], sweep_dir: Path, out_name: str = "sweep.html") -> Path:
    """Render sweep.json's content to sweep_dir/out_name and return that path. Paths in it are
    relative to sweep_dir; only images inside it are embedded. UserError when sweep_dir is not
    a directory."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise UserError(f"sweep folder {str(sweep_dir)!r} does not exist")
    models = [m for m in sweep.get("models") or [] if isinstance(m, Mapping)]
    body = "\n".join(p for p in (SWEEP_CSS, _header(sweep.get("sweep") or {}, models),
                                 _latent_table(models, sweep_dir), _score_table(models)) if p)
    template = Template(resources.files("tools.report").joinpath(TEMPLATE_NAME).read_text(encoding="utf-8"))
    out_path = sweep_dir / out_name
    out_path.write_text(template.substitute(title="LatentExplainer sweep", body=body), encoding="utf-8")
    return out_path
