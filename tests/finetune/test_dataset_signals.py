"""The dataset's new kinds of rows: written-vs-dismissed and edited-vs-original pairs, written
and edited KTO rows, their provenance, the poisoning defences on them, and boilerplate."""

from __future__ import annotations

from collections import Counter

from codeward.finetune.boilerplate import is_license_header
from codeward.finetune.dataset import DatasetConfig, build

PREFIX = "def run(cmd):\n    "


def completion(cid, idx, suggestion, prefix=PREFIX, user="u1", uri="f1", **extra):
    return {"type": "completion", "event_id": f"{cid}-c{idx}", "completion_id": cid,
            "candidate_index": idx, "at": 1.0, "model_version": "1", "language": "python",
            "uri_hash": uri, "repo_hash": "r1", "user_hash": user, "prefix": prefix,
            "suffix": "\n", "suggestion": suggestion, "action": "allow", "findings": [],
            "blocked": False, **extra}


def fb(kind, cid, idx, **extra):
    return {"type": kind, "event_id": f"{cid}-{kind}{idx}", "completion_id": cid,
            "candidate_index": idx, "at": 2.0, "shown_ms": 400, **extra}


def written(cid, text, **extra):
    return {"type": "written", "event_id": f"{cid}-w", "completion_id": cid,
            "candidate_index": None, "at": 3.0, "text": text, "end": "line",
            "same_as_candidate": None, "user_hash": "u1", "repo_hash": "r1", **extra}


def edited(cid, idx, text):
    return {"type": "edited", "event_id": f"{cid}-e{idx}", "completion_id": cid,
            "candidate_index": idx, "at": 40.0, "text": text, "how": "changed"}


def vet(prefix, text, suffix):
    return "B307" if "eval(" in text else ""


def cfg(**kw):
    return DatasetConfig(heldout_fraction=0.0, vet=False, **kw)


def dismissed(cid, text, **kw):
    return [completion(cid, 0, text, **kw), fb("show", cid, 0), fb("dismiss", cid, 0)]


def test_pairs_and_rows_of_each_kind_with_provenance():
    events = [
        # written instead of two candidates: one dismissed, one shown and ignored
        *dismissed("w", "os.system(cmd)"), completion("w", 1, "print(cmd)"),
        written("w", "subprocess.run([cmd], check=True)"),
        # accepted, kept, then edited within the survival window
        completion("e", 0, "return cmd - 1"), fb("accept", "e", 0, accepted_length=14),
        fb("survival", "e", 0, after_s=600, accepted_chars=14, kept_chars=12),
        edited("e", 0, "return cmd + 1"),
        # the old kind: accepted against a dismissed sibling
        completion("a", 0, "return len(cmd)"), completion("a", 1, "pass  # todo"),
        fb("accept", "a", 0), fb("show", "a", 1),
    ]
    splits, report = build(events, cfg(), vet=vet)
    pairs = {(p["kind"], p["chosen"], p["rejected"]): p for p in splits["pairs"]}
    assert set(pairs) == {
        ("written-vs-dismissed", "subprocess.run([cmd], check=True)", "os.system(cmd)"),
        ("written-vs-dismissed", "subprocess.run([cmd], check=True)", "print(cmd)"),
        ("edited-vs-original", "return cmd + 1", "return cmd - 1"),
        ("accepted-vs-rejected", "return len(cmd)", "pass  # todo"),
    }
    w = pairs[("written-vs-dismissed", "subprocess.run([cmd], check=True)", "os.system(cmd)")]
    assert set(w["event_ids"]) == {"w-c0", "w-w", "w-show0", "w-dismiss0"}
    assert w["prompt"].startswith(splits["unpaired"][0]["prompt"][:5])
    e = pairs[("edited-vs-original", "return cmd + 1", "return cmd - 1")]
    assert set(e["event_ids"]) == {"e-c0", "e-e0"}
    rows = Counter((r["kind"], r["label"]) for r in splits["unpaired"])
    assert rows == {("candidate", False): 3, ("candidate", True): 2, ("written", True): 1,
                    ("edited", True): 1}
    kept = next(r for r in splits["unpaired"] if r["completion_id"] == "e" and
                r["kind"] == "candidate")
    assert kept["weight"] == round(1 + 12 / 14, 4)  # weighted by survival
    assert all(r["event_ids"] and all(r["event_ids"]) for r in splits["unpaired"])
    assert report.kinds["written-vs-dismissed pairs"] == 2
    assert "written rows" in report.table()


