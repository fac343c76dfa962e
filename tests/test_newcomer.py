"""The README followed literally on a fresh clone (``.ci/newcomer``): slow, it installs a
fresh virtual environment with the README's own install line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_newcomer_follows_the_readme() -> None:
    script = Path(__file__).parents[1] / ".ci" / "newcomer"
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all documented outputs match" in proc.stdout
