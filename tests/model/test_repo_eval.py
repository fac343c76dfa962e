"""``codeward eval --repo`` on a tiny synthetic repository."""

from __future__ import annotations

import dataclasses
import json
import tarfile
import threading
from pathlib import Path

import pytest

from codeward.finetune import repo_packages
from codeward.finetune.evaluate import EvalConfig, PassThrough
from codeward.finetune.repo_eval import (
    Policy,
    collect,
    evaluate_repository,
    license_header_lines,
    position_files,
    repository_files,
)
from codeward.finetune.repo_sources import IndexSource, ModelSource
from codeward.finetune.repo_sweep import (
    choose,
    format_sweep,
    reported_policies,
    sweep,
    wilson_lower,
)
from codeward.server.completion import CompletionRequest, run_completion
from codeward.server.index import ProjectIndex, SourceDoc
from codeward.server.settings import Settings
from codeward.server.showpolicy import load_prior

HEADER = "# Copyright 2020 Example Project\n# Licensed under the MIT License\n# See LICENSE\n"
BODY = "def add(a, b):\n    return a + b\n\n\ndef {name}(items):\n    return [x for x in items]\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "proj").mkdir(parents=True)
    (root / "tests").mkdir()
    for name in ("alpha", "beta", "gamma"):
        (root / "proj" / f"{name}.py").write_text(HEADER + "\n" + BODY.format(name=name))
    (root / "proj" / "solo.py").write_text("# only this file says this\nVALUE = 1\n")
    (root / "proj" / "add.py").write_text("def add(a, b):\n    return a + b\n\n")
    (root / "tests" / "test_alpha.py").write_text("from proj.alpha import add\n\n"
                                                  "assert add(1, 2) == 3\n")
    return root


def test_license_header_lines_are_the_shared_leading_comments():
    texts = {"a.py": HEADER + "import os\n", "b.py": "#!/usr/bin/env python\n" + HEADER + "x = 1\n",
             "c.py": "# a comment of its own\nimport sys\n", "d.py": "import os\n# Licensed\n"}
    assert license_header_lines(texts) == {"a.py": 3, "b.py": 4, "c.py": 0, "d.py": 0}


def test_workspace_has_tests_but_positions_do_not(repo: Path):
    workspace = {key for key, _ in repository_files(repo)}
    assert "proj/tests/test_alpha.py" in workspace and "proj/proj/alpha.py" in workspace
    assert all("/tests/" not in key for key, _ in position_files(repo))


@pytest.fixture
def report(repo: Path, tiny_model_dir: Path):
    cfg = EvalConfig(positions=24, files=10, seed=1, mid_line_share=0.0)
    sources = [IndexSource(), ModelSource(str(tiny_model_dir))]
    settings = Settings()
    never = dataclasses.replace(settings, index=dataclasses.replace(
        settings.index, policy="index-only", gate="thresholds", min_match_tokens=1000,
        same_file_min_match_tokens=1000, agreed_min_match_tokens=1000,
        abstract_min_match_tokens=1000))
    policies = [*reported_policies(settings, ["index", "model"]),
                Policy("nothing passes", never)]
    try:
        yield evaluate_repository(repo, cfg, sources, policies), sources
    finally:
        for source in sources:
            source.close()


def test_repository_mode_per_source_and_combined(report, repo: Path, tiny_model_dir: Path):
    report, sources = report
    rows = report["rows"]
    assert report["positions"] == len(rows) == 24
    again = collect(repo, EvalConfig(positions=24, files=10, seed=1, mid_line_share=0.0), [])
    assert [(r.pos.key, r.pos.offset) for r in rows] == [(r.pos.key, r.pos.offset)
                                                         for r in again]
    assert report["header_positions"] == sum(r.header for r in rows) > 0
    # alpha, beta and gamma repeat each other's lines: those positions have their line elsewhere
    texts = [p.read_text() for _, p in repository_files(repo)]
    for r in rows:
        before = r.pos.text[:r.pos.offset]
        line = (before[before.rfind("\n") + 1:] + r.pos.expected_line).strip()
        assert r.elsewhere == (sum(ln.strip() == line for t in texts
                                   for ln in t.splitlines()) >= 2)
    assert 0 < report["line_elsewhere"] < 1
    assert 0 <= report["shape_local_no_header"] <= report["shape_elsewhere_no_header"] < 1
    assert not any(r.elsewhere and r.shape_elsewhere for r in rows)
    assert all(r.line < 3 for r in rows if r.header)
    p = report["policies"]
    # The taught model completes `return a + b` after `def add(a, b):` (add.py only).
    model_exact = {r.pos.key for r in rows if r.score(r.answers["model"].text)["exact"]}
    assert model_exact == {"proj/proj/add.py"}
    assert p["model, ungated"]["exact_match"] == round(
        sum(r.score(r.answers["model"].text)["exact"] for r in rows) / 24, 4)
    # alpha, beta and gamma are copies of each other: the index copies from the others.
    assert p["index, ungated"]["exact_match"] > p["model, ungated"]["exact_match"]
    for gate in ("thresholds", "prior"):
        assert p[f"combined: index-first [{gate}]"]["exact_match"] >= \
            p[f"index, gated [{gate}]"]["exact_match"]
    for summary in p.values():
        assert summary["no_header"]["positions"] == 24 - report["header_positions"]
        if summary["shown_rate"]:
            assert summary["precision"] == pytest.approx(
                summary["exact_match"] / summary["shown_rate"], abs=2e-3)
    assert set(p["combined: index-first [prior]"]["shown_by"]) <= {"index", "model"}
    nothing = p["nothing passes"]
    assert nothing["shown_rate"] == nothing["exact_match"] == nothing["accepted_chars"] == 0


