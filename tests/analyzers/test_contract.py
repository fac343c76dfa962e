"""What the analyzer contract declares is what the pipeline uses: the languages an analyzer
handles (others are skipped without calling it), availability, background warm-up."""

from __future__ import annotations

import typing

from codeward.analyzers import contract
from codeward.analyzers.config import merge
from codeward.analyzers.contract import BaseAnalyzer, Verdict, VetContext, VettingConfig
from codeward.analyzers.pipeline import Pipeline, discover


class PythonOnly(BaseAnalyzer):
    name, category, order = "python-only", "security", 1
    languages = ("python",)
    prepared: typing.ClassVar[list[str]] = []

    def prepare(self, path: str | None, language: str) -> None:
        PythonOnly.prepared.append(language)

    def analyze(self, ctx: VetContext, options: object) -> Verdict:
        if ctx.language != "python":
            raise AssertionError("called for another language")
        return Verdict(action="block", findings=[self.finding("X-1", "high", "high", "bad",
                                                                action="block")])


class Missing(BaseAnalyzer):
    name, category, order = "missing", "license", 2

    def available(self) -> bool:
        return False

    def analyze(self, ctx: VetContext, options: object) -> Verdict:
        return Verdict()


def test_pipeline_skips_analyzers_for_other_languages() -> None:
    p = Pipeline({"python-only": PythonOnly()}, {}, {})
    js = p.vet(VetContext("", "eval(x)\n", "", language="javascript"))
    assert js.action == "allow" and js.statuses == {"python-only": "skipped"}
    py = p.vet(VetContext("", "eval(x)\n", "", language="python"))
    assert py.action == "block" and py.statuses == {"python-only": "ok"}
    PythonOnly.prepared.clear()
    p.prepare(None, "javascript", background=False)
    p.prepare(None, "python", background=False)
    assert PythonOnly.prepared == ["python"]


def test_unavailable_analyzer_is_reported_by_its_declared_method() -> None:
    p = Pipeline({"missing": Missing()}, {}, {})
    assert p.status() == {"missing": "unavailable"}


def test_builtin_analyzers_declare_the_whole_contract() -> None:
    for name, cls in discover().items():
        analyzer = cls()
        try:
            assert isinstance(analyzer, contract.Analyzer), name
            assert isinstance(cls.languages, tuple) and cls.languages, name
            assert isinstance(cls.background_warm_up, bool), name
        finally:
            analyzer.close()
    assert discover()["license"].background_warm_up
    assert discover()["bandit"].languages == ("python",)
    assert discover()["secrets"].languages == (contract.ANY_LANGUAGE,)


def test_literal_settings_are_checked_by_the_merge() -> None:
    cfg, errors = merge(VettingConfig(), {"on_error": "explode", "on_warming": "block"})
    assert cfg.on_error == "block" and cfg.on_warming == "block"
    assert errors == ["on_error: expected 'block' or 'annotate', got 'explode'; keeping 'block'"]
    assert contract.ACTIONS == ("allow", "annotate", "fix", "block")


def test_fail_closed_vetter_blocks_everything_and_is_ready_at_once() -> None:
    from codeward.analyzers.failclosed import FailClosedVetter

    vetter = FailClosedVetter("boom")
    assert vetter.wait_fast(0.0)
    vetter.prepare("/p/a.py", "python")
    result = vetter.vet(VetContext("x = ", "1", "\n"))
    assert result.action == "block" and result.rule_ids == ["CW-VET-ERROR"]
    assert vetter.status() == {"pipeline": "error: boom"}
