"""One completion, from document text to vetted candidates. No protocol types here.

``CompletionService.complete`` is the async entry point used by the LSP handlers: it gates
the request (completion off, other language, excluded file: an empty answer), waits once for
the model and the fast analyzers, bounds the queue, reuses the last suggestion while the
user types into it, runs
``run_completion`` (prompt -> generate -> clean -> vet) in a worker thread, and turns
``asyncio`` cancellation into a flag the decoder sees at its next step.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from codeward.analyzers.contract import Action, VetContext, Vetter, strictest

from . import context, postprocess, precheck
from .engine import Engine, EngineHost
from .engine_api import CancelOrStale, CompletionEngine, GenerationRequest, GenerationResult
from .index import ProjectIndex, Provenance
from .index import complete as complete_mod
from .index import prior as prior_mod
from .index.policy import license_finding
from .settings import Settings
from .showpolicy import Policy, add_features, learned_policy, model_needed, policy_choose

logger = logging.getLogger(__name__)


@dataclass
class CompletionRequest:
    uri: str
    path: str
    language: str
    version: int
    text: str
    offset: int
    settings: Settings
    kind: str = "inline"
    others: list[context.OtherDocument] = field(default_factory=list)
    session: str = ""
    """The connection the request came from: reuse and explain never cross sessions."""

    @property
    def prefix(self) -> str:
        return self.text[: self.offset]

    @property
    def suffix(self) -> str:
        return self.text[self.offset:]


@dataclass
class Candidate:
    index: int
    text: str
    action: Action = "allow"
    findings: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    raw: str = ""
    logprobs: list[float] = field(default_factory=list)
    """The model's log-probability of each token it generated for ``raw`` (the confidence
    gate's input; empty for text that did not come from the model)."""
    source: str = "model"
    """``model`` or ``index`` (a copy from the project index)."""
    gate: dict[str, Any] = field(default_factory=dict)
    """The confidence gate's inputs and decision (numbers only, never text)."""
    provenance: dict[str, Any] | None = None
    """For a copy: the file, line, license and source it was copied from."""


@dataclass
class CompletionResult:
    id: str
    uri: str
    version: int
    candidates: list[Candidate] = field(default_factory=list)
    blocked: list[Candidate] = field(default_factory=list)
    model: str = ""
    reason: str = ""
    """Why the answer is empty or special: disabled, excluded, busy, stale, cancelled,
    no-model, reused, empty, withheld (every candidate was below the confidence gate)."""
    multiline: bool = False
    latency_ms: float = 0.0
    prompt_ms: float = 0.0
    index_ms: float = 0.0
    """Time of the project index's lookup (0 without an index)."""
    generation_ms: float = 0.0
    vetting_ms: float = 0.0
    prompt_tokens: int = 0
    steps: int = 0
    gate: list[dict[str, Any]] = field(default_factory=list)
    """The gate's inputs of every candidate considered (shown or not)."""
    accept_context: str = ""
    """The last lines before the cursor (at most 400 characters): what an accepted candidate
    is indexed with, so the same context finds it again. Never logged."""
    created: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CompletionEvent:
    """What the completion service hands the event recorder after each completion."""

    request: CompletionRequest
    result: CompletionResult


def _vet(pipeline: Vetter, req: CompletionRequest, text: str) -> Candidate:
    ctx = VetContext(
        prefix=req.prefix, suggestion=text, suffix=req.suffix, uri=req.uri,
        language=req.language, version=req.version, path=req.path or None,
        settings={"analyzers": req.settings.analyzers, "vetting": req.settings.vetting},
    )
    result = pipeline.vet(ctx)
    findings = [f if isinstance(f, dict) else f.to_dict() for f in result.findings]
    return Candidate(index=0, text=result.text, action=result.action, findings=findings,
                     statuses=dict(result.statuses), raw=text)