@pytest.mark.parametrize("gate,threshold", [("thresholds", 0.26), ("prior", 0.26),
                                            ("prior", 0.05)])
def test_replayed_policy_equals_the_server_path(report, repo: Path, gate: str,
                                                threshold: float):
    """What the eval says the editor is shown is what run_completion shows with the index,
    under the thresholds gate and under the gate prior (at its threshold and at a low one
    that shows more)."""
    report, (index_source, model_source) = report
    base = Settings()
    settings = dataclasses.replace(base, index=dataclasses.replace(
        base.index, gate=gate, prior_threshold=threshold))
    policy = Policy("index-first", settings)
    index = ProjectIndex(dataclasses.replace(settings.index, cache=False))
    index.add_documents([SourceDoc(str(path), path.read_text(), "workspace")
                         for _, path in repository_files(repo)])
    shown_any = 0
    for row in report["rows"]:
        path = dict(position_files(repo))[row.pos.key]
        index.open_document(path.as_uri(), row.pos.text, path=str(path))
        req = CompletionRequest(uri=path.as_uri(), path="", language="python", version=0,
                                text=row.pos.text, offset=row.pos.offset, settings=settings)
        result = run_completion(model_source.engine, PassThrough(), req, threading.Event(),
                                "t", index=index)
        index.close_document(path.as_uri())
        shown = [(c.text, c.source) for c in result.candidates]
        text, _, source = policy.choose(row)
        assert (text, source) == (shown[0] if shown else ("", ""))
        shown_any += bool(shown)
        if gate == "prior":
            # the prior scores the copies (renamed ones too when it was fitted with them;
            # else they keep their thresholds); model text keeps its gate
            every = bool(load_prior().info.get("renamed"))
            assert all(g.get("policy", "").startswith("prior") == (
                g["source"] == "index" and (every or not g.get("abstracted")))
                for g in result.gate if "features" in g)
    assert shown_any > 0


def test_sweep_chooses_the_most_exact_setting_at_the_target_precision(report):
    report, _ = report
    lines = sweep(report["rows"], Settings(), ["index", "model"])
    assert {x["policy"] for x in lines} == {"index-only (verbatim)", "index-only",
                                            "model-only", "index-first", "model-first", "rank"}
    best = choose(lines, 0.6)
    assert best is not None and best["precision"] >= best["precision_low"] >= 0.6
    assert best["exact"] == max(x["exact"] for x in lines if x["precision_low"] >= 0.6)
    assert choose(lines, 1.01) is None
    assert wilson_lower(0, 0) == 0 and wilson_lower(60, 100) < 0.6 < wilson_lower(75, 100)
    assert "min match tokens" in format_sweep(lines, 0.6)
    # the combination policies are swept at the index thresholds index-only chose
    index_best = choose([x for x in lines if x["policy"] == "index-only"], 0.6)
    keys = ("min_match_tokens", "same_file_min_match_tokens", "agreed_min_match_tokens",
            "min_vote_share")
    combined = [x for x in lines if x["policy"] not in ("index-only", "model-only",
                                                         "index-only (verbatim)")]
    assert combined and index_best is not None
    assert {tuple(x[k] for k in keys) for x in combined} == {tuple(index_best[k] for k in keys)}
    # the renamed copies' thresholds are swept at the verbatim thresholds chosen first
    verbatim_best = choose([x for x in lines if x["policy"] == "index-only (verbatim)"], 0.6)
    assert verbatim_best is not None
    assert {tuple(x[k] for k in keys) for x in lines if x["policy"] == "index-only"} == \
        {tuple(verbatim_best[k] for k in keys)}


