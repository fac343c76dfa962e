"""``codeward report`` from a seeded event store (SQLite and PostgreSQL): every section,
the numbers (computed here from the seeded truth), no event text, the per-user threshold."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from codeward.server.cli import main
from codeward.server.events.store import open_store
from codeward.server.report.cli import make_report

from reportcheck import Tables, expected_rates, final_kept, picked
from seeded_events import CANARY, RULES, Version, generate

pytest.importorskip("matplotlib")

SECTIONS = ["over-time", "language", "source", "funnel-h", "calibration-h", "latency-h",
            "vetting", "users-h", "drift-h", "finetune-h"]
PLOTS = ["plot-over-time", "plot-by-language", "plot-by-source", "plot-funnel",
         "plot-calibration", "plot-latency", "plot-verdicts", "plot-users", "plot-finetune"]
REGISTRY = {
    "current": "v2",
    "history": [{"version": "v1", "reason": "initial"}, {"version": "v2", "reason": "gate passed"}],
    "versions": [
        {"version": "v1", "created": "2026-05-01T00:00:00+00:00", "note": "base model"},
        {"version": "v2", "created": "2026-06-07T00:00:00+00:00", "base_version": "v1",
         "metrics": {"passed": True, "reasons": [], "checks": [
             {"name": "margin", "passed": True, "baseline": 1.0, "candidate": 2.0, "rule": ">"},
             {"name": "exact_match", "passed": True, "baseline": 0.3, "candidate": 0.31,
              "rule": ">= -1pt"}]}},
        {"version": "v3", "created": "2026-06-20T00:00:00+00:00", "base_version": "v2",
         "metrics": {"passed": False, "reasons": ["exact_match: dropped 5 points"], "checks": [
             {"name": "margin", "passed": True, "baseline": 2.0, "candidate": 2.5, "rule": ">"},
             {"name": "exact_match", "passed": False, "baseline": 0.31, "candidate": 0.26,
              "rule": ">= -1pt"}]}},
    ],
}
VERSIONS = [Version("codeward-base@v1", 0.3, n=500),
            Version("codeward-base@v2", 0.15, n=500, start_day=10)]


def _page(store_url: str, versions: list[Version], **kw: object) -> tuple[str, list]:
    rows, truth = generate(versions, seed=7, users=int(kw.pop("users", 6)))  # type: ignore[call-overload]
    store = open_store(store_url)
    try:
        store.write(rows)
        page = make_report(store.iter_events(), checkpoints=[30, 120, 600],
                           registry=REGISTRY, **kw)  # type: ignore[arg-type]
    finally:
        store.close()
    return page, truth


def test_report_sections_numbers_and_privacy(store_url: str) -> None:
    page, truth = _page(store_url, VERSIONS)
    t = Tables(page)
    assert set(SECTIONS) <= t.ids and set(PLOTS) <= t.ids
    assert "<script" not in page and "<metadata" not in page
    assert not re.search(r"(?:href|src)\s*=\s*[\"']?(?:https?:|//)|url\(\s*[\"']?https?:", page)

    # no event text, no user or repository ids
    for needle in (CANARY, "secret_value", "prefix ", "user0", "rrrrrrrr", "finding "):
        assert needle not in page

    for table, key in (("by-model", lambda x: x.model), ("by-language", lambda x: x.language),
                       ("by-source", lambda x: x.source)):
        got = {k: picked(v) for k, v in t.rows(table).items()}
        assert got == expected_rates(truth, key), table

    shown = [x for x in truth if x.shown]
    accepted = [x for x in shown if x.accepted]
    funnel = t.rows("funnel")
    assert funnel["shown"][0] == str(len(shown))
    assert funnel["accepted"][:2] == [str(len(accepted)), str(sum(x.accepted_len for x in accepted))]
    for cp, step in ((30, "kept 30 s"), (120, "kept 2 min"), (600, "kept 10 min")):
        measured = [x for x in accepted if x.kept.get(cp) is not None]
        assert funnel[step] == [str(sum(x.kept[cp] > 0 for x in measured)),  # type: ignore[operator]
                                str(sum(x.kept[cp] for x in measured)),  # type: ignore[misc]
                                str(len(measured))]

    latency = t.rows("latency")
    for stage in ("prompt", "index", "generation", "vetting", "total"):
        values = sorted(x.latency[stage] for x in truth)
        assert latency[stage] == [str(len(values)), f"{values[len(values) // 2]:.1f}",
                                  f"{values[int(0.95 * len(values))]:.1f}"]

    blocked = Counter(b for x in truth for b in x.blocked)
    rules = {(r[0], r[1]): r for r in t.tables["rules"][1:]}
    for (analyzer, rule), n in blocked.items():
        assert rules[(analyzer, rule)] == [analyzer, rule, "block", str(n)]
    assert t.rows("actions")["block"] == [str(sum(blocked.values()))]
    assert set(rules) <= set(RULES)

    calibration = t.tables["calibration"][1:]
    for source in ("index", "model"):
        assert sum(int(r[3]) for r in calibration if r[0] == source) == \
            sum(x.source == source for x in shown)

    drift = t.tables["drift"][1:]
    assert drift[0][:2] == ["codeward-base@v2 vs codeward-base@v1", "acceptance"]
    assert drift[0][-1] == "DROP" and 'id="drift-alert"' in page
    assert "codeward model rollback --to v1" in page

    ft = t.rows("finetune")
    assert ft["v2"][2] == "current" and ft["v3"][2] == "refused"
    assert "exact_match: dropped 5 points" in ft["v3"][3]
    assert sum(final_kept(x) for x in accepted) == int(t.rows("summary")[str(len(shown))][4])


@pytest.mark.parametrize(("users", "min_users", "per_user"), [(4, 5, False), (5, 5, True),
                                                              (6, 7, False)])
def test_per_user_views_need_enough_users(tmp_path, users: int, min_users: int,
                                          per_user: bool) -> None:
    page, _ = _page(f"sqlite:///{tmp_path / 'e.db'}", [Version("m@v1", 0.3, n=120)],
                    users=users, min_users=min_users)
    t = Tables(page)
    assert ("plot-users" in t.ids) is per_user
    assert ("users-aggregated" in t.ids) is not per_user


def test_cli_report_and_stats_drift(tmp_path, tiny_model_dir, capsys) -> None:
    from codeward.finetune import registry as reg

    url = f"sqlite:///{tmp_path / 'e.db'}"
    rows, _ = generate(VERSIONS, seed=3)
    store = open_store(url)
    store.write(rows)
    store.close()
    root = tmp_path / "registry"
    reg.add_version(root, tiny_model_dir, version="v1")
    reg.promote(root, "v1", reason="initial")
    out = tmp_path / "out" / "report.html"
    assert main(["report", "--store", url, "--since", "2020-01-01", "--registry", str(root),
                 "-o", str(out)]) == 0
    t = Tables(out.read_text("utf-8"))
    assert t.rows("finetune")["v1"][2] == "current"
    assert main(["report", "--store", url, "--min-users", "0", "-o", str(out)]) == 2
    capsys.readouterr()

    assert main(["events", "stats", "--store", url]) == 0
    text = capsys.readouterr().out
    assert "DRIFT: codeward-base@v2 vs codeward-base@v1: SIGNIFICANT DROP" in text
    assert main(["events", "stats", "--store", url, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert [d["status"] for d in stats["drift"]] == ["drop"]