def run_completion(engine: CompletionEngine | None, pipeline: Vetter, req: CompletionRequest,
                   cancel: threading.Event, completion_id: str,
                   index: ProjectIndex | None = None, policy: Policy | None = None,
                   project: str | None = None) -> CompletionResult:
    """Index copies and model text, gated and combined (by the learned ``policy`` when one
    is given: shown above its threshold, ordered by its score; else the copies by the gate
    prior under ``index.gate = "prior"``), cleaned, vetted. Runs in a
    worker thread; blocking."""
    s = req.settings
    result = CompletionResult(id=completion_id, uri=req.uri, version=req.version,
                              model=engine.label if engine else "")
    prefix, suffix = req.prefix, req.suffix
    if s.completion.multiline == "auto":
        multiline = postprocess.wants_multiline(prefix, suffix, req.language)
    else:
        multiline = s.completion.multiline == "always"
    result.multiline = multiline
    if index is not None:
        result.accept_context = "\n".join(prefix[-400:].split("\n")[-3:])
    index_start = time.perf_counter()
    copies = complete_mod.index_choices(index, req.uri, prefix, suffix, s, multiline)
    add_features(copies, prefix, suffix, req.language, multiline)
    policy = learned_policy(policy, s.index)
    if policy is None:  # the gate prior decides on the copies (index.gate = "prior")
        copies = prior_mod.gate_copies(copies, prior_mod.prior_for(s.index))
    if index is not None:
        result.index_ms = (time.perf_counter() - index_start) * 1000
    generated: list[tuple[complete_mod.Choice, Any]] = []
    withheld: list[dict[str, Any]] = []
    if engine is not None and (complete_mod.needs_model(copies, s) if policy is None
                               else model_needed(policy, project, copies, s.index.policy)):
        gen, pre = _generate_checked(engine, req, multiline, cancel, result)
        if gen.unavailable and engine.fallback is not None:  # a remote server failed
            engine = engine.fallback
            result.model = engine.label
            gen, pre = _generate_checked(engine, req, multiline, cancel, result)
        if gen.cancelled:
            result.reason = "cancelled"
            return result
        withheld = [pre] if pre is not None else []
        generated = complete_mod.model_choices(gen.texts, gen.logprobs, prefix, suffix, s,
                                               multiline)
        add_features(generated, prefix, suffix, req.language, multiline)
    chosen = complete_mod.choose(copies, generated, s) if policy is None \
        else policy_choose(policy, project, [c for c, _ in [*copies, *generated]])
    result.gate = [c.gate for c, _ in [*copies, *generated]] + withheld
    vet_start = time.perf_counter()
    for choice in chosen:
        text = choice.text
        if "\r\n" in req.text:  # the document's own line ends
            text = text.replace("\n", "\r\n")
        cand = _vet(pipeline, req, text)
        cand.index = len(result.candidates) + len(result.blocked)
        cand.raw, cand.source, cand.gate = choice.raw, choice.source, choice.gate
        cand.logprobs = choice.logprobs
        if choice.provenance is not None:
            _apply_provenance(cand, choice.provenance, s)
        if cand.action == "block" or not cand.text.strip():
            result.blocked.append(cand)
        else:
            result.candidates.append(cand)
    result.vetting_ms = (time.perf_counter() - vet_start) * 1000
    if not result.candidates:
        result.reason = "blocked" if result.blocked else ("withheld" if result.gate else "empty")
    return result


def _generate_checked(engine: CompletionEngine, req: CompletionRequest, multiline: bool,
                      cancel: threading.Event, result: CompletionResult,
                      ) -> tuple[GenerationResult, dict[str, Any] | None]:
    """The model's answer; first a short run where the confidence gate would most likely
    withhold it (``precheck``; the in-process engine only): then that run's gate inputs
    instead of an answer."""
    tokens = precheck.budget(req.settings, multiline) if isinstance(engine, Engine) else 0
    spent = 0.0
    if tokens:
        short = _generate(engine, req, multiline, cancel, result, total=tokens)
        spent = short.elapsed_ms
        inputs = None if short.cancelled else precheck.withheld(
            short.logprobs[0] if short.logprobs else [], req.settings)
        if short.cancelled or inputs is not None:
            result.prompt_tokens, result.steps = short.prompt_tokens, short.steps
            result.generation_ms = spent
            short.texts, short.logprobs = [], []
            return short, inputs
    gen = _generate(engine, req, multiline, cancel, result)
    result.prompt_tokens, result.steps = gen.prompt_tokens, gen.steps
    result.generation_ms = spent + gen.elapsed_ms
    return gen, None


def _generate(engine: CompletionEngine, req: CompletionRequest, multiline: bool,
              cancel: threading.Event, result: CompletionResult,
              total: int | None = None) -> GenerationResult:
    """Build the prompt (its time goes to ``result.prompt_ms``) and generate (``total``:
    a smaller prompt budget than the settings', uncached: the pre-check's)."""
    s = req.settings
    prefix, suffix = req.prefix, req.suffix
    max_new = s.engine.max_new_tokens if multiline else s.engine.single_line_max_tokens
    short = total is not None
    total = total or s.context.max_prompt_tokens
    if engine.manifest.context_length:  # prompt + completion must fit the model's positions
        total = min(total, engine.manifest.context_length - max_new)
    prompt_start = time.perf_counter()
    budget = context.split_budget(total, s.context.suffix_share, s.context.crossfile_share)
    crossfile, sources = context.crossfile_snippets(
        req.path, req.language, req.others, engine, budget.crossfile, s.context.exclude,
        engine.family.comment_prefix)
    prompt = context.build_prompt(engine.family, prefix, suffix, engine, budget, crossfile,
                                  sources)
    result.prompt_ms = (time.perf_counter() - prompt_start) * 1000
    line_prefix = postprocess.current_line_prefix(prefix)

    def block_ended(text: str) -> bool:
        return postprocess.truncate_block(text, prefix) != text.rstrip() or \
            text.count("\n") > s.completion.max_lines

    return engine.generate(
        GenerationRequest(
            prompt=prompt.text,
            max_new_tokens=max_new,
            single_line=not multiline, candidates=s.engine.candidates,
            stop_when=block_ended if multiline and line_prefix is not None else None,
            static_chars=0 if short else prompt.static_chars,
        ),
        cancel,
    )


