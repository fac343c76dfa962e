"""The learned show/rank policy in ``run_completion``: decision features on every candidate
(no text), shown only above the threshold, ordered by score; no policy: the gate as before;
a fully withheld answer is still an event (its features, no text)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest
from test_index_completion import PREFIX, Recorder

from codeward.server.completion import CompletionEvent, CompletionRequest, run_completion
from codeward.server.events.config import parse
from codeward.server.events.ids import Hasher
from codeward.server.events.processor import Processor
from codeward.server.index import ProjectIndex, SourceDoc
from codeward.server.registry import RegistryError
from codeward.server.settings import IndexSettings, Settings
from codeward.server.showpolicy import (
    FORMAT,
    decision_features,
    policy_from_dict,
    position_kind,
)

NAMES = ["Record", "RowWithAMuchLongerName", "Item"]


def _index() -> ProjectIndex:
    """Three workspace files that continue PREFIX three ways (vote share 1/3 each: below
    the confidence gate), with continuations of different lengths."""
    idx = ProjectIndex(IndexSettings(cache=False))
    body = ("def load_records(path):\n    with open(path, encoding='utf-8') as fh:\n"
            "        return [{0}.from_dict(row) for row in json.load(fh)]\n")
    idx.add_documents([SourceDoc(f"/w/s{i}.py", body.format(n), "workspace")
                       for i, n in enumerate(NAMES)], label="w")
    return idx


def _policy(weight: float, threshold: float = 0.0, project_weight: float | None = None):
    """Scores by the candidate's length (log ~4 here: centred so the scores spread)."""
    models = {"*": {"intercept": -4 * weight, "weights": {"log_candidate_chars": weight}}}
    if project_weight is not None:
        models["repo"] = {"intercept": -4 * project_weight,
                          "weights": {"log_candidate_chars": project_weight}}
    return policy_from_dict({"format": FORMAT, "version": "p7", "threshold": threshold,
                             "models": models})


def _run(policy=None, project=None, settings=None):
    text = PREFIX + "\n"
    req = CompletionRequest(uri="file:///w/new.py", path="/w/new.py", language="python",
                            version=1, text=text, offset=len(PREFIX),
                            settings=settings or Settings())
    return req, run_completion(None, Recorder(), req, threading.Event(), "cid", _index(),
                               policy, project)


def test_without_a_policy_the_gate_decides_and_features_are_recorded():
    _, result = _run()
    assert result.candidates == [] and result.reason == "withheld"  # split votes
    assert len(result.gate) == 3
    for g in result.gate:
        f = g["features"]
        assert f["source"] == "index" and f["position"] == "new_line" and f["after"] == "colon"
        assert f["indent"] == 8
        assert f["match_tokens"] == g["match_tokens"] and f["language"] == "python"
        assert f["line_prefix_chars"] == 0 and f["candidate_chars"] > 10
        assert not any(isinstance(v, str) and ("Record" in v or "load" in v) for v in f.values())


def test_the_policy_shows_above_its_threshold_ordered_by_score():
    _, result = _run(_policy(1.0))  # longer continuations score higher; threshold 0
    texts = [c.text for c in result.candidates]
    assert len(texts) == 3 and texts == sorted(texts, key=len, reverse=True)
    assert [c.index for c in result.candidates] == [0, 1, 2]
    scores = [c.gate["policy_score"] for c in result.candidates]
    assert scores == sorted(scores, reverse=True) and all(c.gate["shown"] for c in result.candidates)
    _, reverse = _run(_policy(-1.0))
    assert [c.text for c in reverse.candidates] == texts[::-1]
    # a threshold between the scores withholds the lower ones
    middle = sorted(scores)[1] - 1e-3  # (scores are recorded rounded)
    _, cut = _run(_policy(1.0, threshold=middle))
    assert [c.text for c in cut.candidates] == texts[:2]
    assert [g["shown"] for g in cut.gate if not g["shown"]] == [False]
    _, none = _run(_policy(1.0, threshold=1.0))
    assert none.candidates == [] and none.reason == "withheld"
    assert all(g["policy"] == "p7" for g in none.gate)


def test_the_project_model_serves_its_project_and_switches_are_respected():
    _, own = _run(_policy(1.0, project_weight=-1.0), project="repo")
    _, other = _run(_policy(1.0, project_weight=-1.0), project="elsewhere")
    assert [c.text for c in own.candidates] == [c.text for c in other.candidates][::-1]
    off = replace(Settings(), index=IndexSettings(cache=False, learned_policy=False))
    assert _run(_policy(1.0), settings=off)[1].candidates == []  # the gate again
    ungated = replace(Settings(), index=IndexSettings(cache=False, policy="ungated"))
    assert len(_run(_policy(1.0, threshold=1.0), settings=ungated)[1].candidates) == 3


def test_a_withheld_answer_is_an_event_without_text(tmp_path):
    req, result = _run(_policy(1.0, threshold=1.0))
    cfg, _ = parse({"store": {"url": f"sqlite:///{tmp_path}/e.db"}})
    rows = Processor(cfg, Hasher("salt")).handle(("completion", CompletionEvent(req, result),
                                                 1.0))
    (row,) = rows
    assert row["type"] == "withheld" and row["candidates"] == 3
    assert [g["features"]["source"] for g in row["gate"]] == ["index"] * 3
    dumped = json.dumps(row)
    assert "Record" not in dumped and "load_records" not in dumped and "prefix" not in row


def test_position_kinds_and_bad_policy_files():
    assert position_kind("def f(x):\n    ") == ("new_line", "colon", 4)
    assert position_kind("x = foo(") == ("mid_line", "open", 0)
    assert position_kind("") == ("new_line", "start", 0)
    f = decision_features("model", {"mean_logprob": -0.5, "min_logprob": -2.0, "tokens": 3,
                                    "shown": True}, "a\nb", "x = ", "", "python", True)
    assert f["candidate_lines"] == 2 and f["after"] == "assign" and f["mean_logprob"] == -0.5
    with pytest.raises(RegistryError, match="not a show policy"):
        policy_from_dict({"format": "other"})
    with pytest.raises(RegistryError, match="global model"):
        policy_from_dict({"format": FORMAT, "threshold": 0.5, "models": {}})
    with pytest.raises(RegistryError, match="malformed"):
        policy_from_dict({"format": FORMAT, "threshold": 0.5,
                          "models": {"*": {"intercept": "x", "weights": {}}}})
