"""The completion engine: one CTranslate2 generator, generation in worker threads.

``Engine.generate`` is blocking and thread-safe; it is called from a worker thread and
checks a cancellation flag at every decoding step (the generation callback returns True to
stop the decoder). ``EngineHost`` holds the engine now serving and swaps in a new one
atomically: a request keeps the engine it started with.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .engine_api import (
    MIN_STATIC_TOKENS,
    CompletionEngine,
    EngineStats,
    GenerationRequest,
    GenerationResult,
    PromptModel,
)
from .manifest import ModelError
from .settings import EngineSettings

if TYPE_CHECKING:
    from .remote import RemoteEngine

__all__ = ["MIN_STATIC_TOKENS", "CompletionEngine", "Engine", "EngineHost", "EngineStats",
           "GenerationRequest", "GenerationResult", "PromptModel"]

logger = logging.getLogger(__name__)

# Debugging aid: sleep this long at every decoding step, to emulate a large model on slow
# hardware (used by the cancellation and stale-version tests). Off unless set.
STEP_DELAY_ENV = "CODEWARD_DEBUG_STEP_DELAY_MS"


def _resolve_device(device: str) -> str:
    """cpu, or cuda once cuBLAS 12 is loaded (the ``cuda`` extra's wheel); CudaUnavailable
    (a ModelError) says why ``cuda`` cannot work; ``auto`` falls back to the CPU."""
    from .cuda_libs import resolve_device

    return resolve_device(device)


class Engine(PromptModel):
    """A loaded model: tokenizer, FIM family and CTranslate2 generator."""

    fallback: CompletionEngine | None = None
    """The local engine is the last resort: nothing to fall back to."""

    def __init__(self, model_dir: Path, settings: EngineSettings, *, verify: bool = True) -> None:
        import ctranslate2

        super().__init__(model_dir, verify="all" if verify else "none")
        device = _resolve_device(settings.device)
        compute_type = settings.compute_type if device == "cpu" or settings.compute_type != "int8" \
            else "int8_float16"
        ctranslate2.set_random_seed(settings.seed)
        self._generator_args = dict(
            device=device, compute_type=compute_type, inter_threads=settings.inter_threads,
            intra_threads=settings.intra_threads)
        try:
            self.generator = ctranslate2.Generator(str(self.model_dir), **self._generator_args)
        except Exception as exc:
            raise ModelError(f"{self.model_dir}: CTranslate2 cannot load the model ({exc})") from exc
        self.settings = settings
        self._cache_lock = threading.Lock()
        self._cached_heads: set[int] = set()
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        self.end_tokens = [t for t in self.stop_strings() if t in vocab]
        self.newline_ids = self._newline_ids()
        self.stats = EngineStats()
        self.step_delay = float(os.environ.get(STEP_DELAY_ENV, "0") or 0) / 1000
        logger.info("model %s loaded from %s (%s, %s, %d newline tokens)", self.label,
                    self.model_dir, device, compute_type, len(self.newline_ids))

    def close(self) -> None:
        """Free the model now (CTranslate2 must not be torn down at interpreter exit)."""
        generator = getattr(self, "generator", None)
        if generator is not None:
            generator.unload_model()
            del self.generator

    def _newline_ids(self) -> frozenset[int]:
        size = self.tokenizer.get_vocab_size(with_added_tokens=True)
        return frozenset(i for i in range(size) if "\n" in self.tokenizer.decode([i]))

    def _generator_for(self, head: list[str]):  # type: ignore[no-untyped-def]
        """The generator to use; a fresh one when the prompt-head cache is full (CTranslate2
        keeps one model state per distinct static prompt and never evicts)."""
        if not head:
            return self.generator
        key = hash(tuple(head))
        with self._cache_lock:
            if key not in self._cached_heads:
                if len(self._cached_heads) >= self.settings.prompt_cache_entries:
                    import ctranslate2

                    self.generator = ctranslate2.Generator(str(self.model_dir),
                                                           **self._generator_args)
                    self._cached_heads.clear()
                    self.stats.cache_resets += 1
                self._cached_heads.add(key)
            return self.generator

    # -- generation -----------------------------------------------------------------------

    def generate(self, request: GenerationRequest,
                 cancelled: threading.Event | None = None) -> GenerationResult:
        cancel = cancelled or threading.Event()
        start = time.perf_counter()
        head: list[str] = []
        if self.settings.prompt_cache and request.static_chars:
            head, prompt = self.split_static(request.prompt, request.static_chars)
        else:
            prompt = self.encode(request.prompt)
        generator = self._generator_for(head)
        n = max(1, request.candidates)
        collected: list[list[int]] = [[] for _ in range(n)]
        logprobs: list[list[float]] = [[] for _ in range(n)]
        steps = 0
        newline_ids = self.newline_ids
        delay = self.step_delay
        tokenizer = self.tokenizer
        # The callback must not reference ``self``: CTranslate2 may drop it in a worker thread,
        # and if that freed the last reference, the Generator would join its own thread.

        def callback(step) -> bool:  # type: ignore[no-untyped-def]
            nonlocal steps
            steps += 1
            if delay:
                time.sleep(delay)
            if cancel.is_set():
                return True
            ids = collected[step.batch_id]
            ids.append(step.token_id)
            logprobs[step.batch_id].append(float(step.log_prob))
            if step.token_id in newline_ids:
                text = tokenizer.decode(ids)
                if request.single_line:
                    return bool(text.strip())
                if request.stop_when is not None:
                    return request.stop_when(text)
            return False

        texts: list[str] = []
        batches = [(0, 1, True)]
        if n > 1:
            batches.append((1, n - 1, False))
        for offset, count, greedy in batches:
            if cancel.is_set():
                break
            base = dict(
                max_length=request.max_new_tokens, include_prompt_in_result=False,
                end_token=self.end_tokens or None, beam_size=1, return_scores=True,
                callback=lambda step, o=offset: callback(_Shift(step, o)),
            )
            if head:
                base["static_prompt"] = head
            if greedy:
                results = generator.generate_batch([prompt] * count, sampling_topk=1, **base)
            else:
                results = generator.generate_batch(
                    [prompt] * count, sampling_topk=40, sampling_topp=0.95,
                    sampling_temperature=self.settings.temperature, **base)
            for i, _ in enumerate(results):
                texts.append(self.tokenizer.decode(collected[offset + i], skip_special_tokens=True))
        was_cancelled = cancel.is_set()
        self.stats.count(steps, was_cancelled)
        return GenerationResult(
            texts=[] if was_cancelled else texts, prompt_tokens=len(head) + len(prompt),
            steps=steps, cached_tokens=len(head),
            cancelled=was_cancelled, elapsed_ms=(time.perf_counter() - start) * 1000,
            model=self.label, logprobs=[] if was_cancelled else logprobs[:len(texts)],
        )


class _Shift:
    """A step result whose batch id is offset (for the second, sampled batch)."""

    __slots__ = ("_step", "batch_id")

    def __init__(self, step, offset: int) -> None:  # type: ignore[no-untyped-def]
        self._step = step
        self.batch_id = step.batch_id + offset

    @property
    def token_id(self) -> int:
        return int(self._step.token_id)

    @property
    def log_prob(self) -> float:
        return float(self._step.log_prob)


class EngineHost:
    """Holds the engine now serving; ``swap`` replaces it atomically after a full load.

    With a remote backend (``engine.backend = "openai"``) the host holds both: ``engine``
    is the remote client while its circuit breaker lets requests through, else its
    fallback (the local engine, or None)."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self.remote: RemoteEngine | None = None
        self._lock = threading.Lock()
        self.error: str = ""
        atexit.register(self.close)

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
            remote, self.remote = self.remote, None
        if remote is not None:
            remote.close()
        if engine is not None:
            engine.close()

    @property
    def local(self) -> Engine | None:
        """The in-process engine (None when not loaded)."""
        return self._engine

    @property
    def engine(self) -> CompletionEngine | None:
        remote = self.remote
        if remote is None:
            return self._engine
        return remote if remote.available() else remote.fallback

    def load(self, model_dir: Path) -> Engine:
        """Load ``model_dir`` and make it current; on failure the old engine keeps serving."""
        try:
            engine = Engine(model_dir, self.settings)
        except ModelError as exc:
            self.error = str(exc)
            raise
        with self._lock:
            old, self._engine = self._engine, engine
            self.error = ""
        if old is not None:
            logger.info("model swapped: %s -> %s", old.label, engine.label)
        return engine
