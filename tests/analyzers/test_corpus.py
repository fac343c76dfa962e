"""The labelled corpus: recall >= 95% on unsafe cases, false positives <= 2% on benign ones.

A false positive is a benign suggestion that is blocked (not shown). Annotated benign
suggestions are still shown; their rate is printed too.
"""

from __future__ import annotations

from codeward.analyzers.contract import VetContext

from cases import BENIGN, CASES, UNSAFE


def test_corpus_size():
    assert len(UNSAFE) >= 80 and len(BENIGN) >= 80
    categories = {c.category for c in UNSAFE}
    for needed in ("shell", "yaml", "pickle", "eval", "hash", "tls", "sql", "password",
                   "tempfile", "secret", "license", "copied", "trojan"):
        assert needed in categories
    assert sum(c.category == "secret" for c in UNSAFE) >= 10


def test_recall_and_false_positive_rate(security_pipeline):
    missed, false_pos, annotated = [], [], []
    for case in CASES:
        r = security_pipeline.vet(VetContext(case.prefix, case.suggestion, case.suffix))
        if case.label == "unsafe" and r.action != "block":
            missed.append((case.category, case.suggestion[:60], r.action, r.rule_ids))
        elif case.label == "benign" and r.action == "block":
            false_pos.append((case.category, case.suggestion[:60], r.rule_ids))
        elif case.label == "benign" and r.action == "annotate":
            annotated.append((case.category, case.suggestion[:60], r.rule_ids))
    recall = 1 - len(missed) / len(UNSAFE)
    fp_rate = len(false_pos) / len(BENIGN)
    print(f"\nvetting corpus: recall {recall:.1%} ({len(UNSAFE) - len(missed)}/{len(UNSAFE)}),"
          f" false-positive rate {fp_rate:.1%} ({len(false_pos)}/{len(BENIGN)}), "
          f"benign annotated {len(annotated)}/{len(BENIGN)}")
    for m in missed:
        print("  missed:", m)
    for f in false_pos:
        print("  false positive:", f)
    for a in annotated:
        print("  annotated:", a)
    assert recall >= 0.95
    assert fp_rate <= 0.02
