"""The completion sources ``codeward eval --repo`` measures: the served model and the
project index, each through the server's own public code, answering one position at a time.

Each source keeps its candidates with what the confidence gate reads (the model's token
log-probabilities, the index candidate's match length and vote share) and does not gate
them itself: the gate and the combination policy are applied afterwards
(:mod:`.repo_eval`), so one pass over the positions serves every threshold of a sweep.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from . import corpus as corpus_mod
from .evaluate import PassThrough, Position
from .repo_eval import Answer


class ModelSource:
    """The served model through ``run_completion`` (the server's prompt, single/multi-line
    decision, generation and clean-up), every candidate kept (policy ``ungated``, no
    index); vetting off, as in ``codeward eval``."""

    name = "model"

    def __init__(self, model: str = "") -> None:
        from codeward.server import models
        from codeward.server.engine import Engine
        from codeward.server.settings import Settings

        base = Settings()
        self.settings = dataclasses.replace(
            base, index=dataclasses.replace(base.index, policy="ungated"))
        self.model_dir = models.resolve_model_dir(model, self.settings.model.registry)
        self.engine = Engine(self.model_dir, self.settings.engine)
        self.label = self.engine.label
        self.pipeline: Any = PassThrough()

    def open_repository(self, root: Path, files: list[tuple[str, Path]]) -> None:
        pass  # the model's prompt holds the open document only

    def answer(self, pos: Position, path: Path) -> Answer:
        from codeward.server.completion import CompletionRequest, run_completion

        req = CompletionRequest(uri=path.as_uri(), path="", language="python", version=0,
                                text=pos.text, offset=pos.offset, settings=self.settings,
                                kind="eval")
        t0 = time.perf_counter()
        result = run_completion(self.engine, self.pipeline, req, threading.Event(),
                                uuid.uuid4().hex)
        latency = (time.perf_counter() - t0) * 1000
        first = result.candidates[0] if result.candidates else None
        return Answer(text=first.text if first else "", latency_ms=round(latency, 2),
                      features={k: first.gate[k] for k in ("mean_logprob", "min_logprob")
                                if first.gate.get(k) is not None} if first else {},
                      candidates=[(c.raw, c.logprobs) for c in result.candidates])

    def close(self) -> None:
        self.engine.close()


class IndexSource:
    """The project index over the rest of the repository, with the document open.

    The repository's files go in as one workspace segment; at each position the document
    as the user has it is opened (which shadows its copy on disk), the index is asked for
    candidates as the server asks it, and the document is closed again. Candidates are
    collected with no vote-share floor; the gate applies the thresholds afterwards."""

    name = "index"

    def __init__(self, settings: Any = None) -> None:
        from codeward.server.settings import Settings

        self.settings = settings if settings is not None else Settings()
        index = dataclasses.replace(self.settings.index, min_vote_share=0.0, cache=False)
        self.index_settings = index
        self.index: Any = None

    def open_repository(self, root: Path, files: list[tuple[str, Path]]) -> None:
        from codeward.server.index import ProjectIndex, SourceDoc

        self.close()
        self.index = ProjectIndex(self.index_settings)
        docs = [SourceDoc(str(path), text, "workspace") for _, path in files
                if (text := corpus_mod.read_text(path))]
        self.index.add_documents(docs, label=f"workspace:{root}")

    def answer(self, pos: Position, path: Path) -> Answer:
        from codeward.server import postprocess

        key = path.as_uri()
        prefix, suffix = pos.text[:pos.offset], pos.text[pos.offset:]
        self.index.open_document(key, pos.text, path=str(path))
        try:
            t0 = time.perf_counter()
            multiline = postprocess.wants_multiline(prefix, suffix, "python")
            found = self.index.suggest(key, prefix, suffix, multiline=multiline,
                                       max_lines=self.settings.completion.max_lines)
            latency = (time.perf_counter() - t0) * 1000
        finally:
            self.index.close_document(key)
        best = found[0] if found else None
        return Answer(text=best.text if best else "", latency_ms=round(latency, 2),
                      features=dict(best.gate_inputs()) if best else {}, candidates=found)

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None
