"""One-shot commands without an editor: ``codeward complete`` (a completion at a file
position) and ``codeward vet`` (a suggestion vetted as if inserted there)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from codeward.analyzers.contract import PipelineResult, VetContext
from codeward.analyzers.pipeline import Pipeline

from . import models
from .completion import CompletionRequest, run_completion
from .engine import Engine
from .settings import SettingsResolver

LANGUAGES = {".py": "python", ".pyi": "python", ".js": "javascript", ".ts": "typescript",
             ".go": "go", ".rs": "rust"}


def offset_of(text: str, line: int, col: int) -> int:
    """Offset of a 1-based LINE:COL (COL counted in characters)."""
    lines = text.splitlines(keepends=True)
    if line < 1 or line > len(lines) + 1:
        raise SystemExit(f"codeward: line {line} is outside the file ({len(lines)} lines)")
    before = sum(len(x) for x in lines[: line - 1])
    current = lines[line - 1] if line <= len(lines) else ""
    body = current.rstrip("\r\n")
    if col < 1 or col > len(body) + 1:
        raise SystemExit(f"codeward: column {col} is outside line {line} ({len(body)} chars)")
    return before + col - 1


def complete_file(file: Path, line: int, col: int, *, model: str | None = None,
                  candidates: int = 1) -> dict[str, Any]:
    text = file.read_text("utf-8")
    offset = offset_of(text, line, col)
    settings = SettingsResolver().for_path(file.resolve())
    settings.engine.candidates = max(1, candidates)
    engine = Engine(models.resolve_model_dir(model or settings.model.path,
                                             settings.model.registry), settings.engine)
    pipeline = Pipeline.from_settings(settings.analyzers, settings.vetting)
    language = LANGUAGES.get(file.suffix, "python")
    pipeline.wait_fast(30.0)
    pipeline.prepare(str(file.resolve()), language, background=False)
    try:
        req = CompletionRequest(uri=file.resolve().as_uri(), path=str(file.resolve()),
                                language=language, version=0,
                                text=text, offset=offset, settings=settings, kind="cli")
        result = run_completion(engine, pipeline, req, threading.Event(), uuid.uuid4().hex)
    finally:
        pipeline.close()
        engine.close()
    out = result.as_dict()
    return {k: out[k] for k in ("id", "model", "reason", "multiline", "candidates", "blocked",
                                "generation_ms", "vetting_ms", "prompt_tokens")}


def vet_file(file: Path, line: int, col: int, suggestion: str, *,
             wait: bool = True) -> PipelineResult:
    """Vet ``suggestion`` inserted at a 1-based LINE:COL of ``file`` (a missing file is an
    empty document); with ``wait`` the license index is waited for (else ``warming``)."""
    text = file.read_text("utf-8") if file.exists() else ""
    offset = offset_of(text, line, col) if text else 0
    settings = SettingsResolver().for_path(file.resolve())
    # no editor is waiting: give cold starts (a new project's ruff server) time
    vetting = {**settings.vetting, "budget_ms": 30_000.0}
    pipeline = Pipeline.from_settings(settings.analyzers, vetting)
    try:
        if wait:
            pipeline.wait_ready(120)
        return pipeline.vet(VetContext(
            prefix=text[:offset], suggestion=suggestion, suffix=text[offset:],
            uri=file.resolve().as_uri(), language=LANGUAGES.get(file.suffix, "python"),
            path=str(file.resolve()),
            settings={"analyzers": settings.analyzers, "vetting": vetting}))
    finally:
        pipeline.close()
