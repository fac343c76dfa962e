"""``codeward license-index build``: parse arguments, call the code. (``codeward vet`` is
one of the server's one-shot commands: ``codeward.server.oneshot``.)"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any, model_sub: Any) -> None:
    index = sub.add_parser("license-index", help="copied-code index")
    index_sub = index.add_subparsers(dest="index_command", required=True)
    build = index_sub.add_parser("build", help="fingerprint a reference corpus")
    build.add_argument("dirs", nargs="+", metavar="DIR", help="folders of reference code")
    build.add_argument("-o", "--output", "--out", dest="out", metavar="FILE",
                       help="index file (default: the user data dir's "
                                     "copied-code.npz, which the analyzer uses)")
    build.add_argument("--skip-unlicensed", action="store_true",
                       help="leave out files whose license cannot be found")
    build.set_defaults(func=cmd_index_build)


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
