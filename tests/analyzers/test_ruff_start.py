"""A completion never waits for a ruff server to start: while the project's server starts
(a document was just opened), the ruff analyzer says ``warming`` at once and the pipeline
goes on (``vetting.on_warming`` decides); once it has started, ruff vets as always."""

from __future__ import annotations

import threading
import time

import pytest

from codeward.analyzers import style
from codeward.analyzers.contract import VetContext
from codeward.analyzers.style import RuffAnalyzer, RuffOptions


def test_a_starting_ruff_server_is_warming_and_never_waited_for(tmp_path, monkeypatch):
    (tmp_path / "ruff.toml").write_text('[lint]\nselect = ["E711"]\n')
    release = threading.Event()
    starts: list[str | None] = []
    real = style.RuffServer

    class SlowStart(real):  # type: ignore[misc, valid-type]
        def __init__(self, root: str | None) -> None:
            starts.append(root)
            assert release.wait(30), "the test never released the start"
            super().__init__(root)

    monkeypatch.setattr(style, "RuffServer", SlowStart)
    ruff = RuffAnalyzer()
    try:
        opened = threading.Thread(target=ruff.prepare, args=(str(tmp_path / "m.py"), "python"))
        opened.start()  # the document's opening starts the project's server
        ctx = VetContext("def f(x):\n    ", "return x == None\n", "",
                         path=str(tmp_path / "m.py"))
        verdict = ruff.analyze(ctx, RuffOptions())  # the start is still blocked
        assert verdict.status == "warming" and "ruff is starting" in verdict.detail
        release.set()
        opened.join(30)
        verdict = ruff.analyze(ctx, RuffOptions())
        assert verdict.status == "ok" and "ruff:E711" in {f.rule_id for f in verdict.findings}
        assert starts.count(str(tmp_path)) == 1  # the analyze did not start a second one
    finally:
        release.set()
        ruff.close()


def test_a_root_nobody_prepared_starts_in_the_background(tmp_path):
    (tmp_path / "ruff.toml").write_text('[lint]\nselect = ["E711"]\n')
    ruff = RuffAnalyzer()
    try:
        ctx = VetContext("def f(x):\n    ", "return x == None\n", "",
                         path=str(tmp_path / "m.py"))
        assert ruff.analyze(ctx, RuffOptions()).status == "warming"
        deadline = time.monotonic() + 30
        while (verdict := ruff.analyze(ctx, RuffOptions())).status == "warming":
            assert time.monotonic() < deadline, "ruff never started"
            time.sleep(0.05)
        assert "ruff:E711" in {f.rule_id for f in verdict.findings}
    finally:
        ruff.close()


def test_a_start_that_fails_is_tried_again(tmp_path, monkeypatch):
    """A start that fails (ruff missing, no answer) is not left "under way" for ever: the
    next completion begins another."""
    real = style.RuffServer
    calls: list[str | None] = []

    def broken(root: str | None) -> None:
        calls.append(root)
        raise OSError("no ruff here")

    monkeypatch.setattr(style, "RuffServer", broken)
    ruff = RuffAnalyzer()
    try:
        with pytest.raises(OSError):
            ruff.prepare(str(tmp_path / "m.py"), "python")  # a one-shot command's prepare
        monkeypatch.setattr(style, "RuffServer", real)
        ctx = VetContext("", "x = 1\n", "", path=str(tmp_path / "m.py"))
        assert ruff.analyze(ctx, RuffOptions()).status == "warming"  # a new start begins
        deadline = time.monotonic() + 30
        while ruff.analyze(ctx, RuffOptions()).status == "warming":
            assert time.monotonic() < deadline, "ruff never started"
            time.sleep(0.05)
        assert calls == [str(tmp_path)]
    finally:
        ruff.close()


def test_the_status_says_warming_from_the_opening_until_ruff_has_started(tmp_path,
                                                                         monkeypatch):
    """``codeward/status`` (the pipeline's status) says ruff is warming from the moment a
    document is opened (not only once the background start got going) until the project's
    server has started: what ``codeward simulate`` waits for, so its runs repeat."""
    from codeward.analyzers.pipeline import Pipeline

    release = threading.Event()
    real = style.RuffServer

    class SlowStart(real):  # type: ignore[misc, valid-type]
        def __init__(self, root: str | None) -> None:
            assert release.wait(30), "the test never released the start"
            super().__init__(root)

    monkeypatch.setattr(style, "RuffServer", SlowStart)
    ruff = RuffAnalyzer()
    pipeline = Pipeline({"ruff": ruff}, {}, {})
    try:
        assert pipeline.status()["ruff"] == "ready"
        pipeline.prepare(str(tmp_path / "m.py"), "python")  # in the background
        assert pipeline.status()["ruff"] == "warming"  # at once, before the thread ran
        release.set()
        deadline = time.monotonic() + 30
        while pipeline.status()["ruff"] == "warming":
            assert time.monotonic() < deadline, "ruff never started"
            time.sleep(0.05)
        assert pipeline.status()["ruff"] == "ready"
        pipeline.prepare(str(tmp_path / "n.txt"), "plaintext")  # not ruff's language
        assert pipeline.status()["ruff"] == "ready"
    finally:
        release.set()
        pipeline.close()
