"""The command side of ``codeward eval --repo``: arguments, which repositories, the tables.

``add_arguments(parser)`` adds the repository-mode options to ``codeward eval``;
``wants_repo_mode(args)`` says whether they were given and ``run(args)`` runs it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from . import repo_packages

COLUMNS = (("exact_match", "exact"), ("no_header.exact_match", "exact excl. header"),
           ("precision", "precision among shown"), ("no_header.precision",
                                                    "precision excl. header"),
           ("shown_rate", "shown"), ("accepted_chars", "accepted chars / request"),
           ("latency_ms.p50", "p50 ms"), ("latency_ms.p95", "p95 ms"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "repository mode", "positions in the files of real repositories, the rest of each "
        "repository as the workspace; per completion source and combined")
    g.add_argument("--repo", action="append", default=[], metavar="DIR",
                   help="evaluate on this repository (a folder of Python source)")
    g.add_argument("--package", action="append", default=[], metavar="NAME",
                   help="evaluate on this pinned evaluation package (sdist fetched with pip "
                        "into the user cache when missing): "
                        + ", ".join(f"{p.name} ({p.role})" for p in repo_packages.PACKAGES))
    g.add_argument("--heldout", action="store_true",
                   help="evaluate on every held-out evaluation package")
    g.add_argument("--tuning", action="store_true",
                   help="evaluate on the tuning packages (the only ones thresholds are "
                        "chosen and the gate prior is fitted on)")
    g.add_argument("--repo-cache", metavar="DIR", help="where sdists are kept "
                   "(default: the user cache directory, codeward/eval-repos)")
    g.add_argument("--no-model", action="store_true", help="measure the index alone")
    g.add_argument("--min-match-tokens", type=int, metavar="N",
                   help="gate: index matches of at least N tokens (default: the setting's)")
    g.add_argument("--same-file-min-match-tokens", type=int, metavar="N",
                   help="gate: copies from the document itself need N tokens")
    g.add_argument("--agreed-min-match-tokens", type=int, metavar="N",
                   help="gate: copies that two or more occurrences agree on need N tokens")
    g.add_argument("--min-vote-share", type=float, metavar="X",
                   help="gate: index continuations with at least this vote share")
    g.add_argument("--model-min-logprob", type=float, metavar="X",
                   help="gate: model text with at least this mean token log-probability")
    g.add_argument("--sweep", action="store_true",
                   help="also sweep the gate's thresholds for every policy and choose the "
                        "setting with the most exact matches at the target precision (run it "
                        "on one tuning package, e.g. --package werkzeug: thresholds are never "
                        "chosen on held-out code)")
    g.add_argument("--fit-prior", metavar="FILE",
                   help="fit the gate prior on the tuning packages (every candidate "
                        "considered, labelled exact next line or not), choose its threshold "
                        "with the --target-precision rule, report leave-one-package-out "
                        "cross-validation, and write it to FILE (the show-policy JSON that "
                        "ships as server/index/prior_policy.json); tuning packages only")
    g.add_argument("--target-precision", type=float, default=0.65, metavar="X",
                   help="precision among shown suggestions the sweep must reach with 95%% "
                        "confidence (0.65: a margin over the 60%% target, which held-out "
                        "code falls short of when the tuning repository only just meets it)")


def wants_repo_mode(args: argparse.Namespace) -> bool:
    return bool(args.repo or args.package or args.heldout or args.tuning)


def repositories(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(label, root) of every repository asked for; fetches missing sdists."""
    def say(message: str) -> None:
        print(f"codeward: {message}", file=sys.stderr)

    cache = Path(args.repo_cache) if args.repo_cache else None
    pkgs = [repo_packages.package(n) for n in args.package]
    if args.heldout:
        pkgs += repo_packages.by_role("heldout")
    if args.tuning:
        pkgs += repo_packages.by_role("tuning")
    out = [(f"{p.name} {p.version}", repo_packages.fetch(p, cache, say))
           for p in dict.fromkeys(pkgs)]
    for d in args.repo:
        root = Path(d).resolve()
        if not root.is_dir():
            raise ValueError(f"--repo {d}: not a directory")
        out.append((root.name, root))
    return out


def _refuse_heldout(args: argparse.Namespace) -> None:
    """The gate prior is fitted on tuning packages only: never on a held-out one."""
    heldout = {p.name for p in repo_packages.by_role("heldout")}
    named = {n.lower() for n in args.package} & heldout
    dirs = {Path(d).resolve().name.rsplit("-", 1)[0].lower() for d in args.repo} & heldout
    if args.heldout or named or dirs:
        raise ValueError("--fit-prior fits on tuning packages only; held out: "
                         + ", ".join(sorted(named | dirs) or sorted(heldout)))


