"""report.html in a real headless browser (Debian's chromium): the page renders, shows every
latent with its inlined strip, and a screenshot of it is not blank."""

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agent.cli import main

FIXTURE = Path(__file__).parents[1] / "fixtures" / "user_models.py"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (scripts/setup.sh installs Debian's chromium as root)"),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "run"
    code = main(["explain", "--model", f"{FIXTURE}:build", "--n-samples", "2", "--frames", "3", "--max-attempts", "1",
                 "--quiet", "--out", str(out)])
    assert code == 0
    return out


def chromium(args: list[str], page: Path, profile: Path) -> subprocess.CompletedProcess:
    """Run headless chromium on file://PAGE with its own throw-away profile folder."""
    done = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class Cards(HTMLParser):
    """Collects, per latent card (<section class="card">), its heading and its images' src."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: dict[str, list[str]] = {}
        self._current: list[str] | None = None
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and "card" in (attrs.get("class") or "").split():
            self._current = []
        elif tag == "h3" and self._current is not None:
            self._in_heading = True
        elif tag == "img" and self._current is not None:
            self._current.append(attrs.get("src") or "")

    def handle_data(self, data):
        if self._in_heading and self._current is not None:
            self.cards[data.strip()] = self._current
            self._in_heading = False

    def handle_endtag(self, tag):
        if tag == "section":
            self._current = None


def test_every_latent_is_shown_with_its_strip(run_dir, tmp_path):
    dom = chromium(["--dump-dom"], run_dir / "report.html", tmp_path / "profile").stdout
    results = json.loads((run_dir / "results.json").read_text())
    parser = Cards()
    parser.feed(dom)
    assert set(parser.cards) == {entry["id"] for entry in results["latents"]}
    for entry in results["latents"]:
        images = parser.cards[entry["id"]]
        assert len(images) == 1 and images[0].startswith("data:image/png;base64,")
        assert base64.b64decode(images[0].split(",", 1)[1]) == (run_dir / entry["strip"]).read_bytes()
        if entry["status"] == "explained":
            assert entry["explanation"] in dom
    assert dom.count("No clear explanation") >= 1  # z2 moves nothing


def test_screenshot_is_not_blank_and_shows_the_strips(run_dir, tmp_path):
    shot = tmp_path / "report.png"
    chromium([f"--screenshot={shot}", "--window-size=1200,2000"], run_dir / "report.html", tmp_path / "profile")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.shape == (2000, 1200, 3)
    assert pixels.std() > 10, "the screenshot is (nearly) one colour"
    # The page itself has no pure black; the strips' frames (a white square on black) do. Their
    # black pixels show that the inlined PNGs were decoded and drawn.
    black = (pixels.max(axis=-1) < 8).mean()
    assert black > 0.003, f"only {black:.4%} black pixels: the strips were not drawn"
