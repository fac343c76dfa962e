"""A model manifest with a wrong type is refused at load with a clear error (it used to load
and then fail every completion with a TypeError)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codeward.server.manifest import MANIFEST_NAME, ModelError, read_manifest


def _copy_with(model_dir: Path, tmp_path: Path, **changes: object) -> Path:
    out = tmp_path / "model"
    shutil.copytree(model_dir, out)
    data = json.loads((out / MANIFEST_NAME).read_text())
    data.update(changes)
    (out / MANIFEST_NAME).write_text(json.dumps(data))
    return out


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("context_length", "768", "expected an integer"),
    ("context_length", 7.5, "expected an integer"),
    ("vocab_size", True, "expected an integer"),
    ("stop_tokens", "<eos>", "expected a list"),
    ("stop_tokens", [1, 2], "expected a string"),
    ("files", ["model.bin"], "expected a table"),
    ("family", 3, "expected a string"),
    ("context_length", -5, "must not be negative"),
    ("family", "", "is empty"),
])
def test_wrong_types_are_refused_naming_the_field(tiny_model_dir: Path, tmp_path: Path,
                                                  field: str, value: object,
                                                  expected: str) -> None:
    bad = _copy_with(tiny_model_dir, tmp_path, **{field: value})
    with pytest.raises(ModelError) as info:
        read_manifest(bad)
    assert field in str(info.value) and expected in str(info.value)


def test_good_manifest_still_loads(tiny_model_dir: Path) -> None:
    manifest = read_manifest(tiny_model_dir)
    assert isinstance(manifest.context_length, int) and manifest.family


def test_cli_reports_the_bad_manifest_instead_of_a_traceback(tiny_model_dir: Path,
                                                             tmp_path: Path) -> None:
    bad = _copy_with(tiny_model_dir, tmp_path, context_length="768")
    src = tmp_path / "a.py"
    src.write_text("def add(a, b):\n    \n")
    proc = subprocess.run([sys.executable, "-m", "codeward.server.cli", "complete",
                           f"{src}:2:5", "--model", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "context_length" in proc.stderr and "Traceback" not in proc.stderr
