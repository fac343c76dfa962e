"""``codeward vet`` and ``codeward license-index build``: parse arguments, call the code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any, model_sub: Any) -> None:
    vet = sub.add_parser("vet", help="vet a suggestion inserted at FILE:LINE:COL (1-based)")
    vet.add_argument("location", metavar="FILE:LINE:COL")
    vet.add_argument("--text", required=True, help="the suggestion (use $'...' for newlines)")
    vet.add_argument("--json", action="store_true", help="machine-readable output")
    vet.add_argument("--no-wait", action="store_true",
                     help="do not wait for the license index (status 'warming')")
    vet.set_defaults(func=cmd_vet)

    index = sub.add_parser("license-index", help="copied-code index")
    index_sub = index.add_subparsers(dest="index_command", required=True)
    build = index_sub.add_parser("build", help="fingerprint a reference corpus")
    build.add_argument("dirs", nargs="+", metavar="DIR")
    build.add_argument("--out", help="index file (default: the user data dir's "
                                     "copied-code.npz, which the analyzer uses)")
    build.add_argument("--skip-unlicensed", action="store_true",
                       help="leave out files whose license cannot be found")
    build.set_defaults(func=cmd_index_build)


def cmd_vet(args: argparse.Namespace) -> int:
    from codeward.server.cli import _parse_location
    from codeward.server.oneshot import LANGUAGES, offset_of
    from codeward.server.settings import SettingsResolver

    from .contract import VetContext
    from .pipeline import Pipeline

    file, line, col = _parse_location(args.location)
    text = file.read_text("utf-8") if file.exists() else ""
    offset = offset_of(text, line, col) if text else 0
    settings = SettingsResolver().for_path(file.resolve())
    # no editor is waiting: give cold starts (a new project's ruff server) time
    vetting = {**settings.vetting, "budget_ms": 30_000.0}
    pipeline = Pipeline.from_settings(settings.analyzers, vetting)
    try:
        if not args.no_wait:
            pipeline.wait_ready(120)
        result = pipeline.vet(VetContext(
            prefix=text[:offset], suggestion=args.text, suffix=text[offset:],
            uri=file.resolve().as_uri(), language=LANGUAGES.get(file.suffix, "python"),
            path=str(file.resolve()),
            settings={"analyzers": settings.analyzers, "vetting": vetting}))
    finally:
        pipeline.close()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"{result.action}  ({result.elapsed_ms:.1f} ms)")
        for f in result.findings:
            print(f"  line {f.line}: [{f.action}] {f.rule_id} {f.severity}/{f.confidence}: "
                  f"{f.message}  {f.reference}")
        if result.action == "fix":
            print("fixed text:")
            print(result.text)
    return {"allow": 0, "annotate": 0, "fix": 0}.get(result.action, 1)


def cmd_index_build(args: argparse.Namespace) -> int:
    from .copied import user_index_path
    from .winnow import build

    dirs = [Path(d) for d in args.dirs]
    missing = [str(d) for d in dirs if not d.exists()]
    if missing:
        print(f"codeward: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else user_index_path()
    index = build(dirs, skip_unlicensed=args.skip_unlicensed,
                  progress=lambda msg: print(msg, file=sys.stderr))
    index.save(out)
    print(json.dumps({"out": str(out), "files": len(index.files),
                      "fingerprints": int(len(index.passes["exact"][0]) +
                                          len(index.passes["renamed"][0])),
                      "bytes": out.stat().st_size}, indent=2))
    return 0
