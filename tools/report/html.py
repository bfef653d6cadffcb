"""The run's report as one self-contained HTML page (opens offline: CSS inline, images inlined
as base64 data URIs, no scripts, fonts or anything fetched).

Input is the results.json contract (docs/results.md); every file path in it is relative to the
run directory. Only image files inside the run directory are embedded; a path that is missing
or points outside it is reported on the page instead of read. All text from the results is
HTML-escaped, so an explanation or error containing markup is shown, never run.

The page: a header (run, model, bias formula and its prompt, backends, with a notice when the
explanations come from the offline analytic describer rather than a multimodal LLM), a summary
table, one card per latent (strip, explanation, certainty bar with the threshold marked,
status, samples, measurements, the verifier's loop-backs) and the extra files in "links".
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote, urlsplit

from tools.errors import UserError

TEMPLATE_NAME = "template.html"
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}
STATUSES = ("explained", "unclear", "failed")
NO_CLEAR_EXPLANATION = "No clear explanation"


def write_report(results: Mapping[str, Any], run_dir: Path, out_name: str = "report.html") -> Path:
    """Render `results` (the results.json contract) to run_dir/out_name and return that path.

    Missing optional fields are shown as absent ("n/a", or the section left out), never an
    error. Raises UserError when run_dir is not a directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory {str(run_dir)!r} does not exist; give the folder that holds results.json")
    out_path = run_dir / out_name
    latents = [_as_latent(entry, i) for i, entry in enumerate(results.get("latents") or [])]
    anchors = [f"latent-{i}-{re.sub(r'[^A-Za-z0-9_-]', '-', str(latent.get('id')))}" for i, latent in enumerate(latents)]
    parts = [_header(results), _summary(latents, anchors), "<h2>Latents</h2>"]
    parts += [_card(latent, anchor, run_dir) for latent, anchor in zip(latents, anchors, strict=True)]
    parts.append(_links(results.get("links") or [], run_dir, out_path.parent))
    run_id = results.get("run_id")
    title = "LatentExplainer report" + (f" \N{EM DASH} {run_id}" if run_id else "")
    template = Template(resources.files("tools.report").joinpath(TEMPLATE_NAME).read_text(encoding="utf-8"))
    page = template.substitute(title=_e(title), body="\n".join(p for p in parts if p))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    return out_path


def is_offline_vision(name: str | None) -> bool:
    """Whether a vision backend name means the offline analytic describer, not an MLLM."""
    lowered = (name or "").lower()
    return lowered.startswith("offline") or "analytic" in lowered


def _e(value: Any) -> str:
    """Any value as escaped HTML text (quotes escaped too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _as_latent(entry: Any, index: int) -> dict[str, Any]:
    """A latent entry as a dict; a malformed entry becomes a failed card saying so."""
    if isinstance(entry, Mapping):
        latent = dict(entry)
        if latent.get("id") is None:
            latent["id"] = f"latent {index}"
        return latent
    return {"id": f"latent {index}", "status": "failed", "error": f"malformed entry in results: {entry!r:.200}"}


def _number(value: Any, digits: int = 3) -> str:
    """A finite number with `digits` decimals; "n/a" for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _rounded(value: Any) -> Any:
    """Floats rounded to 4 significant digits, recursively, for compact display."""
    if isinstance(value, float):
        return float(f"{value:.4g}") if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _display(value: Any) -> str:
    """A value as short escaped text: scalars as they are, containers as compact JSON."""
    value = _rounded(value)
    if isinstance(value, str):
        return _e(value)
    return _e(json.dumps(value, ensure_ascii=False, default=str))


def _kv_table(mapping: Mapping[str, Any]) -> str:
    """A two-column table of a mapping's keys and compact values."""
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_display(v)}</td></tr>" for k, v in mapping.items())
    return f'<table class="kv">{rows}</table>'


def _status(latent: Mapping[str, Any]) -> tuple[str, str]:
    """(CSS class, escaped label) of a latent's status badge."""
    status = latent.get("status")
    return (status if status in STATUSES else "other"), _e(status or "unknown")


def _badge(latent: Mapping[str, Any]) -> str:
    css, label = _status(latent)
    return f'<span class="badge {css}">{label}</span>'


