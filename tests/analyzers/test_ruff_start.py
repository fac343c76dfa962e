"""A completion never waits for a ruff server to start: while the project's server starts
(a document was just opened), the ruff analyzer says ``warming`` at once and the pipeline
goes on (``vetting.on_warming`` decides); once it has started, ruff vets as always."""

from __future__ import annotations

import threading

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
        ruff._starting[str(tmp_path)].join(30)
        assert "ruff:E711" in {f.rule_id for f in ruff.analyze(ctx, RuffOptions()).findings}
    finally:
        ruff.close()
