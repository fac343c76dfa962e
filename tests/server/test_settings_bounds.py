"""Every numeric setting is bounded: a project's ``.codeward.toml`` arrives with ``git clone``
and must not be able to make completions hang or exhaust memory."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import pytest

from codeward.analyzers.contract import VettingConfig
from codeward.analyzers.pipeline import discover
from codeward.server.events.config import EventSettings, parse
from codeward.server.settings import Settings, SettingsResolver, merge


def _numeric_fields(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += _numeric_fields(tp, f"{prefix}{f.name}.")  # type: ignore[arg-type]
        elif tp in (int, float):
            out.append((prefix + f.name, f))
    return out


def _all_settings_classes() -> list[type]:
    classes: list[type] = [Settings, EventSettings, VettingConfig]
    for analyzer in discover().values():
        options = getattr(analyzer, "Options", None)
        if options is not None and dataclasses.is_dataclass(options):
            classes.append(options)
    return classes


def test_every_numeric_setting_has_bounds_that_include_its_default() -> None:
    unbounded = []
    for cls in _all_settings_classes():
        default = cls() if cls is not VettingConfig else VettingConfig()
        for name, f in _numeric_fields(cls):
            bounds = f.metadata.get("bounds")
            if bounds is None:
                unbounded.append(f"{cls.__name__}.{name}")
                continue
            value = default
            for part in name.split("."):
                value = getattr(value, part)
            assert bounds[0] <= value <= bounds[1], (cls.__name__, name, bounds, value)
    assert unbounded == []


@pytest.mark.parametrize(("section", "key", "value"), [
    ("engine", "max_new_tokens", 100_000_000),
    ("engine", "candidates", 64),
    ("engine", "inter_threads", 10_000),
    ("engine", "intra_threads", 0),
    ("engine", "single_line_max_tokens", -1),
    ("engine", "temperature", math.inf),
    ("engine", "temperature", math.nan),
    ("context", "max_prompt_tokens", 10**9),
    ("completion", "max_lines", 10**6),
])
def test_out_of_bounds_gets_one_message_and_the_default(section: str, key: str,
                                                        value: float) -> None:
    settings, errors = merge(Settings(), {section: {key: value}})
    assert getattr(getattr(settings, section), key) == getattr(getattr(Settings(), section), key)
    assert len(errors) == 1 and f"{section}.{key}" in errors[0] and "out of range" in errors[0]


def test_in_bounds_values_are_taken() -> None:
    settings, errors = merge(Settings(), {"engine": {"max_new_tokens": 2048, "candidates": 8}})
    assert errors == []
    assert settings.engine.max_new_tokens == 2048 and settings.engine.candidates == 8


def test_a_cloned_project_file_cannot_raise_the_limits(tmp_path: Path) -> None:
    (tmp_path / ".codeward.toml").write_text(
        "[engine]\nmax_new_tokens = 100000000\ncandidates = 64\n"
        "[vetting]\nbudget_ms = 1e12\n[events]\nqueue_size = 1000000000\n")
    messages: list[str] = []
    resolver = SettingsResolver(report=messages.append)
    settings = resolver.for_path(tmp_path / "a.py")
    assert settings.engine.max_new_tokens == 64 and settings.engine.candidates == 1
    assert sum("max_new_tokens" in m for m in messages) == 1
    vetting, errors = merge(VettingConfig(), settings.vetting)  # type: ignore[arg-type]
    assert vetting.budget_ms == VettingConfig().budget_ms and "out of range" in errors[0]
    events, errors = parse(settings.events)
    assert events.queue_size == EventSettings().queue_size and "out of range" in errors[0]


def test_a_huge_bad_value_is_cut_in_the_message() -> None:
    _, errors = merge(Settings(), {"engine": {"max_new_tokens": "x" * 100_000}})
    assert len(errors) == 1 and len(errors[0]) < 300
