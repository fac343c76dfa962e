"""Subcommands contributed by the other parts of Codeward (and by plugins).

One mechanism: the entry-point group ``codeward.commands`` (``pyproject.toml``). Each member
is a ``register(sub, model_sub)`` function adding its subparsers to ``codeward`` and to
``codeward model``. A member that cannot be imported because an optional extra is missing
never breaks ``codeward --help`` or ``codeward serve``: it is logged at debug level, and its
command, if invoked, says which extra to install.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

logger = logging.getLogger(__name__)

GROUP = "codeward.commands"

EXTRA_OF_MODULE = {
    "torch": "finetune", "transformers": "finetune", "trl": "finetune", "peft": "finetune",
    "accelerate": "finetune", "datasets": "finetune",
    "licensedcode": "license", "scancode": "license", "psycopg": "postgres",
    "matplotlib": "report",
}
"""Top-level module -> the extra that installs it."""

CPU_TORCH = "--extra-index-url https://download.pytorch.org/whl/cpu"


def missing_extra(exc: BaseException) -> str | None:
    """The extra whose absence caused ``exc`` (a ModuleNotFoundError), if it is one of ours."""
    name = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    return EXTRA_OF_MODULE.get((name or "").split(".", 1)[0])


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` (with the CPU build of torch for ``finetune``)."""
    hint = f"pip install 'codeward[{extra}]'"
    if extra == "finetune":
        hint += f" (CPU-only torch: add {CPU_TORCH})"
    return hint


def needs_extra(what: str, exc: BaseException) -> str:
    """One line for a user whose command failed on a missing optional dependency."""
    extra = missing_extra(exc)
    missing = getattr(exc, "name", None) or str(exc)
    if extra is None:
        return f"codeward: {what} cannot run: {missing} is not installed"
    return (f"codeward: {what} needs the '{extra}' extra ({missing} is not installed): "
            f"{install_hint(extra)}")


BUILTINS = {
    "license-index": "codeward.analyzers.cli:register",
    "events": "codeward.server.events.cli:register",
    "engine": "codeward.server.engine_cli:register",
    "report": "codeward.server.report.cli:register",
    "index": "codeward.server.index.cli:register",
    "finetune": "codeward.finetune.cli:register",
}
"""The built-in members (as in ``pyproject.toml``; a test keeps the two equal), used only
when the installed metadata predates them (an editable install not re-installed)."""


def load_commands(sub: Any, model_sub: Any) -> list[str]:
    """Call every member's ``register(sub, model_sub)``; returns the names that loaded."""
    members = list(entry_points(group=GROUP))
    stale = [EntryPoint(name, value, GROUP) for name, value in BUILTINS.items()
             if name not in {ep.name for ep in members}]
    if stale:
        logger.error("commands %s are not registered as %s entry points (re-run "
                     "'pip install -e .'); loading them from their known modules",
                     ", ".join(ep.name for ep in stale), GROUP)
    loaded = []
    members = sorted([*members, *stale], key=lambda ep: ep.name)
    for ep in members:
        try:
            register: Callable[[Any, Any], None] = ep.load()
        except ImportError as exc:
            logger.debug("command group %s unavailable: %s", ep.name, exc, exc_info=True)
            _add_unavailable(sub, ep, exc)
            continue
        register(sub, model_sub)
        loaded.append(ep.name)
    return loaded


def _add_unavailable(sub: Any, ep: EntryPoint, exc: ImportError) -> None:
    message = needs_extra(f"'codeward {ep.name}'", exc)

    def fail(args: argparse.Namespace) -> int:
        sys.stderr.write(message + "\n")
        return 2

    extra = missing_extra(exc)
    why = f"pip install 'codeward[{extra}]'" if extra else f"{exc}"
    try:
        # no option prefix: every argument (--help too) lands in ``args``, and the command
        # says what to install
        p = sub.add_parser(ep.name, help=f"(unavailable: {why})", parents=[], add_help=False,
                           prefix_chars="\0")
    except argparse.ArgumentError:  # a loaded member already has a command of that name
        return
    p.add_argument("args", nargs="*", help="ignored")
    p.set_defaults(func=fail)
