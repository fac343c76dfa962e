"""The confidence gate and the combination policy."""

from __future__ import annotations

from codeward.server.index import IndexCandidate, Provenance, combine, gate_index, gate_model
from codeward.server.settings import IndexSettings, Settings, merge

PROV = Provenance("/w/a.py", 1, "", "workspace", True)


def cand(match: int, share: float) -> IndexCandidate:
    return IndexCandidate("x = 1", match, share, share, 1, PROV)


def test_index_candidates_below_either_threshold_are_not_shown():
    s = IndexSettings(min_match_tokens=8, min_vote_share=0.5)
    assert gate_index(cand(8, 0.5), s).show
    assert not gate_index(cand(7, 1.0), s).show
    assert not gate_index(cand(30, 0.49), s).show
    inputs = gate_index(cand(7, 1.0), s).inputs
    assert inputs["match_tokens"] == 7 and inputs["vote_share"] == 1.0
    assert inputs["source"] == "index" and inputs["shown"] is False


def test_model_candidates_are_gated_on_mean_log_probability():
    s = IndexSettings(model_min_logprob=-1.0)
    assert gate_model([-0.1, -0.5, -1.2], s).show
    low = gate_model([-2.0, -0.5], s)
    assert not low.show and low.inputs["mean_logprob"] == -1.25
    assert not gate_model(None, s).show
    assert gate_model(None, IndexSettings(policy="ungated")).show


def test_combination_policies():
    s = IndexSettings()
    good_i, bad_i = (("i1", gate_index(cand(10, 1.0), s)), ("i2", gate_index(cand(2, 1.0), s)))
    good_m, bad_m = ("m1", gate_model([-0.1], s)), ("m2", gate_model([-5.0], s))
    assert combine([good_i, bad_i], [good_m], s) == ["i1"]
    assert combine([bad_i], [good_m, bad_m], s) == ["m1"]
    assert combine([bad_i], [bad_m], s) == []  # nothing rather than something wrong
    assert combine([good_i], [good_m], IndexSettings(policy="model-first")) == ["m1"]
    assert combine([good_i], [good_m], IndexSettings(policy="model-only")) == ["m1"]
    assert combine([good_i], [good_m], IndexSettings(policy="index-only")) == ["i1"]
    assert combine([bad_i], [bad_m], IndexSettings(policy="ungated")) == ["i2", "m2"]
    strong = ("i3", gate_index(cand(16, 1.0), s))
    assert combine([strong], [good_m], IndexSettings(policy="rank")) == ["i3", "m1"]
    assert combine([good_i], [good_m], IndexSettings(policy="rank")) == ["m1", "i1"]


def test_index_settings_are_validated_with_a_message():
    settings, errors = merge(Settings(), {"index": {"policy": "always", "min_vote_share": 2}})
    assert settings.index == IndexSettings()
    assert any("index.policy" in e for e in errors)
    settings, errors = merge(Settings(), {"index": {"min_match_tokens": 12,
                                                    "sources": ["workspace", "stdlib"]}})
    assert not errors and settings.index.min_match_tokens == 12