def _apply_provenance(cand: Candidate, prov: Provenance, settings: Settings) -> None:
    """Where a copy came from, and the license policy's word on it (the strictest wins)."""
    cand.provenance = prov.as_dict()
    finding = license_finding(prov, settings.vetting)
    if finding is not None:
        cand.findings.append(finding.to_dict())
        cand.action = strictest(cand.action, finding.action)


RECENT_MAX = 500
RECENT_MAX_BYTES = 8 * 1024 * 1024
LAST_MAX = 64
"""Documents (per session) whose last suggestion is kept for typing into it."""


def result_size(result: CompletionResult) -> int:
    """Approximate bytes a remembered result holds (its candidates' texts and findings)."""
    size = 512
    for cand in (*result.candidates, *result.blocked):
        size += 2 * (len(cand.text) + len(cand.raw)) + 256 * (1 + len(cand.findings))
    return size


@dataclass
class _Shown:
    uri: str
    prefix: str
    suffix: str
    text: str
    candidate: Candidate
    result_id: str


def gate(req: CompletionRequest) -> str:
    """Why no completion is made for this request ("" when one is): ``disabled`` (completion
    off, or a language not in ``completion.languages``) or ``excluded`` (``context.exclude``)."""
    langs = req.settings.completion.languages
    if not req.settings.completion.enabled or ("*" not in langs and req.language not in langs):
        return "disabled"
    if context.is_excluded(req.path, req.settings.context.exclude):
        return "excluded"
    return ""


