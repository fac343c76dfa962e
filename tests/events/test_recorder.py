"""Recorder end to end on plain data: feedback rules, survival, privacy switches."""

from __future__ import annotations

import time

import pytest

from codeward.server.completion import (
    Candidate,
    CompletionEvent,
    CompletionRequest,
    CompletionResult,
)
from codeward.server.events import NullRecorder, open_recorder
from codeward.server.events.config import parse
from codeward.server.events.store import open_store
from codeward.server.events.survival import Tracker, edit_region
from codeward.server.settings import Settings

DOC = "import os\n\ndef run(cmd):\n    \n\nprint('done')\n"
OFFSET = DOC.index("    \n") + 4
SUGGESTION = "os.system(cmd)  # run it"


def settings(tmp_path, **events) -> Settings:
    return Settings(events={"store": {"url": str(tmp_path / "ev.db")}, "tick_s": 0.02,
                            "checkpoints": [0.15, 0.3], **events})


def completion(s: Settings, cid: str = "c1", path: str = "/proj/a.py") -> CompletionEvent:
    req = CompletionRequest(uri=f"file://{path}", path=path, language="python", version=1,
                            text=DOC, offset=OFFSET, settings=s)
    res = CompletionResult(id=cid, uri=req.uri, version=1, model="tiny@1", latency_ms=10.0,
                           candidates=[Candidate(0, SUGGESTION)],
                           blocked=[Candidate(1, "", action="block", raw="eval(cmd)",
                                              findings=[{"rule_id": "B307"}])])
    return CompletionEvent(req, res)


def events(tmp_path) -> list[dict]:
    store = open_store(str(tmp_path / "ev.db"))
    try:
        return list(store.iter_events())
    finally:
        store.close()


def test_survival_after_partial_deletion(tmp_path) -> None:
    s = settings(tmp_path, checkpoints=[0.5, 1.0])
    rec = open_recorder(s)
    rec.flush(10)  # detect-secrets imported: the timing below is the recorder's own
    rec.completion(completion(s))
    rec.feedback("show", {"id": "c1", "index": 0, "shownMs": 5})
    uri = "file:///proj/a.py"
    inserted = DOC[:OFFSET] + SUGGESTION + DOC[OFFSET:]
    rec.document_changed(uri, inserted)
    rec.feedback("accept", {"id": "c1", "index": 0})
    # The user deletes "  # run it" (10 chars) and types something else elsewhere.
    edited = inserted.replace("  # run it", "")
    rec.document_changed(uri, edited)
    rec.document_changed(uri, "# header\n" + edited)
    rec.flush(5)
    time.sleep(0.6)
    # ... then deletes the whole call: accepted-then-deleted must show as 0 kept.
    rec.document_changed(uri, "# header\n" + edited.replace("os.system(cmd)", "pass"))
    time.sleep(0.6)
    rec.close()
    surv = [e for e in events(tmp_path) if e["type"] == "survival"]
    assert [(e["after_s"], e["accepted_chars"], e["kept_chars"], e["final"]) for e in surv] == [
        (0.5, len(SUGGESTION), len(SUGGESTION) - 10, False),
        (1.0, len(SUGGESTION), 0, True),
    ]


def test_partial_accept_and_close_before_checkpoint(tmp_path) -> None:
    s = settings(tmp_path, checkpoints=[30])
    rec = open_recorder(s)
    rec.completion(completion(s))
    rec.feedback("accept", {"id": "c1", "index": 0, "acceptedLength": 9})  # "os.system"
    uri = "file:///proj/a.py"
    rec.document_changed(uri, DOC[:OFFSET] + "os.system" + DOC[OFFSET:])
    rec.document_changed(uri, DOC[:OFFSET] + "os.sys" + DOC[OFFSET:])  # 3 chars deleted
    rec.feedback("close", {"uri": uri})
    rec.close()
    evs = events(tmp_path)
    accept = next(e for e in evs if e["type"] == "accept")
    assert accept["accepted_length"] == 9 and accept["partial"] is True
    surv = [e for e in evs if e["type"] == "survival"]
    assert len(surv) == 1 and surv[0]["checkpoint"] == "close"
    assert (surv[0]["accepted_chars"], surv[0]["kept_chars"]) == (9, 6)


