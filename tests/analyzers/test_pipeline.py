"""The pipeline: entry points, failure isolation, policies, fixes, the server path."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from codeward.analyzers.contract import BaseAnalyzer, Verdict, VetContext
from codeward.analyzers.pipeline import Pipeline, discover


def test_builtins_are_entry_points():
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="codeward.analyzers")}
    assert {"bandit", "security-rules", "trojan-source", "secrets", "license", "copied-code",
            "ruff", "naming"} <= names
    assert set(discover()) >= names


class Boom(BaseAnalyzer):
    name, category, order = "boom", "style", 1

    def analyze(self, ctx, options):
        raise RuntimeError("kaput")


@dataclass
class UpperOptions:
    pass


class Upper(BaseAnalyzer):
    name, category, order = "upper", "style", 2

    def analyze(self, ctx, options):
        return Verdict(action="fix", text=ctx.suggestion.upper())


class Seen(BaseAnalyzer):
    name, category, order = "seen", "security", 3
    texts: list[str] = []

    def analyze(self, ctx, options):
        Seen.texts.append(ctx.suggestion)
        return Verdict()


def make(vetting=None, analyzers=None, **extra):
    objs = {"boom": Boom(), "upper": Upper(), "seen": Seen(), **extra}
    return Pipeline(objs, analyzers or {}, vetting or {})


def test_failure_is_isolated_and_never_clean(caplog):
    p = make()
    with caplog.at_level(logging.ERROR):
        r = p.vet(VetContext("", "x = 1\n", ""))
        p.vet(VetContext("", "y = 1\n", ""))
    assert r.statuses == {"boom": "error", "upper": "ok", "seen": "ok"}
    assert r.action == "block"  # default on_error
    assert "CW-VET-ERROR" in r.rule_ids
    assert sum("kaput" in rec.getMessage() or "boom" in rec.getMessage()
               for rec in caplog.records) == 1  # logged once


def test_on_error_annotate_and_fix_before_next():
    Seen.texts.clear()
    r = make({"on_error": "annotate"}).vet(VetContext("", "x = 1\n", ""))
    assert r.action == "fix" and r.text == "X = 1\n"
    assert Seen.texts == ["x = 1\n", "X = 1\n"]  # the model's text, then the fixed one


class DropLine(BaseAnalyzer):
    """A fixer that deletes the whole suggestion (as ruff's F841 fix deletes an unused
    assignment)."""

    name, category, order = "drop", "style", 1

    def analyze(self, ctx, options):
        return Verdict(action="fix", text="")


class Password(BaseAnalyzer):
    name, category, order = "pw", "secrets", 40

    def analyze(self, ctx, options):
        hits = [self.finding("PW", "high", "high", "password", action="block")] \
            if "hunter2" in ctx.suggestion else []
        return Verdict.from_findings(hits)


def test_a_fix_never_removes_a_checkers_finding():
    p = Pipeline({"drop": DropLine(), "pw": Password()}, {}, {})
    r = p.vet(VetContext("def f():\n    ", 'password = "hunter2hunter2"', ""))
    assert r.action == "block" and "PW" in r.rule_ids
    assert r.statuses == {"drop": "ok", "pw": "ok"}


def test_disable_needs_acknowledgement(caplog):
    with caplog.at_level(logging.WARNING):
        p = make(analyzers={"seen": {"enabled": False}, "boom": {"enabled": False}})
        r = p.vet(VetContext("", "x\n", ""))
    assert "seen" in r.statuses and "boom" not in r.statuses
    assert any("acknowledge_disabled" in rec.getMessage() for rec in caplog.records)
    p = make(analyzers={"seen": {"enabled": False, "acknowledge_disabled": True}})
    assert "seen" not in p.vet(VetContext("", "x\n", "")).statuses
    # per project, through the context
    r = make().vet(VetContext("", "x\n", "", settings={"analyzers": {"boom": {"enabled": False}}}))
    assert "boom" not in r.statuses and r.action == "fix"


class Slow(BaseAnalyzer):
    name, category, order = "slow", "license", 0
    ready = threading.Event()

    def warm_up(self):
        Slow.ready.wait(5)

    def is_ready(self):
        return Slow.ready.is_set()

    def analyze(self, ctx, options):
        return Verdict()


def test_warming_policy_and_budget():
    p = Pipeline({"slow": Slow(), "seen": Seen()}, {}, {"on_warming": "block"})
    p.start_warm_up()
    r = p.vet(VetContext("", "x\n", ""))
    assert r.statuses["slow"] == "warming" and r.action == "block"
    assert p.status()["slow"] == "warming"
    Slow.ready.set()
    assert p.wait_ready(5) and p.vet(VetContext("", "x\n", "")).action == "allow"
    r = Pipeline({"seen": Seen()}, {}, {"budget_ms": 1e-9}).vet(VetContext("", "x\n", ""))
    assert r.statuses["seen"] == "timeout" and r.action == "block"


def test_bad_settings_fall_back():
    p = make({"on_error": "explode"})
    r = p.vet(VetContext("", "x\n", ""))
    assert r.action == "block"  # kept the default
    assert r.to_dict()["findings"][0]["rule_id"] == "CW-VET-ERROR"


def test_run_completion_blocks_os_system(tiny_model_dir, pipeline):
    from codeward.server.completion import CompletionRequest, run_completion
    from codeward.server.engine import Engine
    from codeward.server.settings import EngineSettings, Settings

    engine = Engine(tiny_model_dir, EngineSettings())
    text = "import os\n\ndef run(cmd):\n    "
    req = CompletionRequest(uri="file:///tmp/t.py", path="", language="python", version=1,
                            text=text, offset=len(text), settings=Settings())
    result = run_completion(engine, pipeline, req, threading.Event(), "cid")
    assert not result.candidates and result.reason == "blocked"
    (cand,) = result.blocked
    assert "os.system(cmd)" in cand.text and cand.action == "block"
    assert {"B605", "CW-SEC-001"} <= {f["rule_id"] for f in cand.findings}


def test_cli_vet_and_index(tmp_path, capsys):
    import json

    from codeward.server.cli import main

    src = tmp_path / "m.py"
    src.write_text("import os\n\ndef run(cmd):\n    \n")
    assert main(["vet", f"{src}:4:5", "--text", "os.system(cmd)", "--json", "--no-wait"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["action"] == "block" and "CW-SEC-001" in {f["rule_id"] for f in out["findings"]}
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.py").write_text("# SPDX-License-Identifier: GPL-3.0-only\n" + "\n".join(
        f"def func_{i}(alpha, beta):\n    gamma = alpha * {i} + beta\n    return gamma - {i}\n"
        for i in range(10)))
    out_file = tmp_path / "idx.npz"
    assert main(["license-index", "build", str(corpus), "--out", str(out_file)]) == 0
    from codeward.analyzers.winnow import CopiedIndex

    index = CopiedIndex.load(out_file)
    assert index.files[0]["spdx"] == ["GPL-3.0-only"]
    hit = index.lookup("def f3(a, b):\n    g = a * 3 + b\n    return g - 3\n"
                       "def f4(a, b):\n    g = a * 4 + b\n    return g - 4\n")
    assert hit and hit[0].kind == "renamed"


def test_real_ruff_fix_does_not_hide_a_password(pipeline, tmp_path):
    """ruff's F841 fix deletes an unused assignment at the end of a function; the secret
    in it must still be reported (the secrets analyzer sees the model's text)."""
    src = tmp_path / "login.py"
    prefix = "def login(user):\n    check(user)"
    src.write_text(prefix)
    pipeline.prepare(str(src), "python", background=False)  # as its opening does
    r = pipeline.vet(VetContext(prefix, '\n    password = "hunter2hunter2"', "",
                                path=str(src), uri=src.as_uri(),
                                settings={"vetting": {"budget_ms": 5000}}))  # loaded CI
    assert "ruff:F841" in r.rule_ids
    assert "CW-SECRET-PASSWORD" in r.rule_ids and r.action == "block"


def test_license_not_installed_says_so_never_still_loading(monkeypatch):
    from codeward.analyzers.license import LicenseAnalyzer

    monkeypatch.setattr(LicenseAnalyzer, "available", staticmethod(lambda: False))
    p = Pipeline({"license": LicenseAnalyzer()}, {}, {})
    p.start_warm_up()
    assert p.wait_ready(5) is False and p.status() == {"license": "unavailable"}
    assert p.pending() == []  # nothing to wait for
    r = p.vet(VetContext("", "x = 1\n", ""))
    (finding,) = r.findings
    assert "not installed: pip install codeward[license]" in finding.message
    assert "still loading" not in finding.message and r.action == "annotate"


def test_one_shot_wait_shows_a_spinner_only_on_a_terminal():
    import io

    from codeward.server.oneshot import wait_for_analyzers

    class Warming:
        def __init__(self, polls):
            self.polls = polls

        def pending(self):
            self.polls -= 1
            return ["license"] if self.polls > 0 else []

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    wait_for_analyzers(Warming(3), 10, tty)
    wait_for_analyzers(Warming(3), 10, pipe)
    assert "waiting for license" in tty.getvalue() and "--no-wait" in tty.getvalue()
    assert tty.getvalue().endswith("\r\x1b[K") and pipe.getvalue() == ""
    slow = Warming(10**9)
    wait_for_analyzers(slow, 0.3, None)  # gives up after its timeout
    assert slow.polls > 0
