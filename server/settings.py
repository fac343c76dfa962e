"""Settings: nested, fully defaulted dataclasses.

Sources, later ones win: defaults in code < the editor's initializationOptions and
workspace/didChangeConfiguration < the project's ``[tool.codeward]`` table in
``pyproject.toml`` or its ``.codeward.toml`` (found from the document's path upward).

A bad value never raises: :func:`merge` (over ``codeward.analyzers.config``) keeps the default (or the earlier source's value)
for that one field and returns a message that names the field and says what was expected.
"""

from __future__ import annotations

import logging
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeward.analyzers.config import merge_into

logger = logging.getLogger(__name__)

PROJECT_FILES = (".codeward.toml", "pyproject.toml")


@dataclass
class ModelSettings:
    path: str = ""
    """Directory of a converted model (``codeward model convert``); empty = the registry's
    promoted model, else the shipped default model."""
    registry: str = ""
    """Model registry directory (``codeward model list``); empty = the user data dir."""
    watch_interval: float = 2.0
    """Seconds between checks of the registry for a newly promoted model (0 = never)."""


@dataclass
class EngineSettings:
    device: str = "cpu"
    """``cpu``, ``cuda`` or ``auto``."""
    compute_type: str = "int8"
    """CTranslate2 compute type: int8, int8_float32, float32, float16, bfloat16, ..."""
    inter_threads: int = 2
    """Generations that run side by side (one intra-op thread each is best on small models)."""
    intra_threads: int = 1
    max_queue: int = 8
    """Requests waiting or running at once; past this a request is answered empty at once."""
    max_new_tokens: int = 64
    single_line_max_tokens: int = 32
    candidates: int = 1
    """Candidates per request: the first is greedy, the rest sampled."""
    temperature: float = 0.8
    seed: int = 0
    prompt_cache: bool = True
    """Cache the model state of the prompt's stable head (the file above the cursor's
    neighbourhood) across keystrokes."""
    prompt_cache_entries: int = 4
    """Distinct cached heads kept (each costs a few MB for a small model, more for a large
    one); when full, the cache starts over."""

    def validate(self) -> list[str]:
        errors = []
        if self.device not in ("cpu", "cuda", "auto"):
            errors.append("engine.device: expected 'cpu', 'cuda' or 'auto'")
        for name in ("inter_threads", "intra_threads", "max_queue", "max_new_tokens",
                     "single_line_max_tokens", "candidates", "prompt_cache_entries"):
            if getattr(self, name) < 1:
                errors.append(f"engine.{name}: must be at least 1")
        return errors


@dataclass
class ContextSettings:
    max_prompt_tokens: int = 768
    """Token budget of the whole prompt (prefix + suffix + cross-file snippets)."""
    suffix_share: float = 0.25
    """Share of the budget given to the suffix."""
    crossfile_share: float = 0.2
    """Share of the budget given to snippets from other open documents (0 = off)."""
    exclude: list[str] = field(
        default_factory=lambda: [".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_ed25519*",
                                 "*.p12", "*.pfx", ".netrc", ".npmrc", ".pypirc"]
    )
    """Glob patterns (file name or path): such files never reach a prompt or a log."""

    def validate(self) -> list[str]:
        errors = []
        if self.max_prompt_tokens < 32:
            errors.append("context.max_prompt_tokens: must be at least 32")
        if not 0.0 <= self.suffix_share <= 0.9:
            errors.append("context.suffix_share: must be between 0 and 0.9")
        if not 0.0 <= self.crossfile_share <= 0.6:
            errors.append("context.crossfile_share: must be between 0 and 0.6")
        return errors


@dataclass
class CompletionSettings:
    enabled: bool = True
    languages: list[str] = field(default_factory=lambda: ["python"])
    """Language ids served; others get an empty answer."""
    multiline: str = "auto"
    """``auto`` (from the syntax around the cursor), ``always`` or ``never``."""
    max_lines: int = 12

    def validate(self) -> list[str]:
        if self.multiline not in ("auto", "always", "never"):
            return ["completion.multiline: expected 'auto', 'always' or 'never'"]
        return []


@dataclass
class Settings:
    model: ModelSettings = field(default_factory=ModelSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    analyzers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-analyzer tables (``[tool.codeward.analyzers.<name>]``), read by the pipeline."""
    vetting: dict[str, Any] = field(default_factory=dict)
    """Pipeline-wide vetting options (budget, on_error, license policy), read by the pipeline."""
    events: dict[str, Any] = field(default_factory=dict)
    """Event store and privacy options, read by ``codeward.server.events``."""


def merge(settings: Settings, data: Any) -> tuple[Settings, list[str]]:
    """Apply a raw mapping over ``settings``; bad fields keep their value and give a message."""
    errors: list[str] = []
    if data is None:
        return settings, errors
    if isinstance(data, dict) and isinstance(data.get("codeward"), dict):
        data = data["codeward"]
    return merge_into(settings, data, "", errors), errors


def find_project_file(path: Path) -> Path | None:
    """The nearest ``.codeward.toml``, or ``pyproject.toml`` with a ``[tool.codeward]`` table."""
    start = path if path.is_dir() else path.parent
    for folder in (start, *start.parents):
        for name in PROJECT_FILES:
            candidate = folder / name
            if candidate.is_file():
                if name == "pyproject.toml" and not _has_codeward_table(candidate):
                    continue
                return candidate
    return None


def _has_codeward_table(pyproject: Path) -> bool:
    try:
        return "codeward" in tomllib.loads(pyproject.read_text("utf-8")).get("tool", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def read_project_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The codeward table of a project file, or ``{}`` and a message if it cannot be read."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"{path}: cannot read ({exc})"]
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"{path}: invalid TOML ({exc}); project settings ignored"]
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("codeward", {})
    return data, []


class SettingsResolver:
    """Resolves the settings for a document: defaults, then the editor's, then the project's.

    Project files are cached by path and modification time. Each distinct message is
    reported once through ``report`` (the server shows it once, never per keystroke).
    """

    def __init__(self, report: typing.Callable[[str], None] | None = None) -> None:
        self.user: dict[str, Any] = {}
        self._report = report or (lambda msg: logger.warning("%s", msg))
        self._seen: set[str] = set()
        self._cache: dict[Path, tuple[float, Settings]] = {}
        self._base: Settings | None = None

    def set_user(self, data: Any) -> None:
        self.user = data if isinstance(data, dict) else {}
        self._base = None
        self._cache.clear()

    def _emit(self, errors: list[str]) -> None:
        for msg in errors:
            if msg not in self._seen:
                self._seen.add(msg)
                self._report(f"codeward settings: {msg}")

    def base(self) -> Settings:
        if self._base is None:
            self._base, errors = merge(Settings(), self.user)
            self._emit(errors)
        return self._base

    def for_path(self, path: Path | None) -> Settings:
        base = self.base()
        if path is None:
            return base
        project = find_project_file(path)
        if project is None:
            return base
        try:
            mtime = project.stat().st_mtime
        except OSError:
            return base
        cached = self._cache.get(project)
        if cached and cached[0] == mtime:
            return cached[1]
        data, errors = read_project_file(project)
        settings, merge_errors = merge(base, data)
        self._emit([*errors, *(f"{project}: {e}" for e in merge_errors)])
        self._cache[project] = (mtime, settings)
        return settings
