"""Command-line options derived from the config dataclasses (as TRL derives its CLI).

A field's option name, type, default and help text all come from the field, so the CLI and
the config can never drift apart. Field ``metadata``:

``help`` (required for every option), ``flag`` (option strings instead of ``--field-name``),
``metavar``, ``choices``, ``type`` (a parser instead of the field's type, e.g. ``json.loads``),
``nargs="*"`` (a list given once, instead of a repeated option), and ``cli=False`` for fields
that are not options (internal or set by the command itself).

Booleans: default False gives ``--field-name`` (store true); default True gives
``--no-field-name`` (store false) unless ``flag`` names it otherwise; the help text of a
default-True boolean describes its flag (what turning it off does).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, text: str, **more: Any) -> Any:
    """A config field: its default, its help ``text`` and more metadata (see above). A list
    or dict default is copied for each instance."""
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata={"help": text, **more})
    return dataclasses.field(default=default, metadata={"help": text, **more})


def _int(value: str) -> int:
    """An integer, also written as ``2e6``."""
    try:
        return int(value)
    except ValueError:
        number = float(value)
        if not number.is_integer():
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        return int(number)


def option_fields(cls: type) -> Iterator[tuple[dataclasses.Field[Any], Any]]:
    """The fields of ``cls`` that are options, with their resolved types."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli", True):
            yield f, hints[f.name]


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def add_config_arguments(parser: argparse.ArgumentParser | Any, cls: type,
                         prefix: str = "") -> None:
    """One option per option field of ``cls``; values land in ``args.<prefix><field>``."""
    for f, hint in option_fields(cls):
        help_text = f.metadata.get("help")
        if not help_text:
            raise TypeError(f"{cls.__name__}.{f.name} has no metadata help text")
        default = _default(f)
        kw: dict[str, Any] = {"dest": prefix + f.name}
        for key in ("metavar", "choices", "type"):
            if key in f.metadata:
                kw[key] = f.metadata[key]
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        origin = typing.get_origin(hint)
        if hint is not bool and "choices" not in kw:
            kw.setdefault("metavar", f.name.upper())
        if hint is bool:
            if default is True and "flag" not in f.metadata:
                flag = "--no-" + f.name.replace("_", "-")
            kw.update(action="store_false" if default else "store_true", default=default)
        elif origin is list:
            if f.metadata.get("nargs") == "*":
                kw.update(nargs="*", default=default)
            else:
                kw.update(action="append", default=None)
            if default:
                help_text += f" (default: {' '.join(map(str, default))})"
        else:
            types = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
            kw.setdefault("type", _int if types[0] is int else types[0])
            if default is dataclasses.MISSING:
                kw["required"] = True
            else:
                kw["default"] = default
                if default not in (None, ""):
                    help_text += f" (default: {default})"
        flags = [flag] if isinstance(flag, str) else list(flag)
        parser.add_argument(*flags, help=help_text, **kw)


def config_from_args(cls: type[T], args: argparse.Namespace, prefix: str = "",
                     **values: Any) -> T:
    """``cls`` from the options ``add_config_arguments`` added (``values`` win); the config's
    own ``__post_init__`` validates the result."""
    for f, hint in option_fields(cls):
        if f.name in values:
            continue
        value = getattr(args, prefix + f.name)
        if value is None and typing.get_origin(hint) is list:
            value = _default(f)
        values[f.name] = value
    return cls(**values)
