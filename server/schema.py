"""The JSON Schema of Codeward's settings, generated from the settings dataclasses (their
types, defaults and field docstrings), for editors that validate and complete TOML (Even
Better TOML / taplo). ``codeward settings schema`` prints it; the checked-in copy is
``codeward-settings.schema.json`` (a test keeps it equal to what this module generates).

It describes a ``.codeward.toml`` (bare tables such as ``[engine]``, or the same tables
under ``[tool.codeward]``); ``pyproject.toml``'s ``[tool.codeward]`` takes the same tables.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import textwrap
import typing
from typing import Any

from codeward.analyzers.contract import VettingConfig
from codeward.analyzers.pipeline import BUILTINS, COMMON_KEYS, _load

from .events.config import EventSettings
from .settings import Settings

_SIMPLE = {bool: "boolean", int: "integer", float: "number", str: "string"}


def field_docs(cls: type) -> dict[str, str]:
    """The docstrings written under dataclass fields (``x: int = 1`` then ``\"\"\"...\"\"\"``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and \
                isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and \
                isinstance(nxt.value.value, str):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def type_schema(tp: Any) -> dict[str, Any]:
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    if dataclasses.is_dataclass(tp):
        return dataclass_schema(tp)  # type: ignore[arg-type]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return {"type": "array", "items": type_schema(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object"}
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return {"anyOf": [type_schema(a) for a in args if a is not type(None)]}
    return {}


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return dataclasses.MISSING
    if dataclasses.is_dataclass(value):
        return dataclasses.MISSING  # described by its own properties
    try:
        json.dumps(value)
    except TypeError:
        return dataclasses.MISSING
    return value


def dataclass_schema(cls: type, overrides: dict[str, dict[str, Any]] | None = None,
                     ) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    props: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        schema = dict((overrides or {}).get(f.name) or type_schema(hints[f.name]))
        default = _default(f)
        if default is not dataclasses.MISSING and "default" not in schema:
            schema["default"] = default
        if docs.get(f.name) and "description" not in schema:
            schema["description"] = docs[f.name]
        props[f.name] = schema
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
        out["description"] = " ".join(cls.__doc__.split())
    return out


def analyzers_schema() -> dict[str, Any]:
    props = {}
    for name, spec in BUILTINS.items():
        cls: Any = _load(spec)
        schema = dataclass_schema(cls.Options)
        schema["properties"] = {
            "enabled": {"type": "boolean", "default": True,
                        "description": "Run this analyzer. Turning off a security, secrets or "
                                       "license analyzer also needs acknowledge_disabled."},
            "acknowledge_disabled": {"type": "boolean", "default": False,
                                     "description": "Confirms enabled = false for a "
                                                    "security, secrets or license analyzer "
                                                    "(logged)."},
            **schema["properties"]}
        assert set(COMMON_KEYS) <= set(schema["properties"])
        schema["description"] = (cls.__doc__ or name).strip().split("\n")[0]
        props[name] = schema
    return {"type": "object", "properties": props,
            "additionalProperties": {"type": "object"},
            "description": "Per-analyzer tables, by analyzer name (third-party analyzers "
                           "registered as entry points too)."}


def settings_schema() -> dict[str, Any]:
    settings = dataclass_schema(Settings, {
        "analyzers": analyzers_schema(),
        "vetting": dataclass_schema(VettingConfig),
        "events": dataclass_schema(EventSettings),
    })
    settings["description"] = ("Codeward settings: a .codeward.toml's tables, or the tables "
                               "under pyproject.toml's [tool.codeward].")
    top = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "title": "Codeward settings (.codeward.toml)", **settings}
    top["properties"] = {**settings["properties"], "tool": {
        "type": "object", "description": "The same tables under [tool.codeward] (also "
                                         "accepted in .codeward.toml).",
        "properties": {"codeward": {"$ref": "#"}}}}
    return top


def render() -> str:
    return json.dumps(settings_schema(), indent=2, sort_keys=False) + "\n"
