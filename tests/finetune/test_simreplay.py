"""Show decisions replayed on one simulated run (``simreplay``): the gate's and a policy's
choice on the same requests, and paired bootstrap intervals."""

from __future__ import annotations

import json

import pytest

from codeward.finetune.simreplay import (
    Cand,
    Request,
    gate_shows,
    has_prior_features,
    headroom,
    load,
    outcomes,
    paired,
    policy_shows,
    summarize,
)
from codeward.server.showpolicy import FORMAT, policy_from_dict


def _run(tmp_path, n=40):
    """``n`` requests, each with a copy (gate shows it, the developer dismisses it) and a
    model text (gate withholds it, the developer accepts 12 characters of it)."""
    decisions, rows = [], []
    for i in range(n):
        cid = f"c{i}"
        decisions.append({"file": f"f{i % 4}.py", "id": cid, "items": [
            {"index": 0, "action": "dismiss", "length": 0, "kept": 0, "source": "index",
             "insecure": False},
            {"index": 1, "action": "accept", "length": 12, "kept": 12, "source": "model",
             "insecure": i == 0}]})
        for k, (src, shown) in enumerate((("index", True), ("model", False))):
            rows.append({"type": "completion", "completion_id": cid, "candidate_index": k,
                         "repo_hash": "p", "blocked": False, "gate": {
                             "shown": shown, "source": src,
                             "features": {"source": src, "mean_logprob": -0.5}}})
    decisions.append({"file": "f9.py", "id": "", "items": []})  # nothing came back
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in decisions))
    return load(path, rows)


def test_gate_and_policy_replayed_on_the_same_requests(tmp_path):
    reqs = _run(tmp_path)
    assert len(reqs) == 41 and len(reqs[0].cands) == 2 and reqs[-1].cands == []
    gate = outcomes(reqs, gate_shows(prior=False))  # index-first: the shown copy only
    assert gate["shown"].sum() == 40 and gate["accepted"].sum() == 0
    model_first = policy_from_dict({"format": FORMAT, "threshold": 0.5, "models": {"*": {
        "intercept": -1.0, "weights": {"source=model": 3.0}}}}, "p")
    pol = outcomes(reqs, policy_shows(model_first))  # copies below threshold: the model runs
    assert pol["shown"].sum() == 40 and pol["accepted"].sum() == 40
    assert pol["kept"].sum() == 40 * 12 and pol["insecure"].sum() == 1
    out = summarize({"before": gate, "policy": pol}, "before", resamples=200)
    assert out["before"]["acceptance_rate"] == 0.0 and out["policy"]["acceptance_rate"] == 1.0
    lo, hi = out["policy"]["kept_per_position_ci"]
    assert lo <= out["policy"]["kept_per_position"] <= hi
    assert out["policy"]["kept_change"] == round(480 / 41, 4)
    assert out["policy"]["kept_change_ci"][0] > 0  # paired: every request gains


def test_relative_change_interval_covers_the_estimate(tmp_path):
    reqs = _run(tmp_path)
    half = policy_from_dict({"format": FORMAT, "threshold": 0.5, "models": {"*": {
        "intercept": 0.0, "weights": {"source=model": 1.0, "source=index": -1.0}}}}, "h")
    gate = outcomes(reqs, gate_shows(prior=False))
    gate["accepted"][:10] = 1  # the gate's copy taken at 10 of 40 shown requests: 25%
    pol = outcomes(reqs, policy_shows(half))
    pol["accepted"][:20] = 0  # the policy's text taken at 20 of 40: 50%
    out = summarize({"before": gate, "policy": pol}, "before", resamples=500)
    assert out["policy"]["acceptance_change"] == 1.0
    lo, hi = out["policy"]["acceptance_change_ci"]
    assert lo <= 1.0 <= hi and hi > lo


def test_gate_arm_applies_the_gate_prior_to_copies(tmp_path):
    """The server's default without a promoted policy scores the copies with the gate prior;
    the thresholds' logged verdict decides only with ``prior=False``."""
    import random

    from codeward.server.index.prior import prior_for
    from codeward.server.settings import IndexSettings

    rng = random.Random(0)
    reqs = _run(tmp_path, n=60)
    for req in reqs[:-1]:
        copy = req.cands[0]
        copy.gate["features"] = {"source": "index", "match_tokens": rng.randint(1, 60),
                                 "vote_share": rng.random(), "occurrences": rng.randint(1, 9),
                                 "whole_line": rng.random() < 0.5, "same_file": True,
                                 "candidate_chars": rng.randint(3, 80)}
        copy.action, copy.kept = "accept", 5
    prior = prior_for(IndexSettings())
    assert prior is not None and has_prior_features(reqs)
    passes = [prior.score(r.cands[0].gate["features"]) >= prior.threshold for r in reqs[:-1]]
    assert 0 < sum(passes) < len(passes)  # the prior shows some copies, withholds others
    shown = [[c.source for c in gate_shows()(r)] for r in reqs[:-1]]
    # index-first: a shown copy alone, else the model text (its verdict: withheld)
    assert shown == [["index"] if ok else [] for ok in passes]
    assert all(gate_shows(prior=False)(r)[0].source == "index" for r in reqs[:-1])


def test_runs_pair_by_file_and_offset():
    """A run whose model had a multi-line suggestion accepted skips the points it covered:
    the two runs pair on the requests both made, in order."""
    a = [Request("f.py", "p", [], at) for at in (0, 10, 20, 30)]
    b = [Request("f.py", "p", [], at) for at in (0, 30)] + [Request("g.py", "p", [], 5)]
    left, right, unpaired = paired(a, b)
    assert [(r.file, r.at) for r in left] == [(r.file, r.at) for r in right] == [
        ("f.py", 0), ("f.py", 30)]
    assert unpaired == 3 and right[1] is b[1]
    old = [Request("f.py", "p", []) for _ in range(3)]  # logged without offsets: by order
    assert paired(old, old)[2] == 0
    with pytest.raises(ValueError, match="without offsets"):
        paired(old, old[:2])


def test_headroom_finds_the_best_threshold_at_each_kept_floor(tmp_path):
    """Copies whose prior score rises with their length, the long ones kept: a higher
    threshold raises acceptance; the floors bound how far it may go."""
    from codeward.server.showpolicy import load_prior

    prior = load_prior()
    reqs = []
    for i in range(200):
        f = {"source": "index", "match_tokens": 1 + i % 40, "vote_share": (i % 10) / 10,
             "occurrences": 1 + i % 5, "whole_line": True, "same_file": i % 2 == 0,
             "candidate_chars": 10 + i % 40}
        good = prior.score(f) > 0.5 or i % 3 == 0
        c = Cand(0, "index", "accept" if good else "dismiss", (10 + i % 40) if good else 0,
                 False, True, {"features": f})
        reqs.append(Request(f"f{i % 4}.py", "p", [c], i))
    room = headroom(reqs)
    base = outcomes(reqs, gate_shows())
    assert room["acceptance_rate"] == round(base["accepted"].sum() / base["shown"].sum(), 4)
    best = room["best"]
    assert set(best) == {"1.0", "0.95", "0.9"}
    assert best["1.0"]["acceptance_change"] <= best["0.95"]["acceptance_change"] \
        <= best["0.9"]["acceptance_change"]
    assert best["1.0"]["kept_change"] >= 0 > best["0.9"]["kept_change"] >= -0.1 * \
        room["kept_per_position"] - 1e-9
    pf = room["perfect_filter"]
    assert pf["of"] == base["shown"].sum() and pf["shown"] == base["accepted"].sum()
