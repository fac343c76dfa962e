"""The license index in a worker process: the real one (shared with the session pipeline)
and the client's behaviour with a stand-in worker (ready, lookups, timeouts, restarts)."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from codeward.analyzers.contract import VetContext
from codeward.analyzers.license import LicenseAnalyzer, LicenseOptions
from codeward.analyzers.licenseworker import MAX_STARTS, LicenseWorker, WorkerGone
from codeward.analyzers.pipeline import Pipeline

FAKE = textwrap.dedent('''
    import json, os, sys, time
    if os.environ.get("FAKE_FAIL"):
        print(json.dumps({"ready": False, "error": "no index here"}), flush=True)
        sys.exit(1)
    time.sleep(float(os.environ.get("FAKE_LOAD_S", "0")))
    print(json.dumps({"ready": True, "seconds": 0, "rss_mb": 1, "pid": os.getpid()}),
          flush=True)
    for raw in sys.stdin:
        req = json.loads(raw)
        if req["query"].startswith("die"):
            os._exit(3)
        if req["query"].startswith("slow"):
            time.sleep(0.5)
        matches = [{"start_line": 1, "end_line": 1, "score": 100.0, "len": 3,
                    "matcher": "1-spdx-id", "identifier": "spdx-id",
                    "spdx": ["GPL-3.0-only"], "categories": ["Copyleft"]}] \\
            if "GPL" in req["query"] else []
        print(json.dumps({"id": req["id"], "matches": matches, "copyrights": []}),
              flush=True)
''')


@pytest.fixture
def fake(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE)
    return [sys.executable, str(script)]


def test_real_worker_serves_the_session_pipeline(pipeline: Pipeline):
    analyzer = pipeline.analyzers["license"]
    worker = analyzer._worker
    assert worker is not None and worker.ready
    assert worker.info["pid"] != os.getpid() and worker.info["rss_mb"] > 100
    assert pipeline.status()["license"] == "ready"
    start = time.perf_counter()
    verdict = analyzer.analyze(VetContext("", "# SPDX-License-Identifier: GPL-3.0-only\n", ""),
                               LicenseOptions())
    assert (time.perf_counter() - start) < 1.0
    assert verdict.action == "block" and [f.rule_id for f in verdict.findings] == ["CW-LIC-SPDX"]
    assert verdict.findings[0].extra["spdx"] == ["GPL-3.0-only"]


def test_warming_then_ready(fake, monkeypatch):
    monkeypatch.setenv("FAKE_LOAD_S", "0.5")
    analyzer = LicenseAnalyzer()
    analyzer._worker = LicenseWorker(fake)
    pipe = Pipeline({"license": analyzer}, {}, {})
    pipe.start_warm_up()
    try:
        r = pipe.vet(VetContext("", "# SPDX-License-Identifier: GPL-3.0-only\n", ""))
        assert r.statuses["license"] == "warming" and "CW-VET-WARMING" in r.rule_ids
        assert pipe.status()["license"] == "warming"
        assert pipe.wait_ready(20)
        r = pipe.vet(VetContext("", "# SPDX-License-Identifier: GPL-3.0-only\n", ""))
        assert r.statuses["license"] == "ok" and r.action == "block"
    finally:
        pipe.close()


def test_timeout_then_next_lookup_is_not_confused(fake):
    worker = LicenseWorker(fake)
    worker.start()
    try:
        assert worker.wait_ready(20)
        with pytest.raises(TimeoutError):
            worker.lookup("slow", None, 0.05)
        # the late answer to "slow" must not be taken for this one
        assert worker.lookup("GPL here", None, 5)["matches"]
        assert worker.lookup("nothing", None, 5)["matches"] == []
    finally:
        worker.close()
    assert worker.dead()


def test_dead_worker_is_restarted_and_status_says_warming(fake):
    analyzer = LicenseAnalyzer()
    analyzer._worker = LicenseWorker(fake)
    pipe = Pipeline({"license": analyzer}, {}, {})
    pipe.start_warm_up()
    try:
        assert pipe.wait_ready(20)
        v = analyzer.analyze(VetContext("", "die now\n", ""), LicenseOptions())
        assert v.status == "warming" and "restarting" in v.detail
        deadline = time.monotonic() + 20
        while not analyzer.is_ready() and time.monotonic() < deadline:
            assert pipe.status()["license"] in ("warming", "ready")
            time.sleep(0.02)
        assert analyzer.is_ready() and analyzer._worker.starts == 2
        v = analyzer.analyze(VetContext("", "GPL\n", ""), LicenseOptions())
        assert v.status == "ok" and v.action == "block"
    finally:
        pipe.close()


def test_worker_that_keeps_dying_is_an_error(fake):
    worker = LicenseWorker(fake)
    worker.start()
    try:
        for _ in range(MAX_STARTS):
            assert worker.wait_ready(20)
            with pytest.raises(WorkerGone):
                worker.lookup("die", None, 5)
            worker._proc.wait()
            worker.restart()
        assert worker.failed and "died" in worker.failed
    finally:
        worker.close()


def test_worker_that_cannot_load_is_an_error_never_clean(fake, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "1")
    analyzer = LicenseAnalyzer()
    analyzer._worker = LicenseWorker(fake)
    pipe = Pipeline({"license": analyzer}, {}, {})
    pipe.start_warm_up()
    try:
        assert not pipe.wait_ready(20)
        assert pipe.status()["license"].startswith("error: no index here")
        r = pipe.vet(VetContext("", "x = 1\n", ""))
        assert r.statuses["license"] == "error" and r.action == "block"
    finally:
        pipe.close()


def test_a_module_in_the_working_directory_cannot_shadow_the_workers_imports(tmp_path):
    """A project with its own ``scancode.py`` at its root (where the server runs) broke
    the worker's ``import scancode``: ``python -m`` put the working directory first on
    ``sys.path``. The worker's interpreter flags keep it off."""
    import subprocess

    (tmp_path / "scancode.py").write_text("raise ImportError('the project, not scancode')\n")
    python = LicenseWorker().command[:-2]  # the interpreter and its flags, without -m MODULE
    probe = "import scancode, sys; print(scancode.__file__)"
    shadowed = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path,
                              capture_output=True, text=True)
    assert "the project, not scancode" in shadowed.stderr  # the hazard is real
    out = subprocess.run([*python, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert str(tmp_path) not in out.stdout and "site-packages" in out.stdout
