"""``codeward report``: one self-contained HTML page about how Codeward is doing.

Reads the event store (``--store URL``: SQLite or PostgreSQL; default: the project's or the
user's store) and the model registry (``--registry DIR``; default: the user's registry),
aggregates (:mod:`.aggregate`), draws (:mod:`.plots`, needs the ``report`` extra:
matplotlib) and writes the page (:mod:`.render`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from codeward.server.commands import needs_extra
from codeward.server.events.cli import open_store_for, when

from .aggregate import MIN_USERS


def load_registry(root: str | None) -> dict[str, Any] | None:
    """Versions (as dicts), promotion history and current version, or None if no registry."""
    from dataclasses import asdict

    from codeward.server import registry as reg

    if not (reg.root_of(root or None) / "versions").is_dir():
        return None
    return {"versions": [asdict(v) for v in reg.list_versions(root or None)],
            "history": reg.history(root or None), "current": reg.current_version(root or None)}


def make_report(rows: Any, *, checkpoints: list[float], min_users: int = MIN_USERS,
                registry: dict[str, Any] | None = None, since: float | None = None,
                title: str = "Codeward report") -> str:
    from codeward.server.events.outcomes import collect

    from .aggregate import build
    from .render import render

    data = build(collect(rows, checkpoints), min_users=min_users, registry=registry,
                 since=since)
    return render(data, title=title)


def cmd_report(args: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        print(needs_extra("'codeward report'", exc), file=sys.stderr)
        return 2
    if args.min_users < 1:
        print("codeward: --min-users must be at least 1", file=sys.stderr)
        return 2
    store, cfg = open_store_for(args.store)
    try:
        page = make_report(store.iter_events(args.since), checkpoints=cfg.checkpoints,
                           min_users=args.min_users, registry=load_registry(args.registry),
                           since=args.since)
    finally:
        store.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, out)
    print(f"wrote {out} ({len(page) // 1024} KiB)", file=sys.stderr)
    return 0


def register(sub: Any, model_sub: Any) -> None:
    p = sub.add_parser("report", help="an HTML report: acceptance, kept characters, drift, "
                                      "latency, vetting, fine-tuning history")
    p.add_argument("--store", help="store URL (default: the project's or the user's store)")
    p.add_argument("--since", type=when, default=when("30d"),
                   help="days (30d, the default), hours (12h) or an ISO date")
    p.add_argument("--registry", default="", help="model registry (default: the user's)")
    p.add_argument("--min-users", type=int, default=MIN_USERS,
                   help=f"per-user views only with at least this many users ({MIN_USERS})")
    p.add_argument("-o", "--output", "--out", dest="out", required=True, metavar="FILE",
                   help="the HTML file to write")
    p.set_defaults(func=cmd_report)
