"""Dataset building on hand-made events: exact rows, poisoned and noisy rows dropped."""

from __future__ import annotations

import json

import pytest

from codeward.finetune.dataset import DatasetConfig, build, iter_events, write
from codeward.server.fim import get_family

FAM = get_family("codeward")


def completion(cid, idx, suggestion, prefix="def f(a, b):\n    ", user="u1", repo="r1",
               at=1.0, **extra):
    row = {"type": "completion", "completion_id": cid, "candidate_index": idx, "at": at,
           "model_version": "1", "language": "python", "uri_hash": "x", "repo_hash": repo,
           "user_hash": user, "prefix": prefix, "suffix": "\n", "suggestion": suggestion,
           "action": "allow", "findings": [], "latency_ms": 10.0, "blocked": False}
    row.update(extra)
    return row


def fb(kind, cid, idx, at=2.0, **extra):
    return {"type": kind, "completion_id": cid, "candidate_index": idx, "at": at, **extra}


def no_vet(prefix, text, suffix):
    return ""


def cfg(**kw):
    kw.setdefault("heldout_fraction", 0.0)
    kw.setdefault("vet", False)
    return DatasetConfig(**kw)


def test_pair_and_unpaired_rows_exact():
    events = [
        completion("c1", 0, "return a + b\n"), completion("c1", 1, "return a - b\n"),
        fb("show", "c1", 0, shown_ms=400), fb("show", "c1", 1, shown_ms=400),
        fb("accept", "c1", 0, accepted_length=13, shown_ms=400),
        fb("survival", "c1", 0, after_s=120, accepted_chars=13, kept_chars=13),
    ]
    splits, report = build(events, cfg(), vet=no_vet)
    prompt = FAM.format("def f(a, b):\n    ", "\n")
    assert [(r["prompt"], r["chosen"], r["rejected"], r["rejected_why"])
            for r in splits["pairs"]] == [(prompt, "return a + b\n", "return a - b\n",
                                           "shown, another chosen")]
    assert [(r["completion"], r["label"], r["weight"], r["why"]) for r in splits["unpaired"]] == [
        ("return a + b\n", True, 2.0, "accepted and kept"),
        ("return a - b\n", False, 1.0, "shown, another chosen")]
    assert report.pairs == 1 and report.unpaired == 2


def test_partial_accept_deleted_dismissed_and_blocked():
    events = [
        # partial accept: only the accepted part is the chosen text
        completion("p", 0, "return a * b  # product\n"),
        fb("accept", "p", 0, accepted_length=12, shown_ms=300),
        # accepted, then mostly deleted: a rejection
        completion("d", 0, "return 42\n", at=3.0),
        fb("accept", "d", 0, shown_ms=300, at=3.0),
        fb("survival", "d", 0, after_s=30, accepted_chars=10, kept_chars=9),
        fb("survival", "d", 0, after_s=600, accepted_chars=10, kept_chars=2),
        # dismissed
        completion("x", 0, "pass\n", at=4.0), fb("dismiss", "x", 0, reason="typed", shown_ms=900),
        # blocked by vetting at serve time, sibling accepted -> pair against the blocked one
        completion("b", 0, "os.system(cmd)\n", at=5.0, action="block", blocked=True,
                   findings=[{"rule_id": "CW-SEC-78", "analyzer": "security"}]),
        completion("b", 1, "subprocess.run([cmd])\n", at=5.0),
        fb("accept", "b", 1, shown_ms=500, at=5.0),
    ]
    splits, report = build(events, cfg(), vet=no_vet)
    rows = {(r["completion_id"], r["index"]): (r["completion"], r["label"], r["why"])
            for r in splits["unpaired"]}
    assert rows == {
        ("p", 0): ("return a * b", True, "accepted"),
        ("d", 0): ("return 42\n", False, "accepted then deleted"),
        ("x", 0): ("pass\n", False, "dismissed"),
        ("b", 0): ("os.system(cmd)\n", False, "blocked by vetting"),
        ("b", 1): ("subprocess.run([cmd])\n", True, "accepted"),
    }
    assert [(r["chosen"], r["rejected"], r["rejected_why"]) for r in splits["pairs"]] == [
        ("subprocess.run([cmd])\n", "os.system(cmd)\n", "blocked by vetting")]