def _header(results: Mapping[str, Any]) -> str:
    """Run, model, bias and backends, with the offline notices."""
    model = results.get("model") or {}
    bias = results.get("bias") or {}
    backend = results.get("backend") or {}
    vision, coder = backend.get("vision"), backend.get("coder")
    facts = []
    if results.get("run_id"):
        facts.append(("Run", f"<code>{_e(results['run_id'])}</code>"))
    if model:
        facts.append(("Model", _kv_table(model) if isinstance(model, Mapping) else _display(model)))
    if bias.get("formula"):
        kind = f' <span class="badge other">{_e(bias["kind"])}</span>' if bias.get("kind") else ""
        facts.append(("Inductive bias", f"<code>{_e(bias['formula'])}</code>{kind}"))
    if bias.get("prompt"):
        facts.append(("Bias prompt", f"<blockquote>{_e(bias['prompt'])}</blockquote>"))
    vision_note = " (offline analytic describer, not a multimodal LLM)" if is_offline_vision(vision) else " (multimodal LLM)"
    facts.append(("Vision backend", f"<code>{_e(vision or 'n/a')}</code>{vision_note if vision else ''}"))
    facts.append(("Coder backend", f"<code>{_e(coder or 'n/a')}</code>"))
    if _usage_text(results.get("usage")):
        facts.append(("LLM cost", _e(_usage_text(results["usage"]))))
    rows = "".join(f"<dt>{_e(term)}</dt><dd>{value}</dd>" for term, value in facts)
    parts = ['<header class="panel">', "<h1>LatentExplainer report</h1>", f'<dl class="facts">{rows}</dl>']
    if is_offline_vision(vision):
        parts.append(
            '<div class="notice"><strong>Offline analytic describer.</strong> The explanations below were '
            "written by measuring the frames (position, size, orientation, shape, colours, brightness) and "
            "stating what changes, not by a multimodal LLM. Certainty is agreement across anchors.</div>"
        )
    settings = results.get("settings")
    if isinstance(settings, Mapping) and settings:
        parts.append(f"<details><summary>Settings</summary>{_kv_table(settings)}</details>")
    parts.append("</header>")
    return "\n".join(parts)


def _summary_text(latent: Mapping[str, Any]) -> str:
    """The one-line explanation shown in the summary table."""
    status = latent.get("status")
    if status == "failed":
        first_line = str(latent.get("error") or "no error recorded").strip().splitlines() or [""]
        return f'<span class="muted">Failed: {_e(first_line[0])}</span>'
    if status == "unclear":
        return f'<span class="muted">{NO_CLEAR_EXPLANATION}</span>'
    return _e(latent.get("explanation") or "n/a")


def _summary(latents: Sequence[Mapping[str, Any]], anchors: Sequence[str]) -> str:
    """Table: latent, status, certainty / threshold, fidelity, explanation."""
    if not latents:
        return '<h2>Summary</h2><p class="muted">No latents in these results.</p>'
    rows = "".join(
        f'<tr><td><a href="#{_e(anchor)}">{_e(latent.get("id"))}</a></td><td>{_badge(latent)}</td>'
        f'<td class="num">{_number(latent.get("certainty"))} / {_number(latent.get("threshold"))}</td>'
        f'<td class="num">{_fidelity_cell(latent.get("fidelity"))}</td>'
        f"<td>{_summary_text(latent)}</td></tr>"
        for latent, anchor in zip(latents, anchors, strict=True)
    )
    head = ("<tr><th>Latent</th><th>Status</th><th>Certainty / threshold</th>"
            '<th title="accuracy of predictions on fresh traversals (chance in brackets)">Fidelity: detection, '
            "direction</th><th>Explanation</th></tr>")
    return f"<h2>Summary</h2><table>{head}{rows}</table>"


def _fidelity_cell(fidelity: Any) -> str:
    """ "0.88 (0.2), 1.0 (0.5), 8 trials" from a fidelity record; n/a without one."""
    if not isinstance(fidelity, Mapping):
        return '<span class="muted">n/a</span>'
    chance = fidelity.get("chance") if isinstance(fidelity.get("chance"), Mapping) else {}
    return (f'{_number(fidelity.get("detection"))} ({_number(chance.get("detection"))}), '
            f'{_number(fidelity.get("direction"))} ({_number(chance.get("direction"))}), '
            f'<span class="muted">{_e(fidelity.get("trials"))} trials, {_e(fidelity.get("simulator"))}</span>')