def test_feedback_rules(tmp_path) -> None:
    s = settings(tmp_path)
    rec = open_recorder(s)
    rec.completion(completion(s))
    rec.feedback("show", {"id": "c1"})
    rec.feedback("show", {"id": "c1"})  # duplicate
    rec.feedback("accept", {"id": "missing"})  # unknown id
    rec.feedback("accept", {"id": 12})  # bad params
    rec.feedback("accept", {"id": "c1", "index": 1})  # blocked candidate: never shown
    rec.feedback("dismiss", {"id": "c1", "reason": "weird"})
    rec.feedback("accept", {"id": "c1", "acceptedLength": 4})
    rec.feedback("accept", {"id": "c1", "acceptedLength": 4})  # duplicate
    rec.feedback("accept", {"id": "c1"})  # longer: recorded (partial, then the rest)
    rec.feedback("dismiss", {"id": "c1"})  # after accept: duplicate
    rec.flush(5)
    stats = rec.stats()
    rec.close()
    kinds = [(e["type"], e.get("accepted_length"), e.get("reason")) for e in events(tmp_path)
             if e["type"] != "survival"]
    assert kinds == [("completion", None, ""), ("completion", None, ""),
                     ("show", None, None), ("dismiss", None, "other"), ("accept", 4, None),
                     ("accept", len(SUGGESTION), None)]
    assert stats["duplicate"] == 3 and stats["unknown_id"] == 1 and stats["invalid"] == 2
    blocked = [e for e in events(tmp_path) if e["type"] == "completion" and e["blocked"]]
    assert blocked[0]["suggestion"] == "eval(cmd)" and blocked[0]["findings"] == [{"rule_id": "B307"}]


def test_accept_inferred_from_the_next_change(tmp_path) -> None:
    """A client that never runs the accept command (eglot 1.9): the next didChange that
    inserts an offered candidate is its acceptance; an explicit accept is not counted
    twice; typing something else, or a later change, is no acceptance."""
    s = settings(tmp_path)
    rec = open_recorder(s)
    uri = "file:///proj/a.py"
    inserted = DOC[:OFFSET] + SUGGESTION + DOC[OFFSET:]
    rec.completion(completion(s, "c1"))
    rec.document_changed(uri, inserted)  # the client inserted the item
    rec.feedback("accept", {"id": "c1", "index": 0})  # ... and reports it too: deduped
    rec.completion(completion(s, "c2"))
    rec.document_changed(uri, DOC[:OFFSET] + "o" + DOC[OFFSET:])  # typed over it
    rec.document_changed(uri, inserted)  # not the next change after c2
    rec.completion(completion(s, "c3"))
    rec.feedback("accept", {"id": "c3", "index": 0})  # explicit first
    rec.document_changed(uri, inserted)
    rec.flush(5)
    stats = rec.stats()
    rec.close()
    accepts = [(e["completion_id"], e["reason"]) for e in events(tmp_path)
               if e["type"] == "accept"]
    assert accepts == [("c1", "inferred"), ("c3", None)]
    assert stats["duplicate"] == 1


@pytest.mark.parametrize("case", ["excluded", "project-off"])
def test_not_logged(tmp_path, case) -> None:
    s = settings(tmp_path)
    rec = open_recorder(s)
    if case == "excluded":
        rec.completion(completion(s, path="/proj/.env"))
    else:
        project = Settings(events={"enabled": False})
        rec.completion(completion(project))
    rec.feedback("accept", {"id": "c1"})
    rec.close()
    assert events(tmp_path) == []
    assert rec.stats()["not_logged"] == 1 and "unknown_id" not in rec.stats()


def test_logging_off_gives_null_recorder(tmp_path) -> None:
    assert isinstance(open_recorder(settings(tmp_path, enabled=False)), NullRecorder)
    assert not (tmp_path / "ev.db").exists()


def test_completion_call_does_not_block(tmp_path) -> None:
    s = settings(tmp_path)
    rec = open_recorder(s)
    record = completion(s)
    times = []
    for _ in range(300):
        t = time.perf_counter()
        rec.completion(record)
        times.append(time.perf_counter() - t)
    rec.close()
    assert sorted(times)[int(0.99 * len(times))] < 0.005


def test_settings_validate() -> None:
    cfg, errors = parse({"retention_days": -1, "checkpoints": [], "store": "postgresql://x/y",
                         "queue_size": 0, "bogus": 1, "redact_patterns": ["("]})
    assert cfg.store.url == ""  # an invalid section keeps its previous (default) values
    assert cfg.retention_days == 90 and cfg.checkpoints == [30, 120, 600]  # section kept
    joined = "\n".join(errors)
    for name in ("retention_days", "checkpoints", "queue_size", "bogus", "redact_patterns"):
        assert name in joined
    good, errors = parse({"store": "postgresql://x/y", "retention_days": 7})
    assert not errors and good.store.url == "postgresql://x/y" and good.retention_days == 7


def test_edit_region_and_tracker() -> None:
    old, new = "abcXYZdef", "abcXdef"
    assert edit_region(old, new) == (4, 6, 4)
    t = Tracker("c", 0, "u", "XYZ", 0.0, runs=[[3, 6]])
    t.apply(*edit_region(old, new))
    assert t.kept == 1
    t.apply(*edit_region(new, "__" + new))
    assert t.runs == [[5, 6]]
