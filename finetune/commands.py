"""Commands of the alignment loop: ``codeward finetune dataset|train|evaluate|run|schedule``,
``codeward model list|register|promote|rollback`` and ``codeward simulate`` (+ ``report``).

Parse arguments, configure, call into the modules; heavy imports happen inside commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def register(sub: Any, model_sub: Any) -> None:
    common = getattr(sub, "_common", None)
    parents = [common] if common is not None else []
    ft = sub.add_parser("finetune", help="preference fine-tuning from acceptance logs")
    ft_sub = ft.add_subparsers(dest="finetune_command", required=True)
    _register_dataset(ft_sub.add_parser("dataset", parents=parents,
                                        help="events -> DPO pairs + KTO rows (with provenance)"))
    _register_train(ft_sub.add_parser("train", parents=parents,
                                      help="DPO/KTO + LoRA, merge; optionally convert"))
    _register_evaluate(ft_sub.add_parser("evaluate", parents=parents,
                                         help="the promotion gate: candidate vs serving model"))
    _register_run(ft_sub.add_parser("run", parents=parents,
                                    help="dataset, train, convert, gate, promote: one cycle"))
    sched = ft_sub.add_parser("schedule", parents=parents, help="run cycles periodically")
    _register_run(sched)
    sched.add_argument("--every", default="24h", help="check interval: 24h, 30m, 90s, 2d")
    sched.add_argument("--min-new-events", type=int, default=200,
                       help="completion events since the last cycle needed to run one")
    sched.add_argument("--max-checks", type=int, default=None, help="stop after N checks")
    sched.set_defaults(func=cmd_schedule)

    lst = model_sub.add_parser("list", help="versions in the model registry")
    lst.add_argument("--registry", default="", help="registry directory (default: user data)")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_model_list)
    regp = model_sub.add_parser("register", help="add a converted model to the registry")
    regp.add_argument("model_dir")
    regp.add_argument("--hf", default="", help="its Hugging Face checkpoint (default: manifest "
                                               "source)")
    regp.add_argument("--registry", default="")
    regp.add_argument("--version", default=None)
    regp.add_argument("--promote", action="store_true", help="make it current")
    regp.set_defaults(func=cmd_model_register)
    prom = model_sub.add_parser("promote", help="make a registered version current")
    prom.add_argument("version")
    prom.add_argument("--registry", default="")
    prom.set_defaults(func=cmd_model_promote)
    rb = model_sub.add_parser("rollback", help="go back to the previously promoted version")
    rb.add_argument("--to", default=None, help="this version instead of the previous one")
    rb.add_argument("--registry", default="")
    rb.set_defaults(func=cmd_model_rollback)

    sim = sub.add_parser("simulate", help="a simulated developer typing files into a real "
                                          "codeward serve over LSP")
    sim.add_argument("--repo", help="repository folder")
    sim.add_argument("--files", default="**/*.py", help="glob under --repo (default **/*.py)")
    sim.add_argument("--model", default="", help="converted model (default: the registry's)")
    sim.add_argument("--registry", default="")
    sim.add_argument("--events", default="", help="append event rows to this .jsonl file")
    sim.add_argument("--label", default="", help="name of this run in reports")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--points-per-file", type=int, default=12)
    sim.add_argument("--max-files", type=int, default=0)
    sim.add_argument("--candidates", type=int, default=2)
    sim.add_argument("--settings", default="{}", help="extra initializationOptions (JSON)")
    sim.add_argument("--out", default="", help="write the report JSON here")
    sim.add_argument("--compare", nargs="*", default=[], metavar="REPORT",
                     help="without --repo: compare these report JSON files")
    sim.add_argument("--html", default="", help="write an HTML/SVG plot of the reports here")
    sim.set_defaults(func=cmd_simulate)


# -- finetune dataset -----------------------------------------------------------------------

def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", required=True,
                   help="event rows: a .jsonl file (codeward simulate --events) or the event "
                        "store (sqlite:///PATH, postgresql://...)")
    p.add_argument("--min-shown-ms", type=float, default=100.0)
    p.add_argument("--max-user-share", type=float, default=0.25)
    p.add_argument("--max-repo-share", type=float, default=0.4)
    p.add_argument("--heldout-fraction", type=float, default=0.1)
    p.add_argument("--no-vet", action="store_true", help="do not re-vet chosen texts")
    p.add_argument("--family", default="codeward", help="FIM family of the prompt")


def _dataset_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .dataset import DatasetConfig

    return DatasetConfig(family=args.family, min_shown_ms=args.min_shown_ms,
                         max_user_share=args.max_user_share, max_repo_share=args.max_repo_share,
                         heldout_fraction=args.heldout_fraction, vet=not args.no_vet)


def _register_dataset(p: argparse.ArgumentParser) -> None:
    _dataset_args(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_dataset)


def cmd_dataset(args: argparse.Namespace) -> int:
    from .dataset import build, iter_events, write

    try:
        cfg = _dataset_config(args)
        events = list(iter_events(args.events))
        splits, report = build(events, cfg)
    except (ValueError, OSError, RuntimeError) as exc:
        _say(f"codeward: {exc}")
        return 2
    last = max((float(e.get("at") or 0) for e in events), default=0.0)
    out = write(Path(args.out), splits, report, cfg, args.events, len(events), last)
    print(report.table())
    print(f"written to {out} ({len(events)} events read)")
    return 0


# -- finetune train / evaluate ------------------------------------------------------------

def _register_train(p: argparse.ArgumentParser) -> None:
    from .train import add_arguments

    p.add_argument("--hf", required=True, help="Hugging Face checkpoint to start from")
    p.add_argument("--dataset", required=True, help="folder written by 'finetune dataset'")
    p.add_argument("--out", required=True, help="merged checkpoint goes to OUT/hf")
    p.add_argument("--convert", action="store_true", help="also convert to OUT/model")
    add_arguments(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from .train import NotEnoughData, config_from_args, train

    try:
        cfg = config_from_args(args)
        result = train(Path(args.hf), Path(args.dataset), Path(args.out) / "hf", cfg)
    except (ValueError, NotEnoughData) as exc:
        _say(f"codeward: {exc}")
        return 2
    if args.convert:
        from .convert import convert

        convert(Path(args.out) / "hf", Path(args.out) / "model", force=True, progress=_say)
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def _gate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--heldout-code", nargs="*", default=[], metavar="DIR",
                   help="held-out folders for next-line exact match (codeward eval); default: "
                        "the dataset's held-out accepted suggestions")
    p.add_argument("--min-margin-gain", type=float, default=0.0)
    p.add_argument("--max-exact-match-drop", type=float, default=1.0, help="points")
    p.add_argument("--max-insecure-increase", type=float, default=0.0, help="points")
    p.add_argument("--max-secret-emissions", type=int, default=0)
    p.add_argument("--no-require-margin", action="store_true",
                   help="pass the margin check when there are no held-out pairs")


def _gate_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .gate import GateConfig

    return GateConfig(min_margin_gain=args.min_margin_gain,
                      max_exact_match_drop=args.max_exact_match_drop,
                      max_insecure_increase=args.max_insecure_increase,
                      max_secret_emissions=args.max_secret_emissions,
                      require_margin=not args.no_require_margin)


def _register_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", required=True, help="serving model (converted)")
    p.add_argument("--baseline-hf", default="", help="its HF checkpoint (margin)")
    p.add_argument("--candidate", required=True, help="candidate model (converted)")
    p.add_argument("--candidate-hf", default="", help="its HF checkpoint (margin)")
    p.add_argument("--dataset", default="", help="dataset folder (held-out pairs)")
    p.add_argument("--json", default="", help="write the report here")
    _gate_args(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .gate import evaluate

    report = evaluate(Path(args.baseline), Path(args.baseline_hf) if args.baseline_hf else None,
                      Path(args.candidate),
                      Path(args.candidate_hf) if args.candidate_hf else None,
                      Path(args.dataset) if args.dataset else None,
                      [Path(p) for p in args.heldout_code], _gate_config(args))
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2), "utf-8")
    return 0 if report.passed else 1


# -- finetune run / schedule ----------------------------------------------------------------

def _register_run(p: argparse.ArgumentParser) -> None:
    from .train import add_arguments

    _dataset_args(p)
    p.add_argument("--registry", default="", help="registry directory (default: user data)")
    p.add_argument("--base-model", default="", help="converted model to start the registry with")
    p.add_argument("--base-hf", default="", help="its HF checkpoint (default: manifest source)")
    p.add_argument("--work-dir", default="", help="scratch folder (default: REGISTRY/work)")
    p.add_argument("--no-promote", action="store_true", help="register but do not promote")
    p.add_argument("--json", default="", help="write the cycle's result here")
    _gate_args(p)
    add_arguments(p)
    p.set_defaults(func=cmd_run)


def _loop_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .loop import LoopConfig
    from .train import config_from_args

    return LoopConfig(events=args.events, registry=args.registry or None,
                      work_dir=args.work_dir, base_model=args.base_model, base_hf=args.base_hf,
                      heldout_code=list(args.heldout_code), promote=not args.no_promote,
                      dataset=_dataset_config(args), train=config_from_args(args),
                      gate=_gate_config(args))


def cmd_run(args: argparse.Namespace) -> int:
    from .loop import run
    from .registry import RegistryError

    try:
        result = run(_loop_config(args), say=_say)
    except (RegistryError, ValueError, OSError, RuntimeError) as exc:
        _say(f"codeward: {exc}")
        return 2
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str), "utf-8")
    print(json.dumps({k: result.get(k) for k in ("status", "version", "base_version",
                                                 "timings")}, indent=2))
    return 0 if result["status"] in ("promoted", "registered", "skipped") else 1


def cmd_schedule(args: argparse.Namespace) -> int:
    from .loop import parse_every, schedule

    try:
        every = parse_every(args.every)
        cfg = _loop_config(args)
    except ValueError as exc:
        _say(f"codeward: {exc}")
        return 2
    schedule(cfg, every, args.min_new_events, max_runs=args.max_checks, say=_say)
    return 0


# -- model list / register / promote / rollback -----------------------------------------------

def cmd_model_list(args: argparse.Namespace) -> int:
    from . import registry as reg

    current = reg.current_version(args.registry or None)
    versions = reg.list_versions(args.registry or None)
    if args.json:
        print(json.dumps([{**asdict(v), "current": v.version == current} for v in versions],
                         indent=2))
        return 0
    print(f"registry: {reg.root_of(args.registry or None)}")
    for v in versions:
        gate = v.metrics.get("passed")
        print(f"{'*' if v.version == current else ' '} {v.version:<6} {v.created}  base="
              f"{v.base_version or '-':<6} dataset={v.dataset.get('id', '-'):<12} "
              f"gate={'-' if gate is None else ('pass' if gate else 'FAIL')}  {v.note}")
    return 0


def cmd_model_register(args: argparse.Namespace) -> int:
    from codeward.server.manifest import ModelError, read_manifest

    from . import registry as reg

    try:
        hf = Path(args.hf) if args.hf else Path(read_manifest(Path(args.model_dir)).source or "-")
        info = reg.add_version(args.registry or None, Path(args.model_dir),
                               hf_dir=hf if hf.is_dir() else None, version=args.version,
                               note="registered")
        if args.promote:
            reg.promote(args.registry or None, info.version, reason="register --promote")
    except (reg.RegistryError, ModelError) as exc:
        _say(f"codeward: {exc}")
        return 2
    print(info.version)
    return 0


def cmd_model_promote(args: argparse.Namespace) -> int:
    from . import registry as reg

    try:
        reg.promote(args.registry or None, args.version, reason="manual")
    except reg.RegistryError as exc:
        _say(f"codeward: {exc}")
        return 2
    print(f"promoted {args.version}")
    return 0


def cmd_model_rollback(args: argparse.Namespace) -> int:
    from . import registry as reg

    try:
        version = reg.rollback(args.registry or None, args.to)
    except reg.RegistryError as exc:
        _say(f"codeward: {exc}")
        return 2
    print(f"rolled back to {version}")
    return 0


# -- simulate ---------------------------------------------------------------------------------

def cmd_simulate(args: argparse.Namespace) -> int:
    from . import simreport

    reports = simreport.load([Path(p) for p in args.compare])
    if args.repo:
        from .simulate import SimConfig, simulate

        try:
            cfg = SimConfig(repo=args.repo, files=args.files, model=args.model,
                            registry=args.registry, events=args.events, label=args.label,
                            seed=args.seed, points_per_file=args.points_per_file,
                            max_files=args.max_files, candidates=args.candidates,
                            settings=json.loads(args.settings))
            report = simulate(cfg)
        except (ValueError, OSError) as exc:
            _say(f"codeward: {exc}")
            return 2
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=2), "utf-8")
        reports.append(report)
    if not reports:
        _say("codeward: give --repo to simulate or --compare REPORT... to compare")
        return 2
    print(simreport.table(reports))
    if args.html:
        print(f"plot: {simreport.write_html(reports, Path(args.html))}")
    return 0
