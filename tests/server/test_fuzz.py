"""A short seeded run of our protocol fuzzer (``fuzz.py``; run it long as a script or with
``pytest -m slow``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import fuzz


def test_fuzz_short_seeded_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    with open(tmp_path / "server.log", "w") as log:
        report = fuzz.run(tiny_model_dir, cases=60, seed=12, log=log)
    assert report["cases"] == 60 and set(report["by_category"]) == set(fuzz.CATEGORIES)
    text = (tmp_path / "server.log").read_text()
    assert "AKIAIOSFODNN7EXAMPLE" not in text  # secrets in bad messages never reach the log
    assert "Traceback" not in text or "MemoryError" not in text


@pytest.mark.slow
def test_fuzz_long_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        with open(tmp_path / f"server-{seed}.log", "w") as log:
            assert fuzz.run(tiny_model_dir, cases=400, seed=seed, log=log)["cases"] == 400
