"""``codeward events export | delete | stats | purge``: the event store from the shell.

The store is ``--store URL`` or, by default, the one the project's settings name
(``[tool.codeward.events.store] url`` found from the current directory), else the user's
SQLite file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .config import EventSettings, parse, redact_url


def _settings() -> EventSettings:
    from codeward.server.settings import find_project_file, read_project_file

    project = find_project_file(Path.cwd())
    raw: dict[str, Any] = {}
    if project is not None:
        raw = read_project_file(project)[0].get("events", {}) or {}
    cfg, errors = parse(raw)
    for message in errors:
        print(f"codeward: {message}", file=sys.stderr)
    return cfg


def when(value: str) -> float:
    """``7`` / ``7d`` (days ago), ``12h`` (hours ago) or an ISO date/time -> epoch seconds."""
    text = value.strip().lower()
    try:
        if text.endswith("h"):
            return time.time() - float(text[:-1]) * 3600
        return time.time() - float(text.removesuffix("d")) * 86400
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected days (7, 7d), hours (12h) or an ISO date, got {value!r}") from None


def open_store_for(url: str | None) -> tuple[Any, EventSettings]:
    """The store at ``url``, else the one the project's settings name, else the user's."""
    from .store import open_store

    cfg = _settings()
    return open_store(url or cfg.store_url(), timeout_s=max(cfg.store.timeout_s, 10.0)), cfg


def _open(args: argparse.Namespace) -> tuple[Any, EventSettings]:
    return open_store_for(args.store)


def cmd_export(args: argparse.Namespace) -> int:
    store, _ = _open(args)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    n = 0
    try:
        for row in store.iter_events(args.since, after_seq=args.after_seq,
                                     types=args.type or None):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    finally:
        if args.out:
            out.close()
        store.close()
    print(f"exported {n} events", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from .ids import Hasher

    store, cfg = _open(args)
    hasher = Hasher.from_settings(cfg)
    repo_hash = args.repo_hash or (hasher.repo(str(Path(args.repo).resolve())) if args.repo
                                   else None)
    user_hash = args.user_hash or (hasher(args.user) if args.user else None)
    if args.repo and repo_hash is None:
        print(f"codeward: {args.repo} is not inside a repository or project", file=sys.stderr)
        return 2
    if args.older_than is None and repo_hash is None and user_hash is None and not args.all:
        print("codeward: say what to delete: --older-than, --repo, --user or --all",
              file=sys.stderr)
        return 2
    try:
        n = store.delete(before=args.older_than, repo_hash=repo_hash, user_hash=user_hash,
                         everything=args.all)
        if n:
            store.compact()
    finally:
        store.close()
    print(f"deleted {n} events from {redact_url(store.url)}", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .drift import drift
    from .outcomes import collect
    from .stats import summarize

    store, cfg = _open(args)
    try:
        summary = summarize(store.iter_events(args.since))
        drifts = drift(collect(store.iter_events(args.since), cfg.checkpoints).positions)
    finally:
        store.close()
    summary["drift"] = [{**d.as_dict(), "message": d.message()} for d in drifts]
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    head = ("language", "model", "served", "shown", "accepted", "rate", "partial", "dismissed",
            "acc.chars", "kept", "kept%", "p50ms")
    print("{:<10} {:<22} {:>7} {:>6} {:>8} {:>6} {:>7} {:>9} {:>9} {:>7} {:>6} {:>7}".format(*head))
    for g in [*summary["by_language_model"], {"language": "TOTAL", "model_version": "",
                                               **summary["total"]}]:
        rate = "-" if g["acceptance_rate"] is None else f"{g['acceptance_rate']:.1%}"
        kept = "-" if g["kept_rate"] is None else f"{g['kept_rate']:.0%}"
        print("{:<10} {:<22} {:>7} {:>6} {:>8} {:>6} {:>7} {:>9} {:>9} {:>7} {:>6} {:>7}".format(
            g["language"][:10], g["model_version"][:22], g["served"], g["shown"],
            g["accepted"], rate, g["partial_accepts"], g["dismissed"], g["accepted_chars"],
            g["kept_chars"], kept, g["latency_ms_p50"] if g["latency_ms_p50"] is not None else "-"))
    for d in drifts:
        print(("DRIFT: " if d.status == "drop" else "drift: ") + d.message())
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    store, cfg = _open(args)
    days = cfg.retention_days if args.retention_days is None else args.retention_days
    try:
        n = store.purge(days)
    finally:
        store.close()
    print(f"purged {n} events older than {days:g} days", file=sys.stderr)
    return 0


def _one_line_errors(func: Any) -> Any:
    """A store that cannot be opened (down, bad URL, missing folder) is one line on stderr
    and exit status 1, not a traceback."""
    def run(args: argparse.Namespace) -> int:
        from .base import StoreError

        try:
            return int(func(args) or 0)
        except StoreError as exc:
            print(f"codeward: {' '.join(str(exc).split())}", file=sys.stderr)
            return 1
    return run


def register(sub: Any, model_sub: Any) -> None:
    events = sub.add_parser("events", help="export, delete and summarise completion events")
    esub = events.add_subparsers(dest="events_command", required=True)

    def add(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        p = esub.add_parser(name, help=help)
        p.add_argument("--store", help="store URL (default: the project's or the user's store)")
        p.set_defaults(func=_one_line_errors(func))
        return p

    export = add("export", "write events as JSON lines", cmd_export)
    export.add_argument("--since", type=when, help="days (7), hours (12h) or ISO date")
    export.add_argument("--after-seq", type=int, default=0, help="resume after this seq")
    export.add_argument("--type", action="append",
                        choices=["completion", "show", "accept", "dismiss", "survival"],
                        help="only events of this type (repeat for several)")
    export.add_argument("-o", "--output", "--out", dest="out", metavar="FILE",
                        help="file to write (default: stdout)")

    delete = add("delete", "delete events by age, repository or user (then compact)",
                 cmd_delete)
    delete.add_argument("--older-than", type=when, metavar="AGE",
                        help="days (30), hours (12h) or ISO date")
    delete.add_argument("--repo", help="a path inside the repository whose events go")
    delete.add_argument("--repo-hash", help="the stored repository hash")
    delete.add_argument("--user", help="user name (hashed with this install's salt)")
    delete.add_argument("--user-hash", help="the stored user hash")
    delete.add_argument("--all", action="store_true", help="delete every event")

    stats = add("stats", "acceptance rate and kept characters by language and model",
                cmd_stats)
    stats.add_argument("--since", type=when,
                       help="only events since: days (7), hours (12h) or ISO date")
    stats.add_argument("--json", action="store_true", help="print the numbers as JSON on stdout")

    purge = add("purge", "apply the retention window now (delete old events, compact)",
                cmd_purge)
    purge.add_argument("--retention-days", type=float,
                       help="days to keep (default: the settings' events.retention_days)")
