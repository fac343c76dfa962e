from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codeward.finetune.tiny import stdlib_files


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of ~30 small standard-library files (a few hundred KB)."""
    root = tmp_path_factory.mktemp("corpus")
    picked = [p for p in stdlib_files() if 2_000 < p.stat().st_size < 20_000][:30]
    for i, path in enumerate(picked):
        shutil.copy(path, root / f"f{i:02d}_{path.name}")
    return root
