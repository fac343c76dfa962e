"""The confidence gate and the combination policy."""

from __future__ import annotations

from codeward.server.index import IndexCandidate, Provenance, combine, gate_index, gate_model
from codeward.server.settings import IndexSettings, Settings, merge

PROV = Provenance("/w/a.py", 1, "", "workspace", True)


def cand(match: int, share: float, occurrences: int = 1,
         source: str = "workspace") -> IndexCandidate:
    prov = Provenance("/w/a.py", 1, "", source, True)
    return IndexCandidate("x = 1", match, share, share, occurrences, prov)


def test_index_candidates_below_either_threshold_are_not_shown():
    s = IndexSettings(min_match_tokens=8, min_vote_share=0.5)
    assert gate_index(cand(8, 0.5), s).show
    assert not gate_index(cand(7, 1.0), s).show
    assert not gate_index(cand(30, 0.49), s).show
    inputs = gate_index(cand(7, 1.0), s).inputs
    assert inputs["match_tokens"] == 7 and inputs["vote_share"] == 1.0
    assert inputs["source"] == "index" and inputs["shown"] is False


def test_copies_from_the_document_itself_need_a_longer_match():
    s = IndexSettings(min_match_tokens=8, same_file_min_match_tokens=16)
    assert gate_index(cand(8, 1.0, source="workspace"), s).show
    same = gate_index(cand(15, 1.0, source="current"), s)
    assert not same.show and same.inputs["same_file"] is True
    assert same.inputs["needed_match_tokens"] == 16 and same.inputs["nearest"] == "current"
    assert gate_index(cand(16, 1.0, source="current"), s).show


def test_copies_the_occurrences_agree_on_need_a_shorter_match():
    s = IndexSettings(min_match_tokens=8, same_file_min_match_tokens=16,
                      agreed_min_match_tokens=3)
    agreed = gate_index(cand(3, 1.0, occurrences=2, source="current"), s)
    assert agreed.show and agreed.inputs["agreed"] is True
    assert not gate_index(cand(2, 1.0, occurrences=5), s).show
    # two occurrences that do not agree (vote share under 0.9) are no agreement
    split = gate_index(cand(5, 0.6, occurrences=2), s)
    assert not split.show and split.inputs["agreed"] is False


def test_gate_inputs_say_where_the_match_lies_on_the_cursor_line():
    s = IndexSettings()
    mid = gate_index(cand(6, 1.0), s, prefix="def f(a):\n    return a +").inputs
    assert mid["line_tokens"] == 2 and mid["crosses_line_start"] is True
    assert mid["whole_line"] is False and mid["copy_chars"] == 5
    within = gate_index(cand(2, 1.0), s, prefix="x = call(alpha, beta, ga").inputs
    assert within["line_tokens"] == 8 and within["crosses_line_start"] is False
    start = gate_index(cand(4, 1.0), s, prefix="def f(a):\n    ").inputs
    assert start["whole_line"] is True and start["line_tokens"] == 0


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
