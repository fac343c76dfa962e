"""A real browser opens the report: headless chromium (Debian's ``chromium`` package) lays
out every plot; each must be a non-empty SVG with drawn shapes and labelled axes. A
screenshot is kept as a test artefact (``$CODEWARD_TEST_ARTIFACTS``, else the test's
temporary directory)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from codeward.server.report.cli import make_report

from seeded_events import Version, generate

pytest.importorskip("matplotlib")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--hide-scrollbars"]

# Runs in the page after layout: per plot, its rendered size, how many shapes have area,
# and the label text of each axis (the last text of matplotlib's axis group).
CHECK = """<script>
const out = [];
for (const fig of document.querySelectorAll("figure.plot")) {
  const svg = fig.querySelector("svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const shapes = svg ? [...svg.querySelectorAll("path, rect, use")].filter(e => {
    const b = e.getBoundingClientRect(); return b.width * b.height > 0; }).length : 0;
  const axes = svg ? [...svg.querySelectorAll('g[id^="matplotlib.axis"]')].map(g => {
    const texts = [...g.querySelectorAll("text")];
    return texts.length ? texts[texts.length - 1].textContent.trim() : ""; }) : [];
  out.push({id: fig.id, width: box.width, height: box.height, shapes, axes});
}
const pre = document.createElement("pre"); pre.id = "check";
pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
</script>"""


def _chromium(*args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_chromium_renders_every_plot(tmp_path: Path) -> None:
    rows, _ = generate([Version("m@v1", 0.3, n=300), Version("m@v2", 0.2, n=300, start_day=10)],
                       seed=5)
    registry = {"current": "v1", "history": [{"version": "v1", "reason": "initial"}],
                "versions": [{"version": "v2", "metrics": {"passed": False, "reasons": ["x"],
                              "checks": [{"name": "margin", "passed": False, "baseline": 1.0,
                                          "candidate": 0.5, "rule": ">"}]}}]}
    page = make_report(rows, checkpoints=[30, 120, 600], registry=registry)
    report = tmp_path / "report.html"
    report.write_text(page, "utf-8")
    # the page itself has no script and forbids them (CSP); the probe needs one
    probe = tmp_path / "probe.html"
    probe.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
                     .replace("</body>", CHECK + "</body>"), "utf-8")
    dom = _chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="check">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    plots = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(plots) == 9, [p["id"] for p in plots]
    for p in plots:
        assert p["width"] > 200 and p["height"] > 100, p
        assert p["shapes"] >= 3, p  # figure and axes backgrounds + data
        assert p["axes"] and all(label and not label.replace(".", "").isdigit()
                                 for label in p["axes"]), p

    artefacts = Path(os.environ.get("CODEWARD_TEST_ARTIFACTS") or tmp_path)
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / "report.png"
    _chromium("--window-size=1200,6000", f"--screenshot={shot}", report.as_uri())
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1200, 6000)
        colors = im.convert("RGB").resize((300, 1500)).getcolors(maxcolors=1 << 16)
        assert colors is None or len(colors) > 50  # plots, not a blank page
