"""A real editor end to end: headless Emacs 28.2 with Debian's elpa-eglot 1.9, configured
with exactly the README's Emacs Lisp (read from README.md), on the README demo. Eglot 1.9
inserts the item but never runs its accept command: the server infers the acceptance from
the next didChange, and it reaches the event store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from readme_blocks import DEMO_COL, DEMO_EXPECTED, DEMO_LINE, block, demo_source

pytestmark = pytest.mark.editor
BIN = Path(sys.executable).parent
EMACS = shutil.which("emacs")
EGLOT = any(Path("/usr/share/emacs/site-lisp/elpa").glob("eglot-*"))


@pytest.mark.skipif(EMACS is None or not EGLOT,
                    reason="needs emacs and eglot (apt-get install emacs-nox elpa-eglot)")
def test_emacs_eglot_readme_config_completes_and_accepts(tmp_path: Path) -> None:
    config = tmp_path / "readme.el"
    config.write_text(block("elisp", "**Emacs"))
    (tmp_path / ".codeward.toml").write_text("[vetting]\nbudget_ms = 2000\n")
    src = tmp_path / "demo.py"
    src.write_text(demo_source())
    out = tmp_path / "out.txt"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "CODEWARD_EMACS_OUT": str(out), "CODEWARD_README_EL": str(config),
           "CODEWARD_FILE": str(src), "CODEWARD_LINE": str(DEMO_LINE),
           "CODEWARD_COL": str(DEMO_COL)}
    proc = subprocess.run([EMACS, "--batch", "-l", str(Path(__file__).with_name(
        "emacs_drive.el"))], cwd=tmp_path, env=env, timeout=150, capture_output=True,
        text=True)
    assert out.exists(), proc.stderr[-2000:]
    status, _, buffer = out.read_text().partition("\n")
    assert status == "ok", (buffer, proc.stderr[-2000:])
    assert buffer.splitlines()[DEMO_LINE - 1] == DEMO_EXPECTED, buffer
    rows: list[dict] = []
    deadline = time.time() + 15
    while time.time() < deadline:
        export = subprocess.run([sys.executable, "-m", "codeward.server.cli", "events",
                                 "export"], capture_output=True, text=True, env=env)
        rows = [json.loads(line) for line in export.stdout.splitlines() if line.strip()]
        if any(r["type"] == "accept" for r in rows):
            break
        time.sleep(0.5)
    accepts = [r for r in rows if r["type"] == "accept"]
    assert [r["reason"] for r in accepts] == ["inferred"], rows
