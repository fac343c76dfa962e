"""``codeward complete``: the quick way to see a completion without an editor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codeward.server.cli", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_complete_prints_the_suggestion(tiny_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / ".codeward.toml").write_text("[vetting]\nbudget_ms = 2000\n")
    src = tmp_path / "m.py"
    src.write_text("def add(a, b):\n    \n")
    proc = run("complete", f"{src}:2:5", "--model", str(tiny_model_dir), "--no-wait")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "return a + b"


def test_complete_json(tiny_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / ".codeward.toml").write_text("[vetting]\nbudget_ms = 2000\n")
    src = tmp_path / "m.py"
    src.write_text("def add(a, b):\n    \n")
    proc = run("complete", f"{src}:2:5", "--model", str(tiny_model_dir), "--json",
               "--log-level", "ERROR")
    data = json.loads(proc.stdout)
    assert data["model"] == "tiny-taught@1"
    assert data["candidates"][0]["text"] == "return a + b"
    assert data["candidates"][0]["action"] in ("allow", "annotate")
    # it waited for the license index: every analyzer checked the suggestion
    assert "CW-VET-WARMING" not in {f["rule_id"] for f in data["candidates"][0]["findings"]}
    assert set(data["candidates"][0]["statuses"].values()) <= {"ok", "skipped"}
    assert data["prompt_tokens"] > 5 and data["generation_ms"] > 0


def test_insecure_suggestion_is_withheld(tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import os\n\ndef run(cmd):\n    \n")
    proc = run("complete", f"{src}:4:5", "--model", str(tiny_model_dir), "--json", "--no-wait")
    data = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert data["candidates"] == []
    assert data["blocked"][0]["text"] == "os.system(cmd)"
    assert data["blocked"][0]["action"] == "block"


def test_bad_location_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("x = 1\n")
    for location in (f"{src}:9:1", f"{src}:1:99", f"{src}"):
        proc = run("complete", location, "--model", str(tiny_model_dir))
        assert proc.returncode != 0
        assert "codeward:" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("x = 1\n")
    proc = run("complete", f"{src}:1:1", "--model", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_complete_same_for_lf_crlf_and_no_final_newline(tiny_model_dir: Path,
                                                        tmp_path: Path) -> None:
    (tmp_path / ".codeward.toml").write_text("[vetting]\nbudget_ms = 2000\n")
    outs = []
    for name, text in (("bare.py", "def add(a, b):\n    "), ("lf.py", "def add(a, b):\n    \n"),
                       ("crlf.py", "def add(a, b):\r\n    \r\n")):
        src = tmp_path / name
        src.write_bytes(text.encode())
        proc = run("complete", f"{src}:2:5", "--model", str(tiny_model_dir), "--no-wait")
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert outs == ["return a + b\n"] * 3


def test_one_shot_records_nothing_unless_asked(tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("def add(a, b):\n    \n")
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    proc = run("complete", f"{src}:2:5", "--model", str(tiny_model_dir), "--no-wait", env=env)
    assert proc.returncode == 0, proc.stderr
    written = [p for p in (tmp_path / "data").rglob("*") if "events" in p.name
               or "journal" in p.name]  # (the data dir itself may exist: analyzers look there)
    assert written == []
    proc = run("complete", f"{src}:2:5", "--model", str(tiny_model_dir), "--no-wait",
               "--record", env=env)
    assert proc.returncode == 0, proc.stderr
    stats = run("events", "stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["total"]["served"] == 1, stats.stdout


def test_complete_copies_from_the_document_through_the_index(tiny_model_dir: Path,
                                                             tmp_path: Path) -> None:
    """The one-shot command completes as the server does: the document itself is in the
    project index, so a line the file already has elsewhere is copied, with provenance."""
    (tmp_path / ".codeward.toml").write_text("[vetting]\nbudget_ms = 2000\n")
    src = tmp_path / "m.py"
    src.write_text("class P:\n    def __init__(self, x, y):\n        self.x = x\n"
                   "        self.y = y\n\n\nclass S:\n    def __init__(self, x, y):\n"
                   "        self.x = x\n        self.y\n")
    proc = run("complete", f"{src}:10:15", "--model", str(tiny_model_dir), "--json",
               "--no-wait", "--log-level", "ERROR")
    first = json.loads(proc.stdout)["candidates"][0]
    assert (first["text"], first["source"]) == (" = y", "index")
    assert first["provenance"]["line"] == 4 and first["gate"]["match_tokens"] >= 8
