from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "corpus"))

from codeward.analyzers.copied import SHIPPED  # noqa: E402
from codeward.analyzers.pipeline import Pipeline  # noqa: E402

CORPUS_SETTINGS = {"ruff": {"enabled": False}, "naming": {"enabled": False},
                   "copied-code": {"index": str(SHIPPED)}}


@pytest.fixture(scope="session")
def pipeline():
    """All analyzers, warm (the scancode index is loaded once per session)."""
    p = Pipeline.from_settings({"copied-code": {"index": str(SHIPPED)}}, {})
    assert p.wait_ready(180), p.status()
    yield p
    p.close()


@pytest.fixture(scope="session")
def security_pipeline(pipeline):
    """The same analyzers with the style ones off (the corpus is about security)."""
    p = Pipeline(pipeline.analyzers, CORPUS_SETTINGS, {})
    p._warm = dict(pipeline._warm)
    return p
