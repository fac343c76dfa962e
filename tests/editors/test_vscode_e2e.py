"""Real VS Code end to end: code-server + the packaged extension + chromium (playwright-core).

Runs ``extension/scripts/e2e.sh``: it installs its tools once (node 24, code-server,
playwright-core from npm; chromium from Debian) into ``~/.cache/codeward-e2e`` (about five
minutes the first time), packages the .vsix, starts code-server with the real server and the
tiny model, types in a Python file and checks the event store. About one minute once the tools
are cached. Screenshots and ``result.json`` land in ``extension/out/e2e``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "extension" / "scripts" / "e2e.sh"

pytestmark = [pytest.mark.editor, pytest.mark.slow]


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm (Node.js)")
def test_vscode_ghost_text_accept_dismiss_explain(tiny_model_dir: Path) -> None:
    out = ROOT / "extension" / "out" / "e2e"
    env = {
        **os.environ,
        "CODEWARD_PYTHON": sys.executable,
        "CODEWARD_E2E_TOOLS": os.environ.get(
            "CODEWARD_E2E_TOOLS", str(Path.home() / ".cache" / "codeward-e2e")
        ),
        "E2E_OUT": str(out),
    }
    proc = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=1500
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads((out / "result.json").read_text())
    steps = result["steps"]
    assert result["ok"] is True
    assert steps["accept"]["accepted_length"] == len("return a + b")
    assert steps["accept"]["partial"] is False
    assert steps["partial"]["partial"] is True
    assert 0 < steps["partial"]["accepted_length"] < len("return a + b")
    assert steps["escape"]["reason"] == "escape"
    assert steps["typedOver"]["reason"] == "typed-over"
    assert any("B605" in row or "CW-SEC" in row for row in steps["explain"]["rows"])
    assert "pip install codeward" in steps["startFailure"]["message"]
    assert any("Turn completions off" in row for row in result["menu"])
    for name in ("ghost-text", "accepted", "explain", "menu", "start-failure"):
        assert (out / f"{name}.png").stat().st_size > 10_000