def test_defences_apply_to_written_and_edited_rows():
    events = [
        *dismissed("poison", "x = 1"), written("poison", "eval(data)"),
        *dismissed("secret", "x = 2"), written("secret", "key = '<redacted:aws-access-key>'"),
        *dismissed("same", "x = 3"), written("same", "x = 3", same_as_candidate=0),
        completion("acc", 0, "x = 4"), fb("accept", "acc", 0), written("acc", "x = 44"),
        completion("ed", 0, "y = 1"), fb("accept", "ed", 0), edited("ed", 0, "y = eval(s)"),
    ]
    splits, report = build(events, cfg(), vet=vet)
    chosen = {r["completion"] for r in splits["unpaired"] if r["label"]}
    assert chosen == {"x = 4", "y = 1"}
    assert not splits["pairs"]
    assert report.counts["chosen flagged by analyzers"] == 2
    assert report.counts["chosen text redacted"] == 1
    assert report.counts["written instead: the same as a candidate"] == 1
    assert report.counts["written instead, but the completion was accepted"] == 1


def test_caps_and_duplicates_cover_written_rows():
    events = []
    for i in range(8):  # one user writes the same thing over and over
        events += [*dismissed(f"u{i}", "x = 1", user="loud"),
                   written(f"u{i}", "import evil  # trust me", user_hash="loud")]
    for i in range(4):
        events += [*dismissed(f"q{i}", f"y = {i}", user="quiet"),
                   written(f"q{i}", f"z = {i} * 2", user_hash="quiet")]
    splits, report = build(events, cfg(), vet=vet)
    loud = [r for r in splits["unpaired"] if r["kind"] == "written"
            and r["completion"].startswith("import evil")]
    assert len(loud) == 1 and report.counts["near-duplicate"] >= 7


LICENSE = "# Copyright (c) 2024 Example Corp. All rights reserved."
APACHE = ('Licensed under the Apache License, Version 2.0 (the "License");\n'
          "you may not use this file except in compliance with the License.")
BLOCK = "for item in items:\n        total += item.price * item.count"


def test_license_header_detection():
    assert is_license_header(LICENSE) and is_license_header(APACHE)
    assert is_license_header("# SPDX-License-Identifier: MIT")
    # code that merely names a license is not a header
    assert not is_license_header('"CW-LIC-COPYRIGHT", "medium", "medium",')
    assert not is_license_header("license = detect_license(path)  # the file's license")
    assert not is_license_header("# compute the total")


def test_boilerplate_dropped_or_down_weighted_and_counted(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    for name in ("a.py", "b.py"):
        (project / name).write_text(f"def f(items):\n    {BLOCK}\n")
    events = [
        *dismissed("lic", "import os", prefix=""), written("lic", LICENSE),
        *dismissed("dup", "pass"), written("dup", BLOCK),
        completion("idx", 0, "return self.value", source="index",
                   gate={"source": "index", "vote_share": 0.9}), fb("accept", "idx", 0),
        completion("low", 0, "return self.other", source="index",
                   gate={"source": "index", "vote_share": 0.2}), fb("accept", "low", 0),
        *dismissed("real", "pass"), written("real", "return compute(cmd, retries=3)"),
    ]
    splits, report = build(events, cfg(project=str(project)), vet=vet)
    chosen = {r["completion"] for r in splits["unpaired"] if r["label"]}
    assert chosen == {"return self.other", "return compute(cmd, retries=3)"}
    assert report.counts["boilerplate: license header"] == 1
    assert report.counts["boilerplate: duplicate block in the project"] == 1
    assert report.counts["boilerplate: index completes it confidently"] == 1
    assert "boilerplate: license header" in report.table()
    # without the project the block is no duplicate; down-weighting keeps rows, lighter
    splits, report = build(events, cfg(boilerplate_weight=0.25), vet=vet)
    weights = {r["completion"]: r["weight"] for r in splits["unpaired"] if r["label"]}
    assert weights[LICENSE] == 0.25 and weights[BLOCK] == 1.0
    assert weights["return self.value"] == 0.25
    assert report.down_weighted["boilerplate: license header"] == 1
    assert not any(k.startswith("boilerplate") for k in report.counts)
