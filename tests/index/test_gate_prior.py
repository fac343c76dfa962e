"""The shipped gate prior: package data scored without scikit-learn, the default decision
when no policy is promoted (shown only at or above ``index.prior_threshold``, best first),
the thresholds gate still selectable, a promoted policy still first, and a missing or
corrupt prior file falling back to the thresholds gate with one message."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from test_index_completion import PREFIX, Recorder
from test_showpolicy_serve import _index, _policy

from codeward.finetune import repo_packages
from codeward.server import showpolicy
from codeward.server.completion import CompletionRequest, run_completion
from codeward.server.settings import IndexSettings, Settings


def _settings(**index) -> Settings:
    return replace(Settings(), index=IndexSettings(cache=False, **index))


def _run(settings: Settings, policy=None):
    text = PREFIX + "\n"
    req = CompletionRequest(uri="file:///w/new.py", path="/w/new.py", language="python",
                            version=1, text=text, offset=len(PREFIX), settings=settings)
    return run_completion(None, Recorder(), req, threading.Event(), "cid", _index(), policy)


def test_the_shipped_prior_is_package_data_scored_without_scikit_learn():
    code = ("import sys; from codeward.server.showpolicy import load_prior; p = load_prior(); "
            "s = p.score({'source': 'index', 'match_tokens': 12, 'vote_share': 1.0}); "
            "assert 0 < s < 1 and 'sklearn' not in sys.modules, sorted(sys.modules); "
            "print(p.version, p.threshold)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    version, threshold = out.stdout.split()
    assert version.startswith("prior-")
    assert float(threshold) == Settings().index.prior_threshold  # one default, both places
    data = json.loads(showpolicy.PRIOR_FILE.read_text())
    assert set(data["models"]) == {"*"} and data["card"].startswith("codeward gate prior")
    tuning = {f"{p.name} {p.version}" for p in repo_packages.by_role("tuning")}
    assert set(data["trained"]["packages"]) <= tuning and len(data["trained"]["packages"]) >= 3
    assert showpolicy.PRIOR_FILE.stat().st_size < 50_000


def test_the_prior_decides_by_default_shown_at_its_threshold_best_first():
    shipped = showpolicy.load_prior()
    assert shipped is not None
    everything = _run(_settings(prior_threshold=0.0))
    scores = [c.gate["policy_score"] for c in everything.candidates]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    for c in everything.candidates:  # the score is the prior's, on the recorded features
        assert c.gate["policy"] == shipped.version and c.gate["policy_threshold"] == 0.0
        assert c.gate["policy_score"] == round(shipped.score(c.gate["features"]), 4)
        assert "gate_shown" in c.gate["features"] and "needed_match_tokens" in c.gate
    middle = sorted(scores)[1] - 1e-3  # (scores are recorded rounded)
    cut = _run(_settings(prior_threshold=middle))
    assert [c.text for c in cut.candidates] == [c.text for c in everything.candidates][:2]
    nothing = _run(_settings(prior_threshold=max(scores) + 1e-3))
    assert nothing.candidates == [] and nothing.reason == "withheld"
    assert [g["shown"] for g in nothing.gate] == [False] * 3
    # a promoted learned policy still decides first; the thresholds gate is still there
    assert {c.gate["policy"] for c in _run(_settings(), _policy(1.0)).candidates} == {"p7"}
    gate = _run(_settings(gate="thresholds", prior_threshold=0.0))
    assert gate.candidates == [] and all("policy" not in g and "features" in g
                                         for g in gate.gate)  # split votes: withheld


@pytest.mark.parametrize("content", [None, "{not json", '{"format": "other"}'])
def test_a_missing_or_corrupt_prior_falls_back_to_the_thresholds_gate(
        tmp_path: Path, monkeypatch, caplog, content: str | None):
    path = tmp_path / "prior_policy.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setattr(showpolicy, "PRIOR_FILE", path)
    caplog.set_level(logging.ERROR, logger="codeward.server.showpolicy")
    thresholds = _run(_settings(gate="thresholds"))
    for _ in range(2):
        result = _run(_settings(prior_threshold=0.0))
        assert [c.text for c in result.candidates] == [c.text for c in thresholds.candidates]
        assert all("policy" not in g for g in result.gate)
    (record,) = [r for r in caplog.records if r.name == "codeward.server.showpolicy"]
    assert str(path) in record.getMessage() and "thresholds gate decides" in record.getMessage()
