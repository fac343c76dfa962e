"""Commands of ``codeward.finetune``: ``codeward model train-base`` and ``codeward eval``.

``register(sub, model_sub)`` is called by ``codeward.server.cli``. Each command has its own
``_register_*`` function so more commands can be appended below without touching these.
Heavy imports (torch, transformers) happen inside the command functions only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def register(sub, model_sub) -> None:  # type: ignore[no-untyped-def]
    _register_train_base(model_sub)
    _register_eval(sub)


# -- codeward model train-base ------------------------------------------------------------

def _register_train_base(model_sub) -> None:  # type: ignore[no-untyped-def]
    from .train_base import TrainConfig

    d = TrainConfig(out_dir="")
    p = model_sub.add_parser(
        "train-base", help="train the default code model (tokenizer + small Llama, FIM)",
        description="Train a byte-level BPE tokenizer and a small Llama causal LM with the "
        "fill-in-the-middle objective on local, permissively licensed Python source; write "
        "OUT/hf (Hugging Face) and OUT/ct2 (CTranslate2 int8 + manifest).")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--corpus", action="append", default=[], metavar="DIR",
                   help="train on these folders of .py files instead of the default corpus "
                        "(standard library + permissively licensed installed packages)")
    p.add_argument("--stdlib-only", action="store_true",
                   help="default corpus without installed packages")
    p.add_argument("--time-budget", type=float, default=0.0, metavar="MINUTES",
                   help="stop after this many minutes of training")
    p.add_argument("--max-tokens", type=float, default=0, help="stop after this many tokens")
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    p.add_argument("--no-convert", action="store_true", help="skip the CTranslate2 conversion")
    for name in ("vocab_size", "hidden", "layers", "heads", "kv_heads", "context", "batch_size",
                 "warmup_steps", "seed", "threads", "log_every"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lr", "fim_rate", "spm_rate", "heldout_share", "checkpoint_every_s",
                 "tokenizer_mb", "source_cap_mb"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--prompt-order", default=d.prompt_order, choices=["spm", "psm"],
                   help="FIM order the server prompts the model in (manifest fim_template)")
    p.add_argument("--name", default=d.name)
    p.add_argument("--version", default=d.version)
    p.set_defaults(func=cmd_train_base)


def cmd_train_base(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from .train_base import TrainConfig, train

    cfg = TrainConfig(
        out_dir=args.out, corpus_dirs=args.corpus, include_packages=not args.stdlib_only,
        time_budget_s=args.time_budget * 60, max_tokens=int(args.max_tokens),
        max_steps=args.max_steps, resume=args.resume, convert=not args.no_convert,
        device=args.device, prompt_order=args.prompt_order, name=args.name, version=args.version,
        **{k: getattr(args, k) for k in (
            "vocab_size", "hidden", "layers", "heads", "kv_heads", "context", "batch_size",
            "warmup_steps", "seed", "threads", "log_every", "lr", "fim_rate", "spm_rate",
            "heldout_share", "checkpoint_every_s", "tokenizer_mb", "source_cap_mb")},
    )
    try:
        report = train(cfg)
    except ValueError as exc:
        print(f"codeward: {exc}", file=sys.stderr)
        return 2
    keys = ("parameters", "tokens", "steps", "train_seconds", "tokens_per_second", "device",
            "first_loss", "final_train_loss", "heldout_loss", "ct2_dir")
    print(json.dumps({k: report.get(k) for k in keys}, indent=2))
    return 0


# -- codeward eval --------------------------------------------------------------------------

def _register_eval(sub) -> None:  # type: ignore[no-untyped-def]
    p = sub.add_parser(
        "eval", help="measure a converted model on held-out Python files",
        description="Pick seeded cursor positions (line ends and mid-line) in held-out Python "
        "files, build the server's real prompt, and report next-line exact match, edit "
        "similarity, accepted-prefix characters, empty rate and latency.")
    p.add_argument("--model", help="converted model directory (default: the served model)")
    p.add_argument("--corpus", action="append", default=[], metavar="DIR",
                   help="folder(s) of held-out .py files (default: the default corpus' "
                        "held-out split)")
    p.add_argument("--files", type=int, default=60, help="at most this many files")
    p.add_argument("--positions", type=int, default=300, help="cursor positions in all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heldout-share", type=float, default=0.02)
    p.add_argument("--vet", action="store_true",
                   help="also run the vetting pipeline (blocked suggestions count as empty; "
                        "its time counts in the latency); default: the model alone")
    p.add_argument("--json", metavar="OUT", help="write the metrics as JSON to OUT")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import EvalConfig, evaluate, format_table

    cfg = EvalConfig(model=args.model or "", corpus_dirs=args.corpus, files=args.files,
                     positions=args.positions, seed=args.seed,
                     heldout_share=args.heldout_share, vet=args.vet)
    try:
        report = evaluate(cfg)
    except (ValueError, OSError) as exc:
        print(f"codeward: {exc}", file=sys.stderr)
        return 2
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2), "utf-8")
    return 0
