"""The OpenAI-compatible completions client: generation on a shared server (vLLM,
llama.cpp's server, TGI, Ollama) through ``POST /v1/completions``.

The prompt is Codeward's own FIM prompt (built from the local model directory's template
and tokenizer, exactly as for the in-process engine); the server only generates. Requests
stream (server-sent events): a candidate stops as soon as its line or block has ended (the
same decision the local engine makes at each newline), and closing the stream makes the
server stop generating. Cancellation does the same: ``generate`` runs in a worker thread,
the HTTP exchange on one event loop thread that holds one pooled ``httpx.AsyncClient``;
a cancelled request cancels its task, which closes its connection at once.

A server that fails (cannot connect, times out, answers an error) makes ``generate``
return ``unavailable``: the completion service then asks the ``fallback`` (the local
engine, or nothing). A circuit breaker (:mod:`.breaker`) stops asking a failing server
and probes it again with exponential back-off; the user is told once when it opens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from . import __version__
from .breaker import Breaker
from .engine_api import (
    CompletionEngine,
    EngineStats,
    GenerationRequest,
    GenerationResult,
    PromptModel,
)
from .settings import EngineSettings
from .trust import origin

logger = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per completion

CANCEL_POLL_S = 0.005
"""How often the waiting worker thread looks at the cancellation flag."""
KEYRING_SERVICE = "codeward"


class RemoteError(Exception):
    """The server could not be used for this request (the message says why, in short)."""


def completions_url(url: str) -> str:
    """``.../v1/completions`` from a base URL given with or without ``/v1``."""
    base = url.rstrip("/")
    if base.endswith("/completions"):
        return base
    return base + ("/completions" if base.endswith("/v1") else "/v1/completions")


def api_key(settings: EngineSettings, where: str) -> str | None:
    """The bearer token: the environment variable named by ``api_key_env``, else the OS
    keyring (service ``codeward``, user = the server's origin) when enabled."""
    if settings.api_key_env:
        value = os.environ.get(settings.api_key_env, "")
        if value:
            return value
    if settings.api_key_keyring:
        try:
            import keyring

            return keyring.get_password(KEYRING_SERVICE, where) or None
        except Exception as exc:  # no keyring package or backend: say so, send no key
            logger.warning("API key not read from the OS keyring (%s: %s)",
                           type(exc).__name__, exc)
    return None


def tls_verify(settings: EngineSettings) -> ssl.SSLContext | bool:
    if not settings.verify_tls:
        logger.warning("engine.verify_tls = false: the remote engine's certificate is not "
                       "checked")
        return False
    if settings.ca_bundle:
        return ssl.create_default_context(cafile=str(Path(settings.ca_bundle).expanduser()))
    return True


@dataclass
class _Stream:
    """What one request collects, candidate by candidate."""

    texts: list[str]
    logprobs: list[list[float]]
    done: list[bool]
    cut: list[bool]
    """Ended here (the server would go on): the stream is closed rather than read out."""
    steps: int = 0
    prompt_tokens: int = 0
    stops: list[str] = field(default_factory=list)


class RemoteEngine:
    """A :class:`~.engine_api.CompletionEngine` over an OpenAI-compatible server."""

    def __init__(self, prompt: PromptModel, settings: EngineSettings, *,
                 fallback: Callable[[], CompletionEngine | None] = lambda: None,
                 notify: Callable[[str], None] = lambda message: None) -> None:
        self.prompt = prompt
        self.model_dir = prompt.model_dir
        self.manifest = prompt.manifest
        self.family = prompt.family
        self.settings = settings
        self.origin = origin(settings.url)
        self.url = completions_url(settings.url)
        self.model_name = settings.model or prompt.manifest.name
        self.label = f"{self.model_name}@{self.origin}"
        self.stats = EngineStats()
        self.breaker = Breaker(settings.breaker_failures, settings.retry_initial,
                               settings.retry_max)
        self._fallback = fallback
        self._notify = notify
        self._stop_strings = prompt.stop_strings()
        self._headers = {"User-Agent": f"codeward/{__version__}"}
        key = api_key(settings, self.origin)
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="codeward-remote")
        self._thread.start()
        self._client = self._call(self._make_client()).result(10)
        logger.info("remote engine %s (model %s, fallback %s)", self.url, self.model_name,
                    settings.fallback)

    async def _make_client(self) -> httpx.AsyncClient:
        s = self.settings
        workers = max(1, s.inter_threads)
        return httpx.AsyncClient(
            timeout=httpx.Timeout(connect=s.connect_timeout, read=s.read_timeout,
                                  write=s.read_timeout, pool=s.connect_timeout),
            limits=httpx.Limits(max_connections=2 * workers,
                                max_keepalive_connections=2 * workers),
            verify=tls_verify(s), trust_env=False, proxy=s.proxy or None,
            headers=self._headers)

    def _call(self, coro: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # -- the engine interface -------------------------------------------------------------

    @property
    def fallback(self) -> CompletionEngine | None:
        return self._fallback()

    def available(self) -> bool:
        """Whether requests go to the server now (the breaker is closed or may probe)."""
        return self.breaker.available()

    def count_tokens(self, text: str) -> int:
        return self.prompt.count_tokens(text)

    def tail_within(self, text: str, budget: int) -> str:
        return self.prompt.tail_within(text, budget)

    def head_within(self, text: str, budget: int) -> str:
        return self.prompt.head_within(text, budget)

    def generate(self, request: GenerationRequest,
                 cancelled: threading.Event | None = None) -> GenerationResult:
        cancel = cancelled or threading.Event()
        start = time.perf_counter()
        result = GenerationResult(texts=[], model=self.label)
        if not self.breaker.acquire():
            result.unavailable = f"circuit open ({self.breaker.last_error})"
            return result
        future = self._call(self._generate(request))
        while not wait_futures([future], timeout=CANCEL_POLL_S).done:
            if cancel.is_set():
                future.cancel()  # cancels the task: its stream is closed at once
                break
        result.elapsed_ms = (time.perf_counter() - start) * 1000
        if future.cancelled() or cancel.is_set():
            self.breaker.release()
            result.cancelled = True
            self.stats.count(0, True)
            return result
        try:
            stream: _Stream = future.result()
        except RemoteError as exc:
            self._failed(str(exc))
            result.unavailable = str(exc)
            return result
        if self.breaker.success():
            logger.info("remote engine %s answers again", self.origin)
        self.stats.count(stream.steps, False)
        result.texts, result.logprobs = stream.texts, stream.logprobs
        result.steps = stream.steps
        result.prompt_tokens = stream.prompt_tokens or self.count_tokens(request.prompt)
        return result

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._shutdown()).result(2)
        except Exception:  # shutting down anyway
            logger.debug("closing the HTTP client failed", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2)
        if not self._thread.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        await self._client.aclose()
        await self._loop.shutdown_asyncgens()

    def status(self) -> dict[str, Any]:
        fallback = self.fallback
        return {"url": self.url, "model": self.model_name,
                "fallback": fallback.label if fallback is not None else None,
                **self.breaker.status()}

    # -- failure handling -----------------------------------------------------------------

    def _failed(self, error: str) -> None:
        opened = self.breaker.failure(error)
        logger.warning("remote engine %s: %s", self.origin, error)
        if opened:
            instead = "the local model" if self.fallback is not None else "no model"
            self._notify(f"codeward: the remote engine {self.origin} is not answering "
                         f"({error}); completions use {instead} until it is back (retried "
                         "with back-off)")

    # -- the HTTP exchange (on the loop thread) -------------------------------------------

    async def _generate(self, request: GenerationRequest) -> _Stream:
        n = max(1, request.candidates)
        stream = _Stream(texts=[""] * n, logprobs=[[] for _ in range(n)], done=[False] * n,
                         cut=[False] * n)
        batches = [(0, 1, True)] + ([(1, n - 1, False)] if n > 1 else [])
        try:
            async with asyncio.timeout(self.settings.timeout):
                for offset, count, greedy in batches:
                    await self._stream(request, stream, offset, count, greedy)
        except TimeoutError:
            raise RemoteError(f"no complete answer within {self.settings.timeout:g} s") \
                from None
        except httpx.TimeoutException as exc:
            raise RemoteError(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RemoteError(f"cannot reach it ({type(exc).__name__}: {exc})") from None
        except (SSEError, ValueError, KeyError, TypeError) as exc:
            raise RemoteError(f"unexpected answer ({type(exc).__name__}: {exc})") from None
        return stream

    def _body(self, request: GenerationRequest, count: int, greedy: bool) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            **s.extra_body, "model": self.model_name, "prompt": request.prompt,
            "max_tokens": request.max_new_tokens, "n": count, "stream": True,
            "stream_options": {"include_usage": True}, "logprobs": 1, "echo": False,
            "stop": self._stop_strings, "seed": s.seed,
        }
        if greedy:
            body["temperature"] = 0.0
        else:
            body.update(temperature=s.temperature, top_p=0.95)
        return body

    async def _stream(self, request: GenerationRequest, stream: _Stream, offset: int,
                      count: int, greedy: bool) -> None:
        body = self._body(request, count, greedy)
        async with aconnect_sse(self._client, "POST", self.url, json=body) as source:
            response = source.response
            if response.status_code != 200:
                detail = (await response.aread())[:200].decode("utf-8", "replace")
                raise RemoteError(f"HTTP {response.status_code}: {detail.strip()}")
            async for event in source.aiter_sse():
                if event.data.strip() == "[DONE]":
                    continue  # the stream ends next: read to its end, the connection is reused
                chunk = json.loads(event.data)
                usage = chunk.get("usage")
                if isinstance(usage, dict) and usage.get("prompt_tokens"):
                    stream.prompt_tokens = int(usage["prompt_tokens"])
                for choice in chunk.get("choices") or ():
                    self._take(request, stream, offset + int(choice.get("index", 0)), choice)
                batch = slice(offset, offset + count)
                if all(stream.done[batch]) and any(stream.cut[batch]):
                    break  # leaving the block closes the stream: the server stops

    def _take(self, request: GenerationRequest, stream: _Stream, i: int,
              choice: dict[str, Any]) -> None:
        """One streamed piece of candidate ``i``: appended, cut at a stop string the server
        passed through, and the candidate ended where the local engine would end it."""
        if i >= len(stream.texts) or stream.done[i]:
            return
        piece = str(choice.get("text") or "")
        logprobs = choice.get("logprobs") or {}
        values = [float(v) for v in logprobs.get("token_logprobs") or () if v is not None]
        stream.steps += max(1, len(values)) if piece else len(values)
        stream.logprobs[i].extend(values)
        text = stream.texts[i] + piece
        for stop in self._stop_strings:
            at = text.find(stop)
            if at >= 0:
                text, stream.cut[i] = text[:at], True
        if "\n" in piece and not stream.cut[i]:
            if request.single_line:
                stream.cut[i] = bool(text.strip())
            elif request.stop_when is not None:
                stream.cut[i] = request.stop_when(text)
        stream.texts[i] = text
        stream.done[i] = stream.cut[i] or bool(choice.get("finish_reason"))


def start_remote(host: Any, model_dir: Path, settings: EngineSettings,
                 notify: Callable[[str], None]) -> RemoteEngine:
    """Attach a remote engine to ``host`` (an :class:`~.engine.EngineHost`): the local model
    is loaded too when it is the fallback, else only its prompt template and tokenizer."""
    if settings.fallback == "local":
        host.load(model_dir)
        prompt: PromptModel = host.local
    else:
        prompt = PromptModel(model_dir)
    remote = RemoteEngine(prompt, settings, notify=notify,
                          fallback=(lambda: host.local) if settings.fallback == "local"
                          else (lambda: None))
    host.remote = remote
    return remote
