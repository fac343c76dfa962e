"""The simulated developer: decisions, and a seeded run through a real ``codeward serve``."""

from __future__ import annotations

import json

from codeward.finetune import simreplay, simreport
from codeward.finetune.dataset import DatasetConfig, build, iter_events
from codeward.finetune.simulate import SimConfig, decide, simulate

from models import TEACH

FAST = {"analyzers": {"license": {"enabled": False, "acknowledge_disabled": True},
                      "copied-code": {"enabled": False, "acknowledge_disabled": True}}}


def test_decide():
    real = "return a + b\n\nprint(add(1, 2))\n"
    assert decide("return a + b\n", real, 4) == ("accept", 13, 13)
    # first line right, the rest wrong: accepted in full, the wrong tail deleted later
    assert decide("return a + b\n    x = 1\n", real, 4) == ("accept", 23, 13)
    # common prefix cut back to a word boundary
    assert decide("return a - b\n", real, 4) == ("partial", 9, 9)
    assert decide("retry()\n", real, 4) == ("dismiss", 0, 0)
    assert decide("   \n", real, 4) == ("dismiss", 0, 0)


def test_simulate_real_server_seeded(tmp_path, tiny_model_dir):
    repo = tmp_path / "repo"
    repo.mkdir()
    body = "\n\n".join(p + m.rstrip("\n") for p, m, _ in TEACH[1:]) + "\n"
    (repo / "mod.py").write_text(body)
    (repo / "other.py").write_text("def add(a, b):\n    return a + b\n")
    reports = []
    for run in ("a", "b"):
        cfg = SimConfig(repo=str(repo), files="*.py", model=str(tiny_model_dir),
                        events=str(tmp_path / f"events-{run}.jsonl"), seed=3,
                        points_per_file=6, candidates=2, settings=FAST, label=f"run {run}",
                        decisions=str(tmp_path / f"decisions-{run}.jsonl"))
        reports.append(simulate(cfg))
    a, b = reports
    keys = ("requests", "shown", "accepted", "partial", "accepted_chars", "kept_chars",
            "insecure_rate", "errors")
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}  # seeded: reproducible
    assert a["errors"] == 0 and a["shown"] >= 3 and a["accepted"] >= 2
    assert a["model_version"] == "1" and 0 < a["acceptance_rate"] <= 1
    assert a["dismissed"] >= 1 and a["written_chars"] > 0
    by = a["by_source"]
    assert sum(by[s]["shown"] for s in by) == a["shown"]
    assert sum(by[s]["kept_chars"] for s in by) == a["kept_chars"]
    assert a["shown_per_position"] == a["shown"] / a["requests"]
    assert a["kept_chars_per_position"] == a["kept_chars"] / a["requests"]
    # the rows are the server's own (its event store), "written instead" among them
    rows = list(iter_events(str(tmp_path / "events-a.jsonl")))
    assert len(rows) == a["events_exported"]
    kinds = {r["type"] for r in rows}
    assert {"completion", "show", "accept", "dismiss", "survival", "written"} <= kinds
    dismissed = {r["completion_id"] for r in rows if r["type"] == "dismiss"}
    written = [r for r in rows if r["type"] == "written"]
    assert {r["completion_id"] for r in written} <= dismissed
    assert all(r["text"].strip() and r["text"] in body + (repo / "other.py").read_text()
               for r in written)
    assert all("gate" in r for r in rows if r["type"] == "completion")
    # replaying what was shown on the recorded decisions gives the simulator's own counts
    reqs = simreplay.load(tmp_path / "decisions-a.jsonl", rows)
    same = simreplay.outcomes(reqs, lambda req: req.cands)
    assert len(reqs) == a["requests"] and same["shown"].sum() == a["shown"]
    assert same["accepted"].sum() == a["accepted"] and same["kept"].sum() == a["kept_chars"]
    splits, report = build(rows, DatasetConfig(heldout_fraction=0.0, vet=False))
    copied = report.counts["boilerplate: index completes it confidently"]
    assert copied <= a["by_source"]["index"]["accepted"], report.table()
    assert sum(r["label"] for r in splits["unpaired"] if r["kind"] == "candidate") \
        == a["accepted"] - copied, report.table()
    # "written instead" reaches the dataset: the chosen side of a pair, and a row of its own
    assert any(p["kind"] == "written-vs-dismissed" for p in splits["pairs"])
    assert any(r["kind"] == "written" and r["label"] for r in splits["unpaired"])
    html = simreport.write_html(reports, tmp_path / "plot.html").read_text()
    assert html.count("<svg") == len(simreport.METRICS) and "run a" in html
    assert "acceptance rate" in simreport.table(reports)
    json.dumps(a)