def _explanation(latent: Mapping[str, Any]) -> str:
    """Explained: the text; unclear: "No clear explanation" (and the rejected candidate);
    failed: the error."""
    status, text = latent.get("status"), latent.get("explanation")
    if status == "failed":
        return f'<pre class="error">{_e(latent.get("error") or "Failed; no error recorded.")}</pre>'
    if status == "unclear":
        parts = [f'<p class="explanation none">{NO_CLEAR_EXPLANATION}</p>']
        if text and text != NO_CLEAR_EXPLANATION:
            parts.append(f'<p class="candidate muted">Closest candidate (below the threshold): {_e(text)}</p>')
        return "".join(parts)
    return f'<p class="explanation">{_e(text or "No explanation recorded.")}</p>'


def _meter(certainty: Any, threshold: Any) -> str:
    """Certainty as a bar on [0, 1] with the threshold marked, and the numbers in words."""
    has_c, has_t = _number(certainty) != "n/a", _number(threshold) != "n/a"
    if not has_c:
        return '<p class="meter-text">certainty n/a</p>'
    width = min(max(float(certainty), 0.0), 1.0) * 100
    passed = has_t and certainty >= threshold
    mark = ""
    verdict = ""
    if has_t:
        left = min(max(float(threshold), 0.0), 1.0) * 100
        mark = f'<div class="mark" style="left: {left:.1f}%" title="threshold {_number(threshold)}"></div>'
        verdict = " \N{EM DASH} at or above the threshold" if passed else " \N{EM DASH} below the threshold"
    label = f"certainty {_number(certainty)}, threshold {_number(threshold)}"
    return (
        f'<div class="meter" role="img" aria-label="{label}">'
        f'<div class="fill {"pass" if passed else "below"}" style="width: {width:.1f}%"></div>{mark}</div>'
        f'<p class="meter-text">{label}{verdict}</p>'
    )


def _resolve(run_dir: Path, relative: Any) -> Path | None:
    """run_dir/relative if that is an existing file inside run_dir, else None."""
    if not isinstance(relative, str) or not relative:
        return None
    root = run_dir.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def _data_uri(run_dir: Path, relative: Any) -> str | None:
    """A base64 data URI of an image file inside run_dir; None when missing, outside or not
    an image type."""
    path = _resolve(run_dir, relative)
    mime = IMAGE_TYPES.get(path.suffix.lower()) if path else None
    if path is None or mime is None:
        return None
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _missing(relative: Any) -> str:
    return f'<p class="missing">Image not embedded (missing, not an image, or outside the run folder): {_e(relative)}</p>'


def _images(latent: Mapping[str, Any], run_dir: Path) -> str:
    """The strip; without one, the frames side by side in traversal order."""
    name = _e(latent.get("id"))
    strip = latent.get("strip")
    if strip:
        uri = _data_uri(run_dir, strip)
        if uri:
            return f'<div class="strip"><img src="{uri}" alt="traversal strip of {name}"></div>'
    frames = latent.get("frames") or []
    figures = []
    for k, frame in enumerate(frames):
        uri = _data_uri(run_dir, frame)
        if uri:
            figures.append(f'<figure><img src="{uri}" alt="{name} frame {k}"><figcaption>{k}</figcaption></figure>')
    if figures:
        return f'<div class="strip frames">{"".join(figures)}</div>'
    return _missing(strip) if strip else ('<p class="muted">No images.</p>' if not frames else _missing(frames[0]))


def _samples(latent: Mapping[str, Any]) -> str:
    """The n explanation samples behind a toggle; the one kept is marked."""
    samples = latent.get("samples") or []
    if not samples:
        return ""
    kept = latent.get("explanation") if latent.get("status") == "explained" else None
    marker = ' <span class="kept">kept</span>'
    items = "".join(f"<li>{_e(s)}{marker if s == kept else ''}</li>" for s in samples)
    noun = "sample" if len(samples) == 1 else "samples"
    return f"<details><summary>{len(samples)} explanation {noun}</summary><ol>{items}</ol></details>"