def _get(summary: dict[str, Any], dotted: str) -> float:
    value: Any = summary
    for part in dotted.split("."):
        value = value[part]
    return float(value)


def _cell(key: str, value: float) -> str:
    if key.endswith(("p50", "p95")):
        return f"{value:.1f}"
    if key == "accepted_chars":
        return f"{value:.1f}"
    return f"{value:.1%}"


def format_repository(label: str, report: dict[str, Any]) -> str:
    lines = [f"{label}: {report['positions']} positions in {report['files']} files, "
             f"{report['header_positions']} on license-header lines; the whole cursor line "
             f"occurs elsewhere in the repository at {report['line_elsewhere_no_header']:.1%} "
             "of the others (where a copy of a line can be exact); only its shape "
             f"(identifiers abstracted) at {report.get('shape_elsewhere_no_header', 0):.1%}, "
             f"{report.get('shape_local_no_header', 0):.1%} with every identifier in the "
             "3,000 characters before the cursor (where a renamed copy can be exact)", "",
             "| source / policy | " + " | ".join(h for _, h in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for name, summary in report["policies"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(k, _get(summary, k))
                                                  for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def format_average(reports: list[tuple[str, dict[str, Any]]]) -> str:
    """Per policy, the mean over the repositories (each repository weighs the same)."""
    if not reports:
        return ""
    names = list(reports[0][1]["policies"])
    lines = [f"mean over {len(reports)} repositories ("
             + ", ".join(label for label, _ in reports) + ")", "",
             "| source / policy | " + " | ".join(h for _, h in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for name in names:
        cells = [_cell(k, statistics.fmean(_get(r["policies"][name], k) for _, r in reports))
                 for k, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _settings(args: argparse.Namespace) -> Any:
    """The server's default settings with the thresholds given on the command line."""
    import dataclasses

    from codeward.server.settings import Settings

    base = Settings()
    changes = {k: getattr(args, k) for k in ("min_match_tokens", "same_file_min_match_tokens",
                                             "agreed_min_match_tokens", "min_vote_share",
                                             "model_min_logprob")
               if getattr(args, k) is not None}
    index = dataclasses.replace(base.index, **changes)
    problems = index.validate()
    if problems:
        raise ValueError("; ".join(problems))
    return dataclasses.replace(base, index=index)


def run(args: argparse.Namespace, cfg: Any) -> tuple[dict[str, Any], str]:
    """Every repository asked for: (the JSON report, the tables)."""
    from . import repo_sweep
    from .repo_eval import evaluate_repository
    from .repo_sources import IndexSource, ModelSource

    def progress(message: str) -> None:
        print(f"codeward: {message}", file=sys.stderr, flush=True)

    settings = _settings(args)
    if args.fit_prior:
        _refuse_heldout(args)
    repos = repositories(args)
    sources: list[Any] = [IndexSource(settings)]
    if not args.no_model:
        sources.append(ModelSource(cfg.model))
    policies = repo_sweep.reported_policies(settings, [s.name for s in sources])
    reports, parts, sweeps = [], [], []
    try:
        for label, root in repos:
            report = evaluate_repository(root, cfg, sources, policies, progress)
            reports.append((label, report))
            parts.append(format_repository(label, report))
            if args.sweep:
                sweeps += repo_sweep.sweep(report["rows"], settings,
                                           sources=[s.name for s in sources],
                                           target=args.target_precision)
    finally:
        for source in sources:
            source.close()
    if len(reports) > 1:
        parts.append(format_average(reports))
    if args.fit_prior:
        from . import prior_fit

        prior, fitted = prior_fit.fit_prior([(label, r["rows"]) for label, r in reports],
                                            settings, args.target_precision)
        Path(args.fit_prior).write_text(json.dumps(prior, indent=1) + "\n", "utf-8")
        parts += [prior_fit.format_report(fitted), prior["card"],
                  f"written to {args.fit_prior}"]
    extra: dict[str, Any] = {"config": vars(cfg), "index_settings": vars(settings.index),
                             "model": getattr(sources[-1], "label", "")}
    if args.sweep:
        chosen = repo_sweep.choose(sweeps, args.target_precision)
        parts.append(repo_sweep.format_sweep(sweeps, args.target_precision))
        parts.append("chosen: " + (json.dumps(chosen) if chosen else "no setting reaches the "
                                   "target precision"))
        extra.update(sweep=sweeps, chosen=chosen)
    return as_json(reports, extra), "\n\n".join(parts)


def as_json(reports: list[tuple[str, dict[str, Any]]], extra: dict[str, Any]) -> dict[str, Any]:
    from .repo_eval import samples

    return {**extra, "repositories": [
        {"label": label, **{k: v for k, v in r.items() if k != "rows"},
         "samples": samples(r["rows"])} for label, r in reports]}
