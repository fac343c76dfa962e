"""``codeward index build|status|clear``: the project index's cache from the command line."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any


def register(sub: Any, model_sub: Any) -> None:
    index = sub.add_parser("index", help="the project index (completions from your code)")
    isub = index.add_subparsers(dest="index_command", required=True)
    build = isub.add_parser("build", help="index a workspace now (and cache it)")
    build.add_argument("root", nargs="?", default=".", help="workspace folder (default: .)")
    build.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    build.set_defaults(func=cmd_build)
    status = isub.add_parser("status", help="what is cached, and whether ROOT is up to date")
    status.add_argument("root", nargs="?", help="also check this workspace")
    status.add_argument("--json", action="store_true", help="print the status as JSON on stdout")
    status.set_defaults(func=cmd_status)
    clear = isub.add_parser("clear", help="delete every cached index segment")
    clear.set_defaults(func=cmd_clear)


def _settings(root: Path) -> Any:
    from ..settings import SettingsResolver

    return SettingsResolver().for_path(root)


def cmd_build(args: argparse.Namespace) -> int:
    from . import ProjectIndex

    root = Path(args.root).resolve()
    if not root.is_dir():
        print(f"codeward index build: {root} is not a folder")
        return 2
    s = _settings(root)
    report = ProjectIndex(s.index).build_workspace(root, s.context.exclude)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items())) or "none"
        print(f"{root}: {report.files} files, {report.tokens:,} tokens in "
              f"{report.seconds:.1f} s ({'from the cache' if report.cached else 'built'}); "
              f"skipped: {skipped}")
    return 0


def _cached_files() -> list[dict[str, Any]]:
    from .persist import cache_root

    folder = cache_root()
    return [{"file": str(f), "bytes": f.stat().st_size,
             "modified": time.strftime("%Y-%m-%d %H:%M", time.localtime(f.stat().st_mtime))}
            for f in sorted(folder.glob("*.npz"))] if folder.is_dir() else []


def cmd_status(args: argparse.Namespace) -> int:
    from . import persist, sources

    out: dict[str, Any] = {"cache": str(persist.cache_root()), "segments": _cached_files()}
    if args.root:
        root = Path(args.root).resolve()
        s = _settings(root)
        walk = sources.walk_workspace(root, s.context.exclude, s.index.max_file_bytes,
                                      s.index.max_files, sources.project_license(root))
        key = _workspace_key(walk.docs, root)
        out["workspace"] = {"root": str(root), "files": len(walk.docs),
                            "up_to_date": (persist.cache_root() / f"{key}.npz").is_file()}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"cache: {out['cache']} ({len(out['segments'])} segments, "
          f"{sum(x['bytes'] for x in out['segments']) / 1e6:.1f} MB)")
    for seg in out["segments"]:
        print(f"  {Path(seg['file']).name}  {seg['bytes'] / 1e6:.1f} MB  {seg['modified']}")
    if "workspace" in out:
        ws = out["workspace"]
        print(f"{ws['root']}: {ws['files']} files, "
              f"{'cached' if ws['up_to_date'] else 'not cached (run codeward index build)'}")
    return 0


def _workspace_key(docs: list[Any], root: Path) -> str:
    """The cache key ``ProjectIndex.build_workspace`` would use for these files."""
    from . import persist, secretfilter
    from .lexer import normalize
    from .model import SourceDoc

    texts = [SourceDoc(d.path, normalize(d.text), d.source, d.license, d.own) for d in docs]
    return persist.content_key(texts, f"workspace:{root}", secretfilter.fingerprint())


def cmd_clear(args: argparse.Namespace) -> int:
    from .persist import cache_root, clear

    print(f"removed {clear()} cached segments from {cache_root()}")
    return 0
