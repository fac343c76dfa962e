"""``run_completion`` with the index: copies vetted like model text, the license policy on
copies, the gate withholding what is not confident, gate inputs on every candidate."""

from __future__ import annotations

import threading
from dataclasses import replace

from codeward.analyzers.contract import PipelineResult, VetContext
from codeward.server.completion import CompletionRequest, run_completion
from codeward.server.index import ProjectIndex, SourceDoc
from codeward.server.settings import IndexSettings, Settings

BODY = ("def load_records(path):\n    with open(path, encoding='utf-8') as fh:\n"
        "        return [Record.from_dict(row) for row in json.load(fh)]\n")
PREFIX = "def load_records(path):\n    with open(path, encoding='utf-8') as fh:\n        "


class Recorder:
    """A vetter that allows everything and remembers what it saw."""

    def __init__(self, action: str = "allow") -> None:
        self.seen: list[str] = []
        self.action = action

    def vet(self, ctx: VetContext) -> PipelineResult:
        self.seen.append(ctx.suggestion)
        return PipelineResult(action=self.action, text=ctx.suggestion)


def _run(index: ProjectIndex, settings: Settings, vetter: Recorder, prefix: str = PREFIX):
    text = prefix + "\n"
    req = CompletionRequest(uri="file:///w/new.py", path="/w/new.py", language="python",
                            version=1, text=text, offset=len(prefix), settings=settings)
    return run_completion(None, vetter, req, threading.Event(), "cid", index)


def _index(license: str = "", own: bool = True) -> ProjectIndex:
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.add_documents([SourceDoc("/w/store.py", BODY, "workspace", license, own)], label="w")
    return idx


def test_a_confident_copy_is_vetted_and_carries_its_provenance():
    vetter = Recorder()
    result = _run(_index(), Settings(), vetter)
    (cand,) = result.candidates
    assert cand.text == "return [Record.from_dict(row) for row in json.load(fh)]"
    assert vetter.seen == [cand.text]  # copies go through vetting like model text
    assert cand.source == "index" and cand.provenance["path"] == "/w/store.py"
    assert cand.gate["match_tokens"] >= 8 and cand.gate["shown"]
    assert result.gate == [cand.gate]


def test_a_copy_that_vetting_blocks_is_not_shown():
    result = _run(_index(), Settings(), Recorder("block"))
    assert not result.candidates and result.reason == "blocked"


def test_a_copyleft_copy_is_blocked_by_the_license_policy():
    result = _run(_index("GPL-3.0-only", own=False), Settings(), Recorder())
    assert not result.candidates
    (blocked,) = result.blocked
    assert blocked.action == "block"
    assert any(f["rule_id"] == "CW-INDEX-COPIED" for f in blocked.findings)
    lenient = replace(Settings(), vetting={"license_policy": {"block": [], "annotate": ["Copyleft"]}})
    (shown,) = _run(_index("GPL-3.0-only", own=False), lenient, Recorder()).candidates
    assert shown.action == "annotate" and "store.py:3" in shown.findings[0]["message"]


def test_below_the_gate_nothing_is_shown():
    strict = replace(Settings(), index=IndexSettings(cache=False, min_match_tokens=40))
    result = _run(_index(), strict, Recorder())
    assert result.candidates == [] and result.reason == "withheld"
    assert result.gate and result.gate[0]["shown"] is False
    ungated = replace(Settings(), index=IndexSettings(min_match_tokens=40, policy="ungated"))
    assert _run(_index(), ungated, Recorder()).candidates


def test_disagreeing_occurrences_lower_the_vote_share_below_the_gate():
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.add_documents([SourceDoc(f"/w/s{i}.py", BODY.replace("Record", name), "workspace")
                       for i, name in enumerate(["Record", "Row", "Item"])], label="w")
    result = _run(idx, Settings(), Recorder())
    assert result.candidates == []
    assert [round(g["vote_share"], 2) for g in result.gate] == [0.33, 0.33, 0.33]
