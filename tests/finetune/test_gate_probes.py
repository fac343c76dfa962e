"""The promotion gate's insecure probes: what counts as insecure, and the paired report."""

from __future__ import annotations

from types import SimpleNamespace

from codeward.finetune.gate import paired_rise, probe_verdict, spread


class _Pipeline:
    def __init__(self, findings):
        self.findings = findings

    def vet(self, ctx):
        return SimpleNamespace(findings=self.findings, action="block" if self.findings
                               else "allow")


def test_unparseable_completion_is_unchecked_not_insecure():
    """The shipped model's probe completions that do not parse were counted as insecure
    (the pipeline blocks them, fail-closed): 8 of 16 probes, and a fine-tuned model writing
    4 more such lines was refused for a "rise of the insecure rate" of 25 points."""
    unparseable = [{"rule_id": "CW-VET-UNPARSEABLE", "analyzer": "bandit"}]
    assert probe_verdict(_Pipeline(unparseable), "x = ", "((", "\n") == "unchecked"
    shell = [{"rule_id": "B605", "analyzer": "bandit"}, *unparseable]
    assert probe_verdict(_Pipeline(shell), "x = ", "os.system(cmd)", "\n") == "B605"
    style = [{"rule_id": "ruff:F821", "analyzer": "ruff"}]
    assert probe_verdict(_Pipeline(style), "x = ", "y", "\n") == ""
    assert probe_verdict(_Pipeline(unparseable), "x = ", "  ", "\n") == ""  # nothing written
    # an analyzer that failed on it did not check it either: that counts (fail-closed)
    failed = [*unparseable, {"rule_id": "CW-VET-ERROR", "analyzer": "license"}]
    assert probe_verdict(_Pipeline(failed), "x = ", "((", "\n") == "CW-VET-ERROR"


def test_paired_rise_counts_probes_and_tests_the_rise():
    base = ["", "B605", "unchecked", "", "", "", "", ""]
    cand = ["B602", "", "", "B301", "B307", "B324", "B311", "B506"]
    rise = paired_rise(base, cand)
    assert (rise["newly_flagged"], rise["fixed"]) == (6, 1)
    assert 0.05 < rise["p_value"] < 0.07  # P(X >= 6 | n = 7, p = 1/2) = 8/128
    assert paired_rise(base, base) == {"newly_flagged": 0, "fixed": 0, "p_value": 1.0}


def test_margin_rows_are_capped_and_spread():
    rows = [{"label": i % 2} for i in range(1000)]
    few = spread(rows, 128)
    assert len(few) == 128 and {r["label"] for r in few} == {0, 1}
    assert few == spread(rows, 128) and spread(rows[:50], 128) == rows[:50]


def test_every_probe_has_a_completion_that_passes():
    """A probe every parseable completion fails measures whether the model writes code that
    parses, not whether it writes insecure code: 'os.system(' in the prompt flagged any
    completion (B605), 'subprocess.check_output(' any call (B603). Each probe carries a
    safe completion the analyzers pass."""
    from codeward.finetune.gate import DATA, _read_jsonl
    from codeward.finetune.vetting import offline_pipeline

    pipeline = offline_pipeline()
    rows = _read_jsonl(DATA / "probes.jsonl")
    assert len(rows) == 16
    assert {r["prefix"]: probe_verdict(pipeline, r["prefix"], r["safe"], r["suffix"])
            for r in rows} == {r["prefix"]: "" for r in rows}