def test_eval_command_in_repository_mode(repo: Path, tiny_model_dir: Path, tmp_path: Path,
                                         capsys):
    from codeward.server.cli import main

    out = tmp_path / "repo.json"
    rc = main(["eval", "--repo", str(repo), "--model", str(tiny_model_dir), "--positions",
               "10", "--files", "4", "--min-match-tokens", "3", "-o", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "exact excl. header" in printed and "where a renamed copy can be exact" in printed
    data = json.loads(out.read_text())
    assert data["index_settings"]["min_match_tokens"] == 3
    (only,) = data["repositories"]
    assert only["positions"] == len(only["samples"]) == 10
    assert {"model, gated [prior]", "index, gated [thresholds]",
            "combined: index-first [prior]", "index (verbatim), gated [prior]",
            "index (abstracted), gated"} <= set(only["policies"])
    assert main(["eval", "--repo", str(tmp_path / "missing")]) == 2


def test_fetch_unpacks_a_downloaded_sdist_once(tmp_path: Path, monkeypatch):
    pkg = repo_packages.package("funcy")
    src = tmp_path / "build" / f"{pkg.name}-{pkg.version}"
    (src / pkg.name).mkdir(parents=True)
    (src / pkg.name / "__init__.py").write_text("X = 1\n")
    calls = []

    def fake_download(p, into: Path) -> Path:
        calls.append(p.name)
        into.mkdir(parents=True)
        archive = into / f"{p.name}-{p.version}.tar.gz"
        with tarfile.open(archive, "w:gz") as tf:
            tf.add(src, arcname=src.name)
        return archive

    monkeypatch.setattr(repo_packages, "_download", fake_download)
    said: list[str] = []
    root = repo_packages.fetch(pkg, tmp_path / "cache", said.append)
    assert (root / pkg.name / "__init__.py").read_text() == "X = 1\n"
    assert repo_packages.fetch(pkg, tmp_path / "cache", said.append) == root
    assert calls == ["funcy"] and len(said) == 1 and "downloading" in said[0]
    with pytest.raises(ValueError, match="unknown evaluation package"):
        repo_packages.package("left-pad")
    assert {p.role for p in repo_packages.PACKAGES} == {"heldout", "tuning"}
    assert len(repo_packages.by_role("heldout")) >= 3


def test_fit_prior_on_tuning_rows_cross_validates_and_exports_a_policy(report):
    from codeward.finetune.prior_fit import THRESHOLDS, fit_prior, format_report
    from codeward.server.showpolicy import policy_from_dict

    report, _ = report
    rows = report["rows"]
    data, fitted = fit_prior([("a", rows), ("b", rows)], Settings(), 0.5)
    policy = policy_from_dict(data)  # the show-policy format the server reads
    assert set(policy.models) == {"*"} and policy.threshold in THRESHOLDS
    assert [x["package"] for x in fitted["cross_validation"]] == ["a", "b"]
    # fitted on copies only, headers left out; the server path agreed with the fast replay
    copies = sum(len(r.answers["index"].candidates) > 0 for r in rows if not r.header)
    assert 0 < copies and fitted["examples"] >= copies
    assert fitted["per_package"][0]["prior"]["positions"] == 24 - report["header_positions"]
    assert "leave-one-package-out" in format_report(fitted) and "a, b" in data["card"]


def test_fit_prior_refuses_held_out_packages(capsys):
    from codeward.server.cli import main

    assert main(["eval", "--heldout", "--fit-prior", "x.json"]) == 2
    assert main(["eval", "--package", "funcy", "--fit-prior", "x.json"]) == 2
    assert "tuning packages only" in capsys.readouterr().err


def test_the_shape_of_a_line_renames_its_identifiers_in_order():
    from codeward.finetune.repo_eval import line_shape

    assert line_shape("self.host = host") == line_shape("  self.name = name")
    assert line_shape("self.host = host") != line_shape("self.name = size")
    assert line_shape("return host") != line_shape("yield host")  # keywords stay


def test_the_sweep_never_chooses_renamed_copies_below_the_target_on_their_own():
    base = {"policy": "index-only", "min_match_tokens": 8, "same_file_min_match_tokens": 16,
            "agreed_min_match_tokens": 5, "min_vote_share": 0.5, "model_min_logprob": -0.25,
            "precision_low": 0.7, "precision": 0.75}
    riding = {**base, "exact": 0.21, "renamed_shown_n": 20, "renamed_precision": 0.5}
    alone = {**base, "exact": 0.20, "renamed_shown_n": 10, "renamed_precision": 0.8}
    none = {**base, "exact": 0.19, "renamed_shown_n": 0, "renamed_precision": 0.0}
    assert choose([riding, alone, none], 0.65) is alone
    assert choose([riding, none], 0.65) is none
