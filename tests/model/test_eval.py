from __future__ import annotations

import json

from codeward.finetune.corpus import directory_source
from codeward.finetune.evaluate import (
    EvalConfig,
    common_prefix,
    edit_similarity,
    format_table,
    measure_completions,
    pick_positions,
)

METRICS = ("positions", "exact_match", "edit_similarity", "accepted_chars",
           "accepted_chars_per_request", "empty_rate", "latency_ms", "single_line_latency_ms",
           "multi_line_latency_ms")


def test_metric_helpers():
    assert edit_similarity("abc", "abc") == 1.0
    assert edit_similarity("abcd", "abcx") == 0.75
    assert edit_similarity("", "abc") == 0.0
    assert common_prefix("return x\n", "return y\n") == 7


def test_positions_are_seeded_and_consistent(small_corpus):
    src = directory_source(small_corpus)
    files = [(f"c/{r}", small_corpus / r) for r in src.files]
    cfg = EvalConfig(files=5, positions=40, seed=3)
    a, b = pick_positions(files, cfg), pick_positions(files, cfg)
    assert [(p.key, p.offset) for p in a] == [(p.key, p.offset) for p in b]
    assert {p.kind for p in a} == {"new-line", "mid-line"}
    for p in a:
        original = (small_corpus / p.key.split("/", 1)[1]).read_text()
        assert p.text[: p.offset] + p.continuation == original
        assert p.expected_line and "\n" not in p.expected_line


def test_eval_json_has_every_metric(random_model_dir, small_corpus, tmp_path):
    from codeward.server.cli import main

    out = tmp_path / "eval.json"
    rc = main(["eval", "--model", str(random_model_dir), "--corpus", str(small_corpus),
               "--files", "4", "--positions", "12", "-o", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    for section in (report["overall"], *report["by_kind"].values()):
        for key in METRICS:
            assert key in section
    assert report["overall"]["positions"] == 12
    assert report["overall"]["latency_ms"]["p95"] > 0
    assert len(report["samples"]) == 12
    assert "next-line exact match" in format_table(report)


def test_taught_model_scores_on_what_it_was_taught(tiny_model_dir, tmp_path):
    (tmp_path / "add.py").write_text("def add(a, b):\n    return a + b\n\n")
    report = measure_completions(EvalConfig(model=str(tiny_model_dir), corpus_dirs=[str(tmp_path)],
                                 files=1, positions=4, mid_line_share=0.0))
    assert report["overall"]["exact_match"] > 0.9
