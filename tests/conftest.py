from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from models import tiny_hf, tiny_model  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_logging():
    """A command run in-process (``cli.main``) configures the root logger for the process;
    undo it after each test, or a later test's ``caplog`` misses warnings (root at ERROR)."""
    import logging

    root, pygls = logging.getLogger(), logging.getLogger("pygls")
    saved = (root.level, list(root.handlers), pygls.level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    pygls.setLevel(saved[2])


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A tiny converted model taught a few completions (see tests/models.py)."""
    return tiny_model("taught")


@pytest.fixture(scope="session")
def random_model_dir() -> Path:
    """A tiny converted model with random weights."""
    return tiny_model("random")


@pytest.fixture(scope="session")
def tiny_hf_dir(tiny_model_dir: Path) -> Path:
    return tiny_hf("taught")


def pytest_configure(config: pytest.Config) -> None:
    """Keep every test (and every server it starts) away from the user's real data dirs."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="codeward-tests-"))
    config.stash[_BASE] = base
    for var in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        (base / var).mkdir()
        os.environ[var] = str(base / var)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's data dirs go with it (a run left 2-4 MB in /tmp each time)."""
    import shutil

    base = config.stash.get(_BASE, None)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


_BASE = pytest.StashKey[Path]()
