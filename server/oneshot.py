"""One-shot commands without an editor: ``codeward complete`` (a completion at a file
position) and ``codeward vet`` (a suggestion vetted as if inserted there)."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from codeward.analyzers.contract import PipelineResult, VetContext
from codeward.analyzers.pipeline import Pipeline

from . import models
from .completion import CompletionEvent, CompletionRequest, run_completion
from .engine import Engine
from .index import ProjectIndex
from .settings import SettingsResolver

LANGUAGES = {".py": "python", ".pyi": "python", ".js": "javascript", ".ts": "typescript",
             ".go": "go", ".rs": "rust"}


class UsageError(ValueError):
    """A bad argument (a position outside the file): the CLI says so and exits 2."""


def offset_of(text: str, line: int, col: int) -> int:
    """Offset of a 1-based LINE:COL (COL counted in characters)."""
    lines = text.splitlines(keepends=True)
    if line < 1 or line > len(lines) + 1:
        raise UsageError(f"line {line} is outside the file ({len(lines)} lines)")
    before = sum(len(x) for x in lines[: line - 1])
    current = lines[line - 1] if line <= len(lines) else ""
    body = current.rstrip("\r\n")
    if col < 1 or col > len(body) + 1:
        raise UsageError(f"column {col} is outside line {line} ({len(body)} chars)")
    return before + col - 1


def wait_for_analyzers(pipeline: Pipeline, timeout: float, stream: TextIO | None) -> None:
    """Wait until no enabled analyzer is still loading (the license index takes 5-15 s);
    a spinner on ``stream`` while waiting when it is a terminal. An analyzer that is not
    installed is not waited for (its findings say so)."""
    tty = stream is not None and stream.isatty()
    start = time.monotonic()
    frames, i = "|/-\\", 0
    while (pending := pipeline.pending()) and time.monotonic() - start < timeout:
        if tty:
            assert stream is not None
            stream.write(f"\r{frames[i % 4]} codeward: waiting for {', '.join(pending)} "
                         f"({time.monotonic() - start:.0f} s; --no-wait skips it)\x1b[K")
            stream.flush()
        i += 1
        time.sleep(0.1)
    if tty and i:
        assert stream is not None
        stream.write("\r\x1b[K")
        stream.flush()


def complete_file(file: Path, line: int, col: int, *, model: str | None = None,
                  candidates: int = 1, wait: bool = True, record: bool = False,
                  progress: TextIO | None = None) -> dict[str, Any]:
    """One completion at a 1-based LINE:COL. ``wait``: for every analyzer to load (else
    a still-loading one annotates "not checked"); ``record``: write the completion event
    to the configured event store (one-shot commands record nothing by default)."""
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
    if wait:
        wait_for_analyzers(pipeline, 120.0, progress)
    uri = file.resolve().as_uri()
    index = _document_index(settings, uri, text, str(file.resolve()))
    try:
        req = CompletionRequest(uri=uri, path=str(file.resolve()),
                                language=language, version=0,
                                text=text, offset=offset, settings=settings, kind="cli")
        result = run_completion(engine, pipeline, req, threading.Event(), uuid.uuid4().hex,
                                index)
    finally:
        if index is not None:
            index.close()
        pipeline.close()
        engine.close()
    if record:
        from .events import open_recorder

        recorder = open_recorder(settings)
        try:
            recorder.completion(CompletionEvent(req, result))
        finally:
            recorder.close()
    out = result.as_dict()
    return {k: out[k] for k in ("id", "model", "reason", "multiline", "candidates", "blocked",
                                "generation_ms", "vetting_ms", "prompt_tokens")}


def _document_index(settings: Any, uri: str, text: str, path: str) -> ProjectIndex | None:
    """The project index over the document itself (the server's "documents" source; the
    one-shot command builds no workspace index), or None when the index is off."""
    s = settings.index
    if not s.enabled or "documents" not in s.sources:
        return None
    index = ProjectIndex(dataclasses.replace(s, cache=False))
    index.open_document(uri, text, path)
    return index


def vet_file(file: Path, line: int, col: int, suggestion: str, *,
             wait: bool = True, progress: TextIO | None = None) -> PipelineResult:
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
            pipeline.wait_fast(30.0)
            wait_for_analyzers(pipeline, 120.0, progress)
        return pipeline.vet(VetContext(
            prefix=text[:offset], suggestion=suggestion, suffix=text[offset:],
            uri=file.resolve().as_uri(), language=LANGUAGES.get(file.suffix, "python"),
            path=str(file.resolve()),
            settings={"analyzers": settings.analyzers, "vetting": vetting}))
    finally:
        pipeline.close()
