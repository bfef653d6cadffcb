"""report.html: self-contained, every latent shown, all text escaped, absent fields tolerated."""

from __future__ import annotations

import base64
import json
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from agent.errors import UserError
from tools.report.html import write_report
from tools.traversal.strip import make_strip, png_bytes, save_frames

HOSTILE = "<script>alert('x')</script> moves the shape right & up"


class Page(HTMLParser):
    """Collects every start tag with its attributes, all text, and the text of each card
    (a <section> with an id)."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.cards: dict[str, list[str]] = {}
        self._card: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "section" and attrs.get("id"):
            self._card = attrs["id"]
            self.cards[self._card] = []

    def handle_endtag(self, tag):
        if tag == "section":
            self._card = None

    def handle_data(self, data):
        self.text.append(data)
        if self._card:
            self.cards[self._card].append(data)

    def all_text(self) -> str:
        return " ".join(self.text)

    def card_text(self, latent_id: str) -> str:
        (key,) = [k for k in self.cards if k.endswith(f"-{latent_id}")]
        return " ".join(self.cards[key])

    def srcs(self) -> list[str]:
        return [attrs["src"] for _, attrs in self.tags if "src" in attrs]


def traversal(run_dir: Path, name: str, shift: float) -> tuple[list[str], str]:
    """Frames and a strip for one latent on disk; returns their paths relative to run_dir."""
    frames = np.zeros((5, 1, 8, 8))
    for k in range(5):
        frames[k, 0, 2:6, k : k + 3] = min(1.0, 0.5 + shift)
    paths = save_frames(frames, run_dir / "frames", name)
    strip = run_dir / "strips" / f"{name}.png"
    strip.parent.mkdir(exist_ok=True)
    strip.write_bytes(png_bytes(make_strip(frames, [-3, -1.5, 0, 1.5, 3], name)))
    return [p.relative_to(run_dir).as_posix() for p in paths], strip.relative_to(run_dir).as_posix()


@pytest.fixture
def run(tmp_path) -> tuple[dict, Path]:
    frames0, strip0 = traversal(tmp_path, "z0", 0.0)
    frames1, strip1 = traversal(tmp_path, "z1", 0.3)
    (tmp_path / "roc.png").write_bytes((tmp_path / strip0).read_bytes())
    (tmp_path / "results.json").write_text("{}")
    results = {
        "run_id": "run-1",
        "model": {"name": "dsprites-beta-tcvae", "latent_dim": 10},
        "bias": {"formula": "p(z) = prod_i p(z_i)", "kind": "disentanglement", "prompt": "each variable alone"},
        "settings": {"n_samples": 3, "threshold": 0.7},
        "backend": {"vision": "offline-analytic", "coder": "template"},
        "latents": [
            {
                "id": "z0", "indices": [0], "status": "explained", "explanation": HOSTILE,
                "certainty": 0.85, "threshold": 0.7, "samples": [HOSTILE, "moves right", "shifts right"],
                "gamma": 3.0, "attempts": 2, "frames": frames0, "strip": strip0,
                "measurements": {"centroid_x": [0.1, 0.3, 0.5], "area": 12.0}, "error": None,
                "history": [{"attempt": 1, "range": 1.5, "certainty": 0.4, "decision": "widen-range", "reason": "too small a change"}],
            },
            {
                "id": "z1", "indices": [1], "status": "unclear", "explanation": None, "certainty": 0.31,
                "threshold": 0.7, "samples": ["gets brighter", "rotates", "no clear change"], "gamma": 3.0,
                "attempts": 3, "frames": frames1, "strip": strip1, "measurements": {}, "error": None,
            },
            {
                "id": "z2", "indices": [2], "status": "failed", "explanation": None, "certainty": None,
                "threshold": 0.7, "samples": [], "frames": [], "strip": None,
                "error": "ValueError: decoder returned <nan> values", "history": [],
            },
        ],
        "links": [{"label": "ROC", "path": "roc.png"}, {"label": "raw results", "path": "results.json"}],
    }
    return results, tmp_path


def render(results: dict, run_dir: Path) -> tuple[str, Page]:
    text = write_report(results, run_dir).read_text(encoding="utf-8")
    return text, Page(text)


def test_every_latent_has_a_summary_row_and_a_card(run):
    results, run_dir = run
    path = write_report(results, run_dir)
    assert path == run_dir / "report.html"
    page = Page(path.read_text(encoding="utf-8"))
    card_ids = set(page.cards)
    assert len(card_ids) == 3
    summary_links = {attrs["href"][1:] for tag, attrs in page.tags if tag == "a" and attrs.get("href", "").startswith("#")}
    assert summary_links == card_ids
    for latent_id in ("z0", "z1", "z2"):
        assert latent_id in page.card_text(latent_id)


def test_page_is_self_contained_with_images_inlined(run):
    results, run_dir = run
    text, page = render(results, run_dir)
    srcs = page.srcs()
    assert srcs and all(src.startswith("data:image/png;base64,") for src in srcs)
    strip_bytes = (run_dir / results["latents"][0]["strip"]).read_bytes()
    assert strip_bytes in [base64.b64decode(src.split(",", 1)[1]) for src in srcs]
    assert not any(tag in ("script", "link", "iframe", "object") for tag, _ in page.tags)
    for attr in ("href", "src"):
        assert not any((attrs.get(attr) or "").startswith(("http:", "https:", "file:", "//")) for _, attrs in page.tags)
    assert "url(" not in text and "@import" not in text


def test_text_is_escaped_not_executed(run):
    results, run_dir = run
    text, page = render(results, run_dir)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert HOSTILE in page.card_text("z0")
    assert "<nan>" in page.card_text("z2")


def test_unclear_says_no_clear_explanation_and_failed_shows_its_error(run):
    results, run_dir = run
    _, page = render(results, run_dir)
    assert "No clear explanation" in page.card_text("z1")
    assert "No clear explanation" not in page.card_text("z0")
    assert "decoder returned <nan> values" in page.card_text("z2")


def test_certainty_bar_marks_the_threshold(run):
    results, run_dir = run
    _, page = render(results, run_dir)
    fills = [a["style"] for t, a in page.tags if t == "div" and "fill" in (a.get("class") or "")]
    marks = [a["style"] for t, a in page.tags if t == "div" and a.get("class") == "mark"]
    assert fills == ["width: 85.0%", "width: 31.0%"]
    assert marks == ["left: 70.0%", "left: 70.0%"]
    classes = [a["class"] for t, a in page.tags if t == "div" and "fill" in (a.get("class") or "")]
    assert classes == ["fill pass", "fill below"]


def test_samples_measurements_and_history_are_shown(run):
    results, run_dir = run
    _, page = render(results, run_dir)
    z0 = page.card_text("z0")
    assert "3 explanation samples" in z0 and "shifts right" in z0 and "kept" in z0
    assert "centroid_x" in z0 and "[0.1, 0.3, 0.5]" in z0
    assert "widen-range" in z0 and "too small a change" in z0
    assert "rotates" in page.card_text("z1")


def test_offline_vision_backend_is_named_as_such(run):
    results, run_dir = run
    _, page = render(results, run_dir)
    assert "not by a multimodal LLM" in page.all_text()
    results["backend"]["vision"] = "gpt-4o"
    _, page = render(results, run_dir)
    assert "not by a multimodal LLM" not in page.all_text()
    assert "offline analytic" not in page.all_text()


def test_links_inline_images_and_link_other_files(run):
    results, run_dir = run
    text, page = render(results, run_dir)
    roc = base64.b64encode((run_dir / "roc.png").read_bytes()).decode()
    assert f"data:image/png;base64,{roc}" in page.srcs()
    assert ("a", {"href": "results.json"}) in page.tags


def test_files_outside_the_run_folder_are_not_read(run, tmp_path_factory):
    results, run_dir = run
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.png"
    outside.write_bytes((run_dir / results["latents"][0]["strip"]).read_bytes())
    escape = os.path.relpath(outside, run_dir)
    assert escape.startswith("..") and (run_dir / escape).is_file()
    results["latents"][0]["strip"] = escape
    results["latents"][0]["frames"] = [str(outside)]
    _, page = render(results, run_dir)
    assert len(page.srcs()) == 2  # z1's strip and the ROC image
    assert "Image not embedded" in page.card_text("z0")


def test_missing_optional_fields_do_not_crash(tmp_path):
    results = {"latents": [{"id": "z0"}, {"status": "explained", "certainty": "high"}, "junk"]}
    text, page = render(results, tmp_path)
    assert "z0" in page.card_text("z0")
    assert "latent 1" in page.all_text() and "malformed entry" in page.all_text()
    assert "n/a" in page.all_text()
    _, empty = render({}, tmp_path)
    assert "No latents" in empty.all_text()


def test_results_round_trip_through_json(run):
    results, run_dir = run
    results = json.loads(json.dumps(results))
    path = write_report(results, run_dir, out_name="sub/page.html")
    page = Page(path.read_text(encoding="utf-8"))
    assert ("a", {"href": "../results.json"}) in page.tags


def test_missing_run_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_report({}, tmp_path / "nope")
