"""The commands of ``codeward.finetune`` (entry point ``codeward.commands: finetune``):

``codeward model train-base|convert|list|register|promote|rollback``, ``codeward eval``,
``codeward finetune dataset|train|evaluate|run|schedule`` and ``codeward simulate``.

Options of a config come from its dataclass (:mod:`.flags`); this module parses, calls into
the code and prints. Importing it imports no torch: a command that needs the ``finetune``
extra says so (and how to install it) instead of a traceback.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from codeward.server.commands import missing_extra, needs_extra
from codeward.server.manifest import ModelError
from codeward.server.registry import RegistryError

from . import repo_report
from .convert import ConversionError
from .dataset import DatasetConfig
from .evaluate import EvalConfig
from .flags import add_config_arguments, config_from_args
from .gate import GateConfig
from .loop import LoopConfig
from .showpolicy import PolicyConfig
from .simulate import SimConfig
from .train import NotEnoughData, TrainConfig
from .train_base import PretrainConfig

Command = Callable[[argparse.Namespace], int]
TORCH_STACK = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")
USER_ERRORS = (ValueError, OSError, RuntimeError, RegistryError, ModelError, ConversionError,
               NotEnoughData)
"""Bad input, a missing file, a refused model: one line ``codeward: ...`` and exit code 2."""


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _command(p: argparse.ArgumentParser, func: Command, needs: tuple[str, ...] = ()) -> None:
    """``func`` runs the subcommand; modules of ``needs`` are checked before it starts. A
    missing optional dependency becomes one line naming the extra to install, a user error
    (USER_ERRORS) one line with its message."""
    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            for module in needs:
                if importlib.util.find_spec(module) is None:
                    raise ModuleNotFoundError(f"No module named {module!r}", name=module)
            return func(args)
        except ModuleNotFoundError as exc:
            if missing_extra(exc) is None:
                raise
            _say(needs_extra(f"'{p.prog}'", exc))
            return 2
        except USER_ERRORS as exc:
            _say(f"codeward: {exc}")
            return 2

    p.set_defaults(func=run)


def _output(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout")
    p.add_argument("-o", "--output", metavar="FILE", help=f"also write {what} as JSON to FILE")


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    as_json = json.dumps(data, indent=2, default=str)
    print(as_json if args.json else text)
    if args.output:
        Path(args.output).write_text(as_json + "\n", "utf-8")


def _registry(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", default="", metavar="DIR",
                   help="registry directory (default: the user data dir)")


def register(sub: Any, model_sub: Any) -> None:
    _register_model(model_sub)
    p = sub.add_parser("eval", help="measure a converted model on held-out Python files",
                       description="Pick seeded cursor positions (line ends and mid-line) in "
                       "held-out Python files, build the server's real prompt, and report "
                       "next-line exact match, edit similarity, accepted-prefix characters, "
                       "empty rate and latency. Repository mode (--repo, --package, --heldout, "
                       "--tuning): the same positions in a real repository's files with the "
                       "rest of it as the workspace, per source (model, project index), gated "
                       "and combined.")
    add_config_arguments(p, EvalConfig)
    repo_report.add_arguments(p)
    _output(p, "the metrics")
    _command(p, cmd_eval)

    ft = sub.add_parser("finetune", help="preference fine-tuning from acceptance logs")
    ft_sub = sub.add_subparsers(ft, dest="finetune_command", required=True)
    p = ft_sub.add_parser("dataset", help="events -> DPO pairs + KTO rows (with provenance)")
    p.add_argument("--events", default="", metavar="SOURCE",
                   help=LoopConfig.__dataclass_fields__["events"].metadata["help"])
    add_config_arguments(p, DatasetConfig, "dataset_")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _command(p, cmd_dataset)
    p = ft_sub.add_parser("train", help="DPO/KTO + LoRA, merge; optionally convert")
    p.add_argument("--hf", required=True, metavar="DIR", help="Hugging Face checkpoint to "
                                                              "start from")
    p.add_argument("--dataset", required=True, metavar="DIR",
                   help="folder written by 'finetune dataset'")
    p.add_argument("--out", required=True, metavar="DIR", help="merged checkpoint goes to "
                                                               "OUT/hf, the adapter to "
                                                               "OUT/adapter")
    p.add_argument("--convert", action="store_true", help="also convert to OUT/model")
    add_config_arguments(p, TrainConfig, "train_")
    _command(p, cmd_train, TORCH_STACK)
    p = ft_sub.add_parser("evaluate", help="the promotion gate: candidate vs serving model")
    for who, what in (("baseline", "the serving model"), ("candidate", "the new model")):
        p.add_argument(f"--{who}", required=True, metavar="DIR", help=f"{what} (converted)")
        p.add_argument(f"--{who}-hf", default="", metavar="DIR",
                       help="its Hugging Face checkpoint (for the preference margin)")
    p.add_argument("--dataset", default="", metavar="DIR",
                   help="dataset folder (its held-out pairs and accepted suggestions)")
    add_config_arguments(p, GateConfig, "gate_")
    _output(p, "the gate's report")
    _command(p, cmd_evaluate, TORCH_STACK)
    p = ft_sub.add_parser("run", help="dataset, train, convert, gate, promote: one cycle")
    _run_arguments(p)
    _output(p, "the cycle's result")
    _command(p, cmd_run, TORCH_STACK)
    p = ft_sub.add_parser("schedule", help="run cycles periodically")
    _run_arguments(p)
    p.add_argument("--every", default="24h", help="check interval: 24h, 30m, 90s, 2d "
                                                  "(default: 24h)")
    p.add_argument("--min-new-events", type=int, default=200,
                   help="completion events since the last cycle needed to run one "
                        "(default: 200)")
    p.add_argument("--max-checks", type=int, default=None, help="stop after N checks")
    _command(p, cmd_schedule, TORCH_STACK)

    p = sub.add_parser("simulate", help="a simulated developer typing files into a real "
                                        "codeward serve over LSP")
    add_config_arguments(p, SimConfig, "sim_")
    p.add_argument("-o", "--output", "--out", metavar="FILE", dest="output",
                   help="write the report as JSON to FILE")
    p.add_argument("--compare", nargs="*", default=[], metavar="REPORT",
                   help="also compare with these report JSON files (alone: without --repo)")
    p.add_argument("--html", default="", metavar="FILE",
                   help="write an HTML/SVG plot of the reports to FILE")
    _command(p, cmd_simulate)


def _register_model(model_sub: Any) -> None:
    p = model_sub.add_parser(
        "train-base", help="train the default code model (tokenizer + small Llama, FIM)",
        description="Train a byte-level BPE tokenizer and a small Llama causal LM with the "
        "fill-in-the-middle objective on local, permissively licensed Python source; write "
        "OUT/hf (Hugging Face) and OUT/ct2 (CTranslate2 int8 + manifest).")
    add_config_arguments(p, PretrainConfig)
    _command(p, cmd_train_base, ("torch", "transformers"))
    p = model_sub.add_parser("convert", help="convert a Hugging Face checkpoint")
    p.add_argument("hf_dir", help="Hugging Face checkpoint folder (config.json, tokenizer.json)")
    p.add_argument("out_dir", help="output folder for the CTranslate2 model and its manifest")
    p.add_argument("--quantization", default="int8",
                   help="int8 (default), int8_float32, int16, float16, bfloat16, float32")
    p.add_argument("--family", help="FIM family, if it cannot be detected")
    p.add_argument("--name", help="model name in the manifest (default: the folder's name)")
    p.add_argument("--version", help="model version in the manifest (default: 1)")
    p.add_argument("--force", action="store_true", help="replace OUT_DIR")
    _command(p, cmd_convert, ("torch", "transformers"))
    p = model_sub.add_parser("list", help="versions in the model registry")
    _registry(p)
    p.add_argument("--json", action="store_true", help="print the versions as JSON on stdout")
    _command(p, cmd_model_list)
    p = model_sub.add_parser("register", help="add a converted model to the registry")
    p.add_argument("model_dir", help="converted model folder (codeward model convert)")
    p.add_argument("--hf", default="", metavar="DIR",
                   help="its Hugging Face checkpoint (default: the manifest's source)")
    _registry(p)
    p.add_argument("--version", default=None, help="version name (default: the next vN)")
    p.add_argument("--promote", action="store_true", help="make it current")
    _command(p, cmd_model_register)
    p = model_sub.add_parser(
        "promote", help="make a registered version current (here, or on a vLLM server)",
        description="Without --to: switch the registry's pointer (running codeward serve "
        "picks it up). With --to URL: load the version's LoRA adapter into the vLLM server "
        "at URL (--to or --server) under --name, which language servers with backend = "
        "\"openai\" ask for.")
    p.add_argument("version", help="a version of 'codeward model list'")
    _registry(p)
    _remote_arguments(p)
    p.add_argument("--force", action="store_true",
                   help="with --to: also a version the promotion gate refused")
    _command(p, cmd_model_promote)
    p = model_sub.add_parser("rollback", help="go back to the previously promoted version")
    p.add_argument("--to", dest="to_version", default=None, metavar="VERSION",
                   help="this version instead of the previous one")
    _registry(p)
    _remote_arguments(p)
    _command(p, cmd_model_rollback)
    p = model_sub.add_parser(
        "export", help="write a version's merged checkpoint and LoRA adapter for a remote "
                       "engine", description="DIR/merged (Hugging Face checkpoint), "
        "DIR/adapter (PEFT LoRA on the --against version's checkpoint; adapters of the "
        "versions in between are joined exactly) and DIR/codeward-export.json (lineage, FIM "
        "format, checksums).")
    p.add_argument("version", help="a version of 'codeward model list'")
    p.add_argument("--to", required=True, metavar="DIR", help="a new folder")
    p.add_argument("--against", default=None, metavar="VERSION",
                   help="the adapter applies on this version's checkpoint (default: the "
                        "version's base version)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--merged-only", action="store_true", help="only the merged checkpoint")
    what.add_argument("--adapter-only", action="store_true", help="only the adapter")
    _registry(p)
    _command(p, cmd_model_export)


def _remote_arguments(p: argparse.ArgumentParser) -> None:
    from .remote_promote import Target

    names = ["--server", "--to"] if p.prog.endswith("promote") else ["--server"]
    p.add_argument(*names, dest="url", default="", metavar="URL",
                   help="a vLLM server (started with --enable-lora and "
                        "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True): load the adapter there")
    p.add_argument("--name", default=Target.name, help="the adapter name the language servers "
                   f"ask for (engine model setting; default: {Target.name})")
    p.add_argument("--base", default="", metavar="VERSION",
                   help="the version the server serves as its base model (default: the one "
                        "recorded at the last promotion to URL, else the version's base)")
    p.add_argument("--server-path", default="", metavar="PATH",
                   help="where the server sees the exported adapter ({version} is replaced; "
                        "default: the local export path)")
    p.add_argument("--api-key-env", default=Target.api_key_env, metavar="VAR",
                   help="environment variable holding the server's API key (default: "
                        f"{Target.api_key_env})")


def _run_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, LoopConfig, "loop_")
    add_config_arguments(p, DatasetConfig, "dataset_")
    add_config_arguments(p, GateConfig, "gate_")
    add_config_arguments(p, TrainConfig, "train_")
    add_config_arguments(p, PolicyConfig, "policy_")


def _loop_config(args: argparse.Namespace) -> LoopConfig:
    return config_from_args(LoopConfig, args, "loop_",
                            dataset=config_from_args(DatasetConfig, args, "dataset_"),
                            train=config_from_args(TrainConfig, args, "train_"),
                            gate=config_from_args(GateConfig, args, "gate_"),
                            policy=config_from_args(PolicyConfig, args, "policy_"))


# -- model ------------------------------------------------------------------------------------

def cmd_train_base(args: argparse.Namespace) -> int:
    from .train import offline
    from .train_base import train

    offline()
    report = train(config_from_args(PretrainConfig, args))
    keys = ("parameters", "tokens", "steps", "train_seconds", "tokens_per_second", "device",
            "first_loss", "final_train_loss", "heldout_loss", "ct2_dir")
    print(json.dumps({k: report.get(k) for k in keys}, indent=2))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    manifest = convert(Path(args.hf_dir), Path(args.out_dir), quantization=args.quantization,
                       family=args.family, name=args.name, version=args.version,
                       force=args.force, progress=_say)
    print(json.dumps({"out_dir": args.out_dir, "family": manifest.family,
                      "quantization": manifest.quantization}, indent=2))
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    from . import registry as reg

    current = reg.current_version(args.registry or None)
    versions = reg.list_versions(args.registry or None)
    if args.json:
        print(json.dumps([{**asdict(v), "current": v.version == current} for v in versions],
                         indent=2))
        return 0
    print(f"registry: {reg.root_of(args.registry or None)}")
    if not versions:
        from codeward.server.models import default_model_dir

        shipped = default_model_dir()
        print("no versions yet: codeward serve serves "
              + (f"the shipped model ({shipped})" if shipped else "the model you configure")
              + " until one is promoted.\n"
              "  codeward finetune run [--events SOURCE]      registers the shipped model as "
              "the first version and fine-tunes it from your events\n"
              "  codeward model register MODEL_DIR --promote  registers a converted model of "
              "your own")
    for v in versions:
        gate = v.metrics.get("passed")
        print(f"{'*' if v.version == current else ' '} {v.version:<6} {v.created}  base="
              f"{v.base_version or '-':<6} dataset={v.dataset.get('id', '-'):<12} "
              f"gate={'-' if gate is None else ('pass' if gate else 'FAIL')}  {v.note}")
    return 0


def cmd_model_register(args: argparse.Namespace) -> int:
    from codeward.server.manifest import read_manifest

    from . import registry as reg

    hf = Path(args.hf) if args.hf else Path(read_manifest(Path(args.model_dir)).source or "-")
    info = reg.add_version(args.registry or None, Path(args.model_dir),
                           hf_dir=hf if hf.is_dir() else None, version=args.version,
                           note="registered")
    if args.promote:
        reg.promote(args.registry or None, info.version, reason="register --promote")
    print(info.version)
    return 0


def _target(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .remote_promote import Target

    return Target(url=args.url, name=args.name, base=args.base, server_path=args.server_path,
                  api_key_env=args.api_key_env)


def cmd_model_promote(args: argparse.Namespace) -> int:
    from . import registry as reg

    if args.url:
        from .remote_promote import promote_remote

        gate = reg.load_version(args.registry or None, args.version).metrics.get("passed")
        if gate is False and not args.force:
            raise RegistryError(f"the promotion gate refused {args.version}; pass --force to "
                                "load it anyway")
        done = promote_remote(args.registry or None, args.version, _target(args))
        print(json.dumps(done, indent=2))
        return 0
    reg.promote(args.registry or None, args.version, reason="manual")
    print(f"promoted {args.version}")
    return 0


def cmd_model_rollback(args: argparse.Namespace) -> int:
    from . import registry as reg

    if args.url:
        from .remote_promote import rollback_remote

        print(json.dumps(rollback_remote(args.registry or None, _target(args),
                                         args.to_version), indent=2))
        return 0
    version = reg.rollback(args.registry or None, args.to_version)
    print(f"rolled back to {version}")
    return 0


def cmd_model_export(args: argparse.Namespace) -> int:
    from .export import export

    data = export(args.registry or None, args.version, Path(args.to), against=args.against,
                  merged=not args.adapter_only, adapter=not args.merged_only)
    print(json.dumps({k: data.get(k) for k in ("version", "base_version", "merged",
                                               "adapter")}, indent=2))
    return 0


# -- eval, finetune ---------------------------------------------------------------------------

def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import format_table, measure_completions

    cfg = config_from_args(EvalConfig, args)
    if repo_report.wants_repo_mode(args):
        data, text = repo_report.run(args, cfg)
        _emit(args, data, text)
        return 0
    report = measure_completions(cfg)
    _emit(args, report, format_table(report))
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    from codeward.server.events.config import redact_url

    from .dataset import build, event_source, iter_events, write

    cfg = config_from_args(DatasetConfig, args, "dataset_")
    source = event_source(args.events)
    events = list(iter_events(source))
    splits, report = build(events, cfg)
    last = max((float(e.get("at") or 0) for e in events), default=0.0)
    out = write(Path(args.out), splits, report, cfg, redact_url(source), len(events), last)
    print(report.table())
    print(f"written to {out} ({len(events)} events read)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    cfg = config_from_args(TrainConfig, args, "train_")
    result = train(Path(args.hf), Path(args.dataset), Path(args.out) / "hf", cfg,
                   adapter_dir=Path(args.out) / "adapter")
    if args.convert:
        from .convert import convert

        convert(Path(args.out) / "hf", Path(args.out) / "model", force=True, progress=_say)
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .gate import gate_candidate

    def opt(path: str) -> Path | None:
        return Path(path) if path else None

    cfg = config_from_args(GateConfig, args, "gate_")
    report = gate_candidate(Path(args.baseline), opt(args.baseline_hf), Path(args.candidate),
                            opt(args.candidate_hf), opt(args.dataset), cfg)
    _emit(args, report.to_dict(), report.table())
    return 0 if report.passed else 1


def cmd_run(args: argparse.Namespace) -> int:
    from .loop import run

    result = run(_loop_config(args), say=_say)
    summary = {k: result.get(k) for k in ("status", "version", "base_version", "timings")}
    summary["policy"] = {k: v for k, v in (result.get("policy") or {}).items()
                         if k in ("status", "version", "reason")}
    _emit(args, result, json.dumps(summary, indent=2))
    return 0 if result["status"] in ("promoted", "registered", "skipped") else 1


def cmd_schedule(args: argparse.Namespace) -> int:
    from .dataset import event_source
    from .loop import parse_every, schedule

    every = parse_every(args.every)
    cfg = _loop_config(args)
    event_source(cfg.events)  # no store yet: say so now, not at every check
    schedule(cfg, every, args.min_new_events, max_runs=args.max_checks, say=_say)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from . import simreport

    reports = simreport.load([Path(p) for p in args.compare])
    if args.sim_repo:
        from .simulate import simulate

        report = simulate(config_from_args(SimConfig, args, "sim_"))
        if args.output:
            Path(args.output).write_text(json.dumps(report, indent=2), "utf-8")
        reports.append(report)
    if not reports:
        _say("codeward: give --repo to simulate or --compare REPORT... to compare")
        return 2
    print(simreport.table(reports))
    if args.html:
        print(f"plot: {simreport.write_html(reports, Path(args.html))}")
    return 0