def _history(history: Any) -> str:
    """The verifier's loop-backs as a table; nothing when there were none."""
    if not isinstance(history, list) or not history:
        return ""
    rows = []
    for step in history:
        step = step if isinstance(step, Mapping) else {"reason": step}
        rows.append(
            f'<tr><td class="num">{_e(step.get("attempt", ""))}</td><td class="num">{_number(step.get("range"), 2)}</td>'
            f'<td class="num">{_number(step.get("certainty"))}</td><td>{_e(step.get("decision", ""))}</td>'
            f"<td>{_e(step.get('reason', ''))}</td></tr>"
        )
    head = "<tr><th>Attempt</th><th>Range</th><th>Certainty</th><th>Decision</th><th>Reason</th></tr>"
    return f"<h4>Verifier loop-backs</h4><table>{head}{''.join(rows)}</table>"


def _usage_text(usage: Any) -> str:
    """"3 requests, 1200 prompt + 90 completion tokens, 2 cache hits" from a usage record
    (results.json `usage`); "" when it shows no request and no cache hit."""
    if not isinstance(usage, Mapping) or not (usage.get("requests") or usage.get("cache_hits")):
        return ""
    return (f"{usage.get('requests', 0)} requests, {usage.get('prompt_tokens', 0)} prompt + "
            f"{usage.get('completion_tokens', 0)} completion tokens, {usage.get('cache_hits', 0)} cache hits")


def _card(latent: Mapping[str, Any], anchor: str, run_dir: Path) -> str:
    """One latent: head line, images, explanation, certainty, samples, measurements, history."""
    meta = []
    if latent.get("indices") is not None:
        meta.append(f"indices {_display(latent['indices'])}")
    if _number(latent.get("gamma")) != "n/a":
        meta.append(f"traversal span {_number(latent['gamma'], 2)}")
    if latent.get("attempts") is not None:
        meta.append(f"attempts {_e(latent['attempts'])}")
    if _usage_text(latent.get("usage")):
        meta.append(f"LLM: {_e(_usage_text(latent['usage']))}")
    parts = [
        f'<section class="card" id="{_e(anchor)}">',
        f'<div class="card-head"><h3>{_e(latent.get("id"))}</h3>{_badge(latent)}'
        f'<span class="meta">{" &middot; ".join(meta)}</span></div>',
        _images(latent, run_dir),
        _explanation(latent),
        _meter(latent.get("certainty"), latent.get("threshold")),
        f'<p class="meter-text">fidelity on fresh traversals: detection, direction (chance): '
        f'{_fidelity_cell(latent["fidelity"])}</p>' if latent.get("fidelity") else "",
        _samples(latent),
    ]
    measurements = latent.get("measurements")
    if isinstance(measurements, Mapping) and measurements:
        parts.append(f"<details><summary>Measurements</summary>{_kv_table(measurements)}</details>")
    elif measurements:
        parts.append(f"<details><summary>Measurements</summary><pre>{_display(measurements)}</pre></details>")
    if latent.get("error") and latent.get("status") != "failed":
        parts.append(f'<pre class="error">{_e(latent["error"])}</pre>')
    parts += [_history(latent.get("history")), "</section>"]
    return "\n".join(p for p in parts if p)


def _links(links: Any, run_dir: Path, report_dir: Path) -> str:
    """Extra files: images inlined with their label; other files inside the run folder as
    relative links; http(s) addresses as links; anything else as plain text."""
    if not isinstance(links, list) or not links:
        return ""
    items = []
    for link in links:
        link = link if isinstance(link, Mapping) else {"path": link}
        path, label = link.get("path"), _e(link.get("label") or link.get("path"))
        uri = _data_uri(run_dir, path)
        local = _resolve(run_dir, path)
        if uri:
            items.append(f'<figure class="link"><img src="{uri}" alt="{label}"><figcaption>{label}</figcaption></figure>')
        elif local:
            href = quote(Path(os.path.relpath(local, report_dir.resolve())).as_posix())
            items.append(f'<p><a href="{_e(href)}">{label}</a></p>')
        elif isinstance(path, str) and urlsplit(path).scheme in ("http", "https"):
            items.append(f'<p><a href="{_e(path)}">{label}</a></p>')
        else:
            items.append(f'<p>{label}: <span class="missing">not found: {_e(path)}</span></p>')
    return "<h2>Files</h2>" + "".join(items)
