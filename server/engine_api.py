"""The engine interface: what the completion service needs from whatever generates text.

Two implementations: the in-process CTranslate2 engine (:mod:`.engine`, the default) and
the OpenAI-compatible completions client (:mod:`.remote`: vLLM, llama.cpp's server, TGI,
Ollama). Both build the prompt the same way, from a :class:`PromptModel` (the model
directory's manifest, FIM family and tokenizer), so a remote server gets the same
fill-in-the-middle prompt, under the same token budget, as the local engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .fim import FimFamily, get_family, with_template
from .manifest import Manifest, ModelError, read_manifest, sha256_file, verify_files

MIN_STATIC_TOKENS = 64
"""A shorter prompt head is not worth a cache entry."""


@dataclass
class GenerationRequest:
    prompt: str
    max_new_tokens: int
    single_line: bool = False
    candidates: int = 1
    stop_when: Callable[[str], bool] | None = None
    """Checked on the decoded text each time a line ends; True stops that candidate."""
    static_chars: int = 0
    """Head of ``prompt`` whose model state may be cached across requests (0 = none)."""


@dataclass
class GenerationResult:
    texts: list[str]
    prompt_tokens: int = 0
    cached_tokens: int = 0
    steps: int = 0
    cancelled: bool = False
    elapsed_ms: float = 0.0
    model: str = ""
    logprobs: list[list[float]] = field(default_factory=list)
    """Per text, the log-probability of each generated token (the confidence gate's input)."""
    unavailable: str = ""
    """Why the engine could not generate at all (a remote server down, slow or refusing);
    the caller may ask the engine's ``fallback`` instead. Empty when it generated."""


@dataclass
class EngineStats:
    requests: int = 0
    steps: int = 0
    cancelled: int = 0
    last_steps: int = 0
    last_cancelled_steps: int = -1
    cache_resets: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "steps": self.steps, "cancelled": self.cancelled,
                "last_steps": self.last_steps, "last_cancelled_steps": self.last_cancelled_steps,
                "cache_resets": self.cache_resets}

    def count(self, steps: int, cancelled: bool) -> None:
        with self.lock:
            self.requests += 1
            self.steps += steps
            self.last_steps = steps
            if cancelled:
                self.cancelled += 1
                self.last_cancelled_steps = steps


class CompletionEngine(Protocol):
    """What generates completions. ``generate`` is blocking and thread-safe (it runs in a
    worker thread) and stops soon after ``cancelled`` is set."""

    label: str
    model_dir: Path
    manifest: Manifest
    family: FimFamily
    stats: EngineStats

    @property
    def fallback(self) -> CompletionEngine | None:
        """The engine to ask when this one reports ``unavailable`` (None: nothing)."""
        ...

    def count_tokens(self, text: str) -> int: ...
    def tail_within(self, text: str, budget: int) -> str: ...
    def head_within(self, text: str, budget: int) -> str: ...

    def generate(self, request: GenerationRequest,
                 cancelled: threading.Event | None = None) -> GenerationResult: ...

    def close(self) -> None: ...


class CancelOrStale(threading.Event):
    """A cancellation flag that also reads as set once the document has moved on
    (``is_current`` is False): a stale request stops its decoder, or closes its remote
    stream, at once instead of finishing a result nobody will see."""

    def __init__(self, is_current: Callable[[], bool]) -> None:
        super().__init__()
        self._is_current = is_current

    def is_set(self) -> bool:
        return super().is_set() or not self._is_current()


def verify_tokenizer(model_dir: Path, manifest: Manifest) -> None:
    """The tokenizer must be there and match its checksum (a prompt-only model: no weights)."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"{model_dir}: tokenizer.json is missing")
    expected = manifest.files.get("tokenizer.json")
    if expected and sha256_file(path) != expected:
        raise ModelError(f"{model_dir}: tokenizer.json does not match its checksum")


class PromptModel:
    """A model directory's manifest, FIM family and tokenizer: everything a prompt needs.

    ``verify``: ``"all"`` checks every served file (a model about to be loaded),
    ``"tokenizer"`` only the tokenizer (a model only prompts are built for), ``"none"``."""

    def __init__(self, model_dir: Path, verify: str = "tokenizer") -> None:
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.manifest: Manifest = read_manifest(self.model_dir)
        if verify == "all":
            verify_files(self.model_dir, self.manifest)
        elif verify == "tokenizer":
            verify_tokenizer(self.model_dir, self.manifest)
        self.family: FimFamily = get_family(self.manifest.family)
        # the model may declare its own order of the family's tokens (e.g. suffix first)
        self.family = with_template(self.family, self.manifest.fim_template)
        try:
            self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        except Exception as exc:
            raise ModelError(f"{self.model_dir}: tokenizer.json cannot be loaded ({exc})") from exc
        self.label = f"{self.manifest.name}@{self.manifest.version}"

    def stop_strings(self) -> list[str]:
        """The manifest's and the family's stop tokens, in order, once each."""
        return list(dict.fromkeys((*self.manifest.stop_tokens, *self.family.stop_tokens)))

    def encode(self, text: str) -> list[str]:
        return self.tokenizer.encode(text, add_special_tokens=True).tokens

    def split_static(self, text: str, static_chars: int) -> tuple[list[str], list[str]]:
        """Tokens of ``text`` split into a cacheable head (the tokens that end within the
        first ``static_chars`` characters) and the rest."""
        enc = self.tokenizer.encode(text, add_special_tokens=True)
        k = 0
        if static_chars > 0:
            for _, end in enc.offsets:
                if end > static_chars:
                    break
                k += 1
        if k < MIN_STATIC_TOKENS or k == len(enc.tokens):
            return [], enc.tokens
        return enc.tokens[:k], enc.tokens[k:]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def tail_within(self, text: str, budget: int) -> str:
        """The longest tail of ``text`` within ``budget`` tokens, starting at a line start
        when that loses less than a line."""
        if budget <= 0 or not text:
            return ""
        window = text[-budget * 8:]
        enc = self.tokenizer.encode(window, add_special_tokens=False)
        if len(enc.ids) <= budget and len(window) == len(text):
            return text
        start = enc.offsets[max(0, len(enc.ids) - budget)][0]
        if len(enc.ids) <= budget:
            start = 0
        cut = window[start:]
        newline = cut.find("\n")
        if 0 <= newline < 200 and newline + 1 < len(cut):
            cut = cut[newline + 1:]
        return cut

    def head_within(self, text: str, budget: int) -> str:
        """The longest head of ``text`` within ``budget`` tokens, ending at a line end when
        that loses less than a line."""
        if budget <= 0 or not text:
            return ""
        window = text[: budget * 8]
        enc = self.tokenizer.encode(window, add_special_tokens=False)
        if len(enc.ids) <= budget:
            return window
        end = enc.offsets[budget - 1][1]
        cut = window[:end]
        newline = cut.rfind("\n")
        if newline > 0 and len(cut) - newline < 200:
            cut = cut[: newline + 1]
        return cut