def test_defences_drop_and_count():
    events = [
        # too short on screen: dropped
        completion("fast", 0, "return 1\n"), fb("accept", "fast", 0, shown_ms=40),
        # chosen text flagged at serve time (annotated, accepted anyway): dropped
        completion("flag", 0, "eval(data)\n", action="annotate",
                   findings=[{"rule_id": "CW-SEC-95", "analyzer": "security"}]),
        fb("accept", "flag", 0, shown_ms=300),
        # style findings do not make a chosen text unsafe
        completion("sty", 0, "return x\n", findings=[{"rule_id": "E501", "analyzer": "ruff"}]),
        fb("accept", "sty", 0, shown_ms=300),
        # two near-duplicates (whitespace only differs): one kept
        completion("n1", 0, "return  a+b\n", at=7.0), fb("accept", "n1", 0, shown_ms=300),
        completion("n2", 0, "return a+b\n", at=8.0), fb("accept", "n2", 0, shown_ms=300),
        # no feedback at all
        completion("silent", 0, "x = 1\n"),
    ]
    splits, report = build(events, cfg(), vet=no_vet)
    assert {r["completion_id"] for r in splits["unpaired"]} == {"sty", "n1"}
    assert report.counts == {"shown < 100 ms": 1, "chosen flagged by analyzers": 1,
                             "near-duplicate": 1, "no outcome (never shown or no feedback)": 1}
    table = report.table()
    assert "dropped: near-duplicate" in table and "kept: unpaired examples (train)" in table


def test_revetting_drops_chosen_flagged_now():
    events = [completion("c", 0, "pickle.loads(data)\n"), fb("accept", "c", 0, shown_ms=300)]
    flagged = build(events, cfg(), vet=lambda p, t, s: "CW-SEC-502" if "pickle" in t else "")
    assert flagged[0]["unpaired"] == [] and flagged[1].counts["chosen flagged by analyzers"] == 1


def test_user_share_cap():
    events = []
    for i in range(20):  # one loud user
        events += [completion(f"a{i}", 0, f"return {i}\n", user="loud", prefix=f"def f{i}():\n    "),
                   fb("accept", f"a{i}", 0, shown_ms=300)]
    for i in range(5):
        for user in ("q1", "q2"):
            events += [completion(f"{user}{i}", 0, f"x = {i}\n", user=user,
                                  prefix=f"# {user}\n"),
                       fb("accept", f"{user}{i}", 0, shown_ms=300)]
    splits, report = build(events, cfg(max_user_share=0.25), vet=no_vet)
    users = [r["completion_id"].rstrip("0123456789") for r in splits["unpaired"]]
    assert users.count("a") == int(0.25 * 30) and users.count("q") == 10
    assert report.counts["user over 25% share"] == 20 - 7


def test_heldout_split_and_provenance(tmp_path):
    events = []
    for i in range(60):
        events += [completion(f"c{i}", 0, f"return {i}\n", prefix=f"def g{i}():\n    "),
                   fb("accept", f"c{i}", 0, shown_ms=300)]
    splits, report = build(events, cfg(heldout_fraction=0.2), vet=no_vet)
    assert 4 <= report.heldout_unpaired <= 20 and report.unpaired + report.heldout_unpaired == 60
    ids = {r["completion_id"] for r in splits["unpaired"]}
    assert not ids & {r["completion_id"] for r in splits["heldout_unpaired"]}
    out = write(tmp_path / "ds", splits, report, cfg(), "test", len(events), 2.0)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["kept"]["unpaired"] == report.unpaired and set(prov["files"]) == {
        "pairs.jsonl", "unpaired.jsonl", "heldout_pairs.jsonl", "heldout_unpaired.jsonl"}


def test_jsonl_source(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(completion("c", 0, "x\n", at=5.0)) + "\n\nnot json\n")
    assert [e["completion_id"] for e in iter_events(str(path))] == ["c"]
    assert list(iter_events(str(path), since=6.0)) == []


def test_config_validates():
    with pytest.raises(ValueError, match="max_user_share"):
        DatasetConfig(max_user_share=0)


def test_without_the_license_extra_rows_are_kept_and_it_is_said_once(monkeypatch):
    """No scancode: 'license not checked' is not a flag (every accepted row would be
    dropped); the report says once that licenses were not checked."""
    from codeward.analyzers.license import LicenseAnalyzer
    from codeward.finetune import vetting

    monkeypatch.setattr(LicenseAnalyzer, "available", staticmethod(lambda: False))
    monkeypatch.setattr(vetting, "_PIPELINE", None)  # a pipeline built on this "install"
    events = [completion("c1", 0, "return a + b\n"), fb("accept", "c1", 0, shown_ms=400),
              completion("c2", 0, "return login(a, password='hunter2hunter2')\n", at=3.0),
              fb("accept", "c2", 0, shown_ms=400, at=3.0)]
    splits, report = build(events, DatasetConfig(heldout_fraction=0.0))
    assert [r["completion"] for r in splits["unpaired"]] == ["return a + b\n"]
    assert report.counts["chosen flagged by analyzers"] == 1  # the secret still is
    table = report.table()
    assert table.count("not checked: license is not installed") == 1
    assert "pip install 'codeward[license]'" in table
