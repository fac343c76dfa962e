"""The model pre-check: a short run first where the confidence gate would most likely
withhold the model's text; the full prompt runs only when the short run comes within the
margin of the gate's threshold, and the gate then decides on the full run as before."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from codeward.analyzers.contract import PipelineResult, VetContext
from codeward.server.completion import CompletionRequest, run_completion
from codeward.server.engine import Engine
from codeward.server.settings import EngineSettings, Settings

LONG = "".join(f"def helper_{i}(value, scale):\n    return value * scale + {i}\n\n\n"
               for i in range(60))


class Allow:
    def vet(self, ctx: VetContext) -> PipelineResult:
        return PipelineResult(action="allow", text=ctx.suggestion)


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Engine:
    return Engine(tiny_model_dir, EngineSettings())


def _run(engine: Engine, settings: Settings):  # type: ignore[no-untyped-def]
    settings.completion.multiline = "never"
    prefix = LONG + "def add(a, b):\n    "
    req = CompletionRequest(uri="file:///w/m.py", path="/w/m.py", language="python",
                            version=1, text=prefix + "\n", offset=len(prefix),
                            settings=settings)
    before = engine.stats.requests
    result = run_completion(engine, Allow(), req, threading.Event(), "cid", None)
    return result, engine.stats.requests - before


def test_a_short_run_far_below_the_gate_withholds_without_the_full_prompt(engine: Engine):
    s = Settings()
    s.index.model_min_logprob = -0.0  # unreachable: every token would need probability 1
    s.engine.precheck_margin = 0.0
    result, runs = _run(engine, s)
    assert runs == 1 and result.prompt_tokens <= s.engine.precheck_tokens
    assert result.candidates == [] and result.reason == "withheld"
    assert result.gate[-1]["precheck"] is True and result.gate[-1]["shown"] is False


def test_within_the_margin_the_full_prompt_runs_and_the_gate_decides(engine: Engine):
    s = Settings()
    s.index.model_min_logprob = -100.0
    result, runs = _run(engine, s)
    assert runs == 2 and result.prompt_tokens > s.engine.precheck_tokens
    assert [c.source for c in result.candidates] == ["model"]
    assert "precheck" not in result.gate[-1]


def test_off_or_ungated_the_full_prompt_runs_once(engine: Engine):
    off = Settings()
    off.engine.precheck_tokens = 0
    off.index.model_min_logprob = -0.0
    result, runs = _run(engine, off)
    assert runs == 1 and result.prompt_tokens > 96 and result.reason == "withheld"
    ungated = Settings()
    ungated.index.policy = "ungated"
    result, runs = _run(engine, ungated)
    assert runs == 1 and result.prompt_tokens > 96 and result.candidates