class CompletionService:
    """Gated, bounded, cancellable, cached completions over an ``EngineHost``.

    ``loading`` is done once the model has loaded (or failed to); the first completion
    waits for it and for the pipeline's fast analyzers (about a second after start)."""

    def __init__(self, host: EngineHost, pipeline: Vetter,
                 on_result: Callable[[CompletionRequest, CompletionResult], None] | None = None,
                 on_finish: Callable[[CompletionRequest, CompletionResult], None] | None = None,
                 max_workers: int = 2, max_queue: int = 8,
                 loading: Future[None] | None = None) -> None:
        self.host = host
        self.pipeline = pipeline
        self.on_result = on_result
        self.on_finish = on_finish
        """Told about every request when it ends, gated, busy and cancelled ones too."""
        self.loading = loading
        self._vetting_ready = False
        self.executor = ThreadPoolExecutor(max_workers=max_workers,
                                           thread_name_prefix="codeward-gen")
        self.max_queue = max_queue
        self._pending = 0
        self._lock = threading.Lock()
        self._last: OrderedDict[tuple[str, str], _Shown] = OrderedDict()
        self.recent: OrderedDict[str, tuple[str, CompletionResult]] = OrderedDict()
        """Recent results by id, with their session: results only (a few candidates), never
        the request with its document text, and bounded by bytes as well as by count."""
        self._recent_bytes = 0
        self.busy_rejections = 0
        self.index: ProjectIndex | None = None
        """The project index, a completion source beside the model (set by the backend)."""
        self.policy: Policy | None = None
        """The learned show/rank policy (None: the confidence gate decides). Replaced whole
        by a hot swap; each request reads it once."""
        self.project_of: Callable[[str], str | None] = lambda path: None
        """A document path -> its project key in the policy (the events' repository hash)."""

    def _reuse(self, req: CompletionRequest, cid: str) -> CompletionResult | None:
        last = self._last.get((req.session, req.uri))
        if last is None:
            return None
        prefix, suffix = req.prefix, req.suffix
        if suffix != last.suffix or not prefix.startswith(last.prefix):
            return None
        typed = prefix[len(last.prefix):]
        if not typed or not last.text.startswith(typed) or len(typed) >= len(last.text):
            return None
        cand = Candidate(index=0, text=last.text[len(typed):], action=last.candidate.action,
                         findings=last.candidate.findings, statuses=last.candidate.statuses,
                         raw=last.candidate.raw, source=last.candidate.source,
                         gate=last.candidate.gate, provenance=last.candidate.provenance)
        return CompletionResult(id=cid, uri=req.uri, version=req.version, candidates=[cand],
                                model=self.host.engine.label if self.host.engine else "",
                                reason="reused")

    def remember(self, req: CompletionRequest, result: CompletionResult) -> None:
        self.recent[result.id] = (req.session, result)
        self._recent_bytes += result_size(result)
        while len(self.recent) > RECENT_MAX or self._recent_bytes > RECENT_MAX_BYTES:
            _, (_, old) = self.recent.popitem(last=False)
            self._recent_bytes -= result_size(old)
        if result.candidates and result.reason != "reused":
            key = (req.session, req.uri)
            self._last[key] = _Shown(req.uri, req.prefix, req.suffix, result.candidates[0].text,
                                     result.candidates[0], result.id)
            self._last.move_to_end(key)
            while len(self._last) > LAST_MAX:
                self._last.popitem(last=False)

    def recent_for(self, session: str) -> dict[str, tuple[str, CompletionResult]]:
        """The recent results of one session, oldest first."""
        return {cid: entry for cid, entry in list(self.recent.items()) if entry[0] == session}

    def forget(self, uri: str, session: str = "") -> None:
        self._last.pop((session, uri), None)

    async def _wait_ready(self) -> None:
        if self.loading is not None and not self.loading.done():
            await asyncio.wrap_future(self.loading)
        if not self._vetting_ready:
            await asyncio.get_running_loop().run_in_executor(None, self.pipeline.wait_fast, 20.0)
            self._vetting_ready = True

    @property
    def pending(self) -> int:
        """Requests queued or generating now."""
        return self._pending

    async def complete(self, req: CompletionRequest,
                       is_current: Callable[[], bool]) -> CompletionResult:
        """The vetted completion for ``req``; ``is_current`` says whether the document is
        still at the request's version (a result for an older one is never shown). Gated
        requests are answered empty and neither remembered nor recorded."""
        start = time.perf_counter()
        ended = "error"
        try:
            result = await self._complete(req, is_current, start)
            ended = ""
            return result
        except asyncio.CancelledError:
            ended = "cancelled"
            raise
        finally:
            if self.on_finish is not None:
                if ended:  # cancelled by the client, or failed: no result was made
                    result = CompletionResult(id="", uri=req.uri, version=req.version,
                                              reason=ended)
                result.latency_ms = result.latency_ms or (time.perf_counter() - start) * 1000
                self._call(self.on_finish, req, result)

    async def _complete(self, req: CompletionRequest, is_current: Callable[[], bool],
                        start: float) -> CompletionResult:
        cid = uuid.uuid4().hex
        skip = gate(req)
        if skip:
            return CompletionResult(id=cid, uri=req.uri, version=req.version, reason=skip)
        await self._wait_ready()
        engine = self.host.engine
        if engine is None and self.index is None:
            return CompletionResult(id=cid, uri=req.uri, version=req.version, reason="no-model")
        label = engine.label if engine is not None else ""
        reused = self._reuse(req, cid)
        if reused is not None:
            reused.latency_ms = (time.perf_counter() - start) * 1000
            self.remember(req, reused)
            self._notify(req, reused)
            return reused
        with self._lock:
            if self._pending >= self.max_queue:
                self.busy_rejections += 1
                return CompletionResult(id=cid, uri=req.uri, version=req.version,
                                        model=label, reason="busy")
            self._pending += 1
        cancel = CancelOrStale(is_current)
        policy = self.policy

        def job() -> CompletionResult:
            if cancel.is_set() or not is_current():
                return CompletionResult(id=cid, uri=req.uri, version=req.version,
                                        model=label, reason="stale")
            project = self.project_of(req.path) if policy is not None else None
            return run_completion(engine, self.pipeline, req, cancel, cid, self.index,
                                  policy, project)

        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.executor, job)
        except asyncio.CancelledError:
            cancel.set()
            raise
        finally:
            with self._lock:
                self._pending -= 1
        if not is_current() and result.reason != "stale":  # "cancelled" here: it went stale
            result.candidates, result.reason = [], "stale"
        result.latency_ms = (time.perf_counter() - start) * 1000
        self.remember(req, result)
        self._notify(req, result)
        return result

    def _notify(self, req: CompletionRequest, result: CompletionResult) -> None:
        if self.on_result is not None:
            self._call(self.on_result, req, result)

    @staticmethod
    def _call(hook: Callable[[CompletionRequest, CompletionResult], None],
              req: CompletionRequest, result: CompletionResult) -> None:
        try:
            hook(req, result)
        except Exception:
            logger.exception("recording completion %s failed", result.id)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def document_path(uri: str) -> str:
    if uri.startswith("file://"):
        from pygls.uris import to_fs_path

        return to_fs_path(uri) or ""
    return ""

