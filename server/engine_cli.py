"""``codeward engine``: confirm (or withdraw) a remote engine URL that a project file
names, and check the configured remote engine."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any, model_sub: Any) -> None:
    engine = sub.add_parser("engine", help="the remote generation engine (trust, check)")
    esub = engine.add_subparsers(dest="engine_command", required=True)
    trust = esub.add_parser(
        "trust", help="allow project files to send completions to URL's host (stored in "
        "your user config, never in a project)")
    trust.add_argument("url", help="the engine URL, e.g. https://gpu-box:8000")
    trust.set_defaults(func=cmd_trust)
    untrust = esub.add_parser("untrust", help="withdraw a confirmation")
    untrust.add_argument("url", help="the engine URL or its origin")
    untrust.set_defaults(func=cmd_untrust)
    trusted = esub.add_parser("trusted", help="list the confirmed engine origins")
    trusted.add_argument("--json", action="store_true", help="print them as JSON on stdout")
    trusted.set_defaults(func=cmd_trusted)
    check = esub.add_parser("check", help="ask the remote engine configured for ROOT for one "
                            "short completion and say how long it took")
    check.add_argument("root", nargs="?", default=".", help="workspace folder (default: .)")
    check.set_defaults(func=cmd_check)


def cmd_trust(args: argparse.Namespace) -> int:
    from . import trust

    try:
        where = trust.trust(args.url)
    except ValueError as exc:
        sys.stderr.write(f"codeward engine trust: {exc}\n")
        return 2
    sys.stdout.write(f"trusted {where} (in {trust.trust_path()}); restart the language "
                     "server to use it\n")
    return 0


def cmd_untrust(args: argparse.Namespace) -> int:
    from . import trust

    try:
        removed = trust.untrust(args.url)
    except ValueError as exc:
        sys.stderr.write(f"codeward engine untrust: {exc}\n")
        return 2
    sys.stdout.write(("removed " if removed else "was not trusted: ") + trust.origin(args.url)
                     + "\n")
    return 0


def cmd_trusted(args: argparse.Namespace) -> int:
    from . import trust

    origins = trust.trusted()
    sys.stdout.write(json.dumps(origins) + "\n" if args.json else
                     "".join(o + "\n" for o in origins))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from . import models
    from .engine_api import GenerationRequest, PromptModel
    from .remote import RemoteEngine
    from .settings import SettingsResolver

    def report(message: str) -> None:
        sys.stderr.write(message + "\n")

    settings = SettingsResolver(report=report).for_path(Path(args.root).resolve())
    if settings.engine.backend != "openai":
        sys.stderr.write("codeward engine check: engine.backend is not 'openai' here\n")
        return 2
    prompt = PromptModel(models.resolve_model_dir(settings.model.path, settings.model.registry))
    remote = RemoteEngine(prompt, settings.engine)
    try:
        out = remote.generate(GenerationRequest(
            prompt=prompt.family.format("def add(a, b):\n    ", "\n"), max_new_tokens=16,
            single_line=True))
    finally:
        remote.close()
    if out.unavailable:
        sys.stderr.write(f"codeward engine check: {remote.url}: {out.unavailable}\n")
        return 1
    sys.stdout.write(json.dumps({"url": remote.url, "model": remote.model_name,
                                 "ms": round(out.elapsed_ms, 1), "text": out.texts[0],
                                 "logprobs": bool(out.logprobs and out.logprobs[0])}) + "\n")
    return 0
