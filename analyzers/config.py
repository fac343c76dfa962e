"""Typed configuration from raw tables: the one merge every settings section goes through
(the server's settings, the event settings, the vetting config, each analyzer's Options).

A bad value never raises: :func:`merge_into` keeps the earlier value for that one field and
adds a message that names the field and says what was expected. A dataclass with a
``validate() -> list[str]`` method is validated after the merge; if it reports problems
the whole section keeps its previous values.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


@runtime_checkable
class Validating(Protocol):
    """A settings dataclass that checks itself after a merge: messages name the field."""

    def validate(self) -> list[str]: ...


def check(value: Any, tp: Any) -> Any:
    """Return ``value`` as type ``tp`` or raise TypeError with what was expected."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        raise TypeError("expected " + " or ".join(repr(c) for c in choices))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise TypeError("expected true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError("expected an integer")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise TypeError("expected a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise TypeError("expected a string")
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise TypeError("expected a list")
        return [check(v, item_tp) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError("expected a table")
        _, val_tp = typing.get_args(tp)
        return {str(k): check(v, val_tp) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return check(value, arg)
            except TypeError:
                continue
        raise TypeError(f"expected {tp}")
    raise TypeError(f"unsupported setting type {tp}")


def bounded(default: Any, lo: float, hi: float) -> Any:
    """A numeric setting with its allowed range (inclusive). A value outside it gets one
    message and keeps the previous value: a project file arrives with ``git clone`` and must
    not be able to make completions hang (``max_new_tokens = 100000000``)."""
    return dataclasses.field(default=default, metadata={"bounds": (lo, hi)})


def _short(value: Any, limit: int = 60) -> str:
    """A bad value for a message: its repr, cut (settings can hold anything a client sends)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def merge_into(obj: T, data: Any, path: str, errors: list[str]) -> T:
    """``data`` (a raw table) over the dataclass ``obj``; messages go to ``errors``."""
    if not isinstance(data, dict):
        errors.append(f"{path or 'settings'}: expected a table, got {type(data).__name__}")
        return obj
    assert dataclasses.is_dataclass(obj) and not isinstance(obj, type)
    hints = typing.get_type_hints(type(obj))
    fields = {f.name: f for f in dataclasses.fields(obj)}
    names = set(fields)
    updates: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        where = f"{path}.{key}" if path else str(key)
        if name not in names:
            errors.append(f"{where}: unknown setting (ignored)")
            continue
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            updates[name] = merge_into(current, value, where, errors)
            continue
        try:
            checked = check(value, hints[name])
        except TypeError as exc:
            errors.append(f"{where}: {exc}, got {_short(value)}; keeping {current!r}")
            continue
        bounds = fields[name].metadata.get("bounds")
        if bounds is not None and not bounds[0] <= checked <= bounds[1]:
            errors.append(f"{where}: {_short(value)} is out of range ({bounds[0]} to "
                          f"{bounds[1]}); keeping {current!r}")
            continue
        if isinstance(current, dict) and isinstance(checked, dict):
            checked = deep_merge(current, checked)
        updates[name] = checked
    merged = dataclasses.replace(obj, **updates)
    if isinstance(merged, Validating):
        problems = merged.validate()
        if problems:
            errors.extend(f"{p}; keeping the previous values of this section" for p in problems)
            return obj
    return merged


def merge(obj: T, data: Any, path: str = "") -> tuple[T, list[str]]:
    """:func:`merge_into` returning the messages (``None`` data changes nothing)."""
    errors: list[str] = []
    if data is None:
        return obj, errors
    return merge_into(obj, data, path, errors), errors


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, tables merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
