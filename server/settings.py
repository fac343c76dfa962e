"""Settings: nested, fully defaulted dataclasses.

Sources, later ones win: defaults in code < the editor's initializationOptions and
workspace/didChangeConfiguration < the project's ``[tool.codeward]`` table in
``pyproject.toml`` or its ``.codeward.toml`` (found from the document's path upward; bare
tables such as ``[engine]`` or the same ``[tool.codeward.engine]`` tables). Their JSON
Schema: :mod:`.schema`.

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

from codeward.analyzers.config import bounded, deep_merge, merge_into

from . import trust

logger = logging.getLogger(__name__)

PROJECT_FILES = (".codeward.toml", "pyproject.toml")


@dataclass
class ModelSettings:
    path: str = ""
    """Directory of a converted model (``codeward model convert``); empty = the registry's
    promoted model, else the shipped default model."""
    registry: str = ""
    """Model registry directory (``codeward model list``); empty = the user data dir."""
    watch_interval: float = bounded(2.0, 0, 3600)
    """Seconds between checks of the registry for a newly promoted model (0 = never)."""


@dataclass
class EngineSettings:
    device: str = "cpu"
    """``cpu``, ``cuda`` or ``auto``."""
    compute_type: str = "int8"
    """CTranslate2 compute type: int8, int8_float32, float32, float16, bfloat16, ..."""
    inter_threads: int = bounded(2, 1, 64)
    """Generations that run side by side (one intra-op thread each is best on small models)."""
    intra_threads: int = bounded(1, 1, 64)
    max_queue: int = bounded(8, 1, 256)
    """Requests waiting or running at once; past this a request is answered empty at once."""
    max_new_tokens: int = bounded(64, 1, 2048)
    single_line_max_tokens: int = bounded(32, 1, 512)
    candidates: int = bounded(1, 1, 8)
    """Candidates per request: the first is greedy, the rest sampled."""
    temperature: float = bounded(0.8, 0.0, 5.0)
    seed: int = bounded(0, 0, 2**31 - 1)
    prompt_cache: bool = True
    """Cache the model state of the prompt's stable head (the file above the cursor's
    neighbourhood) across keystrokes."""
    prompt_cache_entries: int = bounded(4, 1, 64)
    """Distinct cached heads kept (each costs a few MB for a small model, more for a large
    one); when full, the cache starts over."""
    precheck_tokens: int = bounded(96, 0, 4096)
    """Single-line requests under the confidence gate: first run the model on a prompt of
    this many tokens; only when its mean token log-probability comes within
    ``precheck_margin`` of ``index.model_min_logprob`` does the full prompt run (and the
    gate decide on it). 0 = always run the full prompt."""
    precheck_margin: float = bounded(0.25, 0.0, 100.0)
    """How far below the gate's threshold the short run may be and still get a full run."""

    backend: str = "ctranslate2"
    """``ctranslate2`` (in process) or ``openai`` (an OpenAI-compatible ``/v1/completions``
    server: vLLM, llama.cpp's server, TGI, Ollama). The prompt is built here either way,
    from the local model directory's FIM template and tokenizer."""
    url: str = ""
    """The remote server's base URL (``http://gpu-box:8000`` or ``.../v1``). A URL set in a
    project file is used only after ``codeward engine trust URL``."""
    model: str = ""
    """Model name the remote server serves (vLLM: the served name or a LoRA adapter's
    name); empty = the local model's manifest name."""
    fallback: str = "local"
    """When the remote server is down or slow: ``local`` (the in-process model) or ``none``
    (no model completions; the project index still answers)."""
    connect_timeout: float = bounded(1.0, 0.05, 60.0)
    """Seconds to connect to the remote server."""
    read_timeout: float = bounded(5.0, 0.05, 600.0)
    """Seconds of silence allowed between two parts of the remote server's stream."""
    timeout: float = bounded(5.0, 0.1, 600.0)
    """Seconds one remote completion may take in total (past it: the fallback)."""
    verify_tls: bool = True
    """Verify the remote server's certificate (user settings only)."""
    ca_bundle: str = ""
    """A PEM file of CA certificates to verify it with instead of the system's (user
    settings only)."""
    api_key_env: str = "CODEWARD_ENGINE_API_KEY"
    """Environment variable holding the API key sent as a bearer token (user settings
    only; the key itself is never read from any settings file)."""
    api_key_keyring: bool = False
    """Else read the key from the OS keyring (``keyring`` extra): service ``codeward``,
    user = the server's origin, e.g. ``https://gpu-box:8000`` (user settings only)."""
    proxy: str = ""
    """HTTP(S) proxy for the remote server (user settings only; proxy environment
    variables are not used)."""
    extra_body: dict[str, Any] = field(default_factory=dict)
    """More fields for each ``/v1/completions`` request, server-specific (vLLM:
    ``skip_special_tokens = false``, ``top_k``; llama.cpp: ``cache_prompt``); Codeward's own
    fields (prompt, model, stream, n, stop, ...) always win."""
    breaker_failures: int = bounded(2, 1, 100)
    """Consecutive failures that open the circuit (requests then skip the server)."""
    retry_initial: float = bounded(2.0, 0.01, 3600.0)
    """Seconds the circuit stays open after it opens; doubled after each failed probe."""
    retry_max: float = bounded(120.0, 0.01, 86400.0)
    """The longest the circuit stays open before the next probe."""

    def validate(self) -> list[str]:
        if self.device not in ("cpu", "cuda", "auto"):
            return ["engine.device: expected 'cpu', 'cuda' or 'auto'"]
        if self.backend not in ENGINE_BACKENDS:
            return [f"engine.backend: expected one of {list(ENGINE_BACKENDS)}"]
        if self.fallback not in ("local", "none"):
            return ["engine.fallback: expected 'local' or 'none'"]
        if self.url and not _is_http_url(self.url):
            return [f"engine.url: expected an http:// or https:// URL with a host, got "
                    f"{self.url[:80]!r}"]
        if self.backend == "openai" and not self.url:
            return ["engine.url: needed when engine.backend = 'openai'"]
        if self.retry_initial > self.retry_max:
            return ["engine.retry_initial: must not exceed engine.retry_max"]
        return []


ENGINE_BACKENDS = ("ctranslate2", "openai")
USER_ONLY_ENGINE = ("verify_tls", "ca_bundle", "api_key_env", "api_key_keyring", "proxy")
"""Engine settings a project file cannot set (they decide what is trusted and what secret
is sent): only the editor's (user) settings can."""


def _is_http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and (
            parts.port is None or parts.port > 0)
    except ValueError:
        return False


@dataclass
class ContextSettings:
    max_prompt_tokens: int = bounded(768, 32, 32768)
    """Token budget of the whole prompt (prefix + suffix + cross-file snippets)."""
    suffix_share: float = bounded(0.25, 0.0, 0.9)
    """Share of the budget given to the suffix."""
    crossfile_share: float = bounded(0.2, 0.0, 0.6)
    """Share of the budget given to snippets from other open documents (0 = off)."""
    exclude: list[str] = field(
        default_factory=lambda: [".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_ed25519*",
                                 "*.p12", "*.pfx", ".netrc", ".npmrc", ".pypirc"]
    )
    """Glob patterns (file name or path): such files never reach a prompt or a log."""


@dataclass
class CompletionSettings:
    enabled: bool = True
    languages: list[str] = field(default_factory=lambda: ["python"])
    """Language ids served; others get an empty answer."""
    multiline: str = "auto"
    """``auto`` (from the syntax around the cursor), ``always`` or ``never``."""
    max_lines: int = bounded(12, 1, 1000)

    def validate(self) -> list[str]:
        if self.multiline not in ("auto", "always", "never"):
            return ["completion.multiline: expected 'auto', 'always' or 'never'"]
        return []


INDEX_SOURCES = ("documents", "workspace", "accepted", "stdlib", "packages")
INDEX_POLICIES = ("index-first", "model-first", "rank", "index-only", "model-only", "ungated")
INDEX_GATES = ("prior", "thresholds")


@dataclass
class IndexSettings:
    """``[tool.codeward.index]``: the project index (completions copied from your code)."""

    enabled: bool = True
    sources: list[str] = field(
        default_factory=lambda: ["documents", "workspace", "accepted"])
    """What is indexed: ``documents`` (open, as they are now), ``workspace`` (files under
    the root, .gitignore and ``context.exclude`` respected), ``accepted`` (text you accepted
    or wrote), ``stdlib`` and ``packages`` (installed packages with a permissive license)."""
    max_file_bytes: int = bounded(1_000_000, 1_000, 100_000_000)
    """Files larger than this are not indexed."""
    max_files: int = bounded(20_000, 1, 10_000_000)
    """Workspace files indexed at most (the rest are skipped, and status says so)."""
    max_tokens: int = bounded(20_000_000, 1_000, 2_000_000_000)
    """Tokens indexed at most over all sources."""
    package_licenses: list[str] = field(default_factory=lambda: [
        "MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "ISC", "PSF-2.0",
        "Python-2.0", "0BSD", "Unlicense", "Zlib", "HPND"])
    """SPDX ids of installed packages allowed into the index (``packages`` source)."""
    min_match_tokens: int = bounded(8, 1, 1_000)
    """Gate: an index suggestion needs at least this many matched tokens before the cursor."""
    same_file_min_match_tokens: int = bounded(16, 1, 1_000)
    """Gate: a copy from the document itself (a line this file already has) needs this many."""
    agreed_min_match_tokens: int = bounded(5, 1, 1_000)
    """Gate: a copy that two or more occurrences agree on (90% of the votes) needs this many."""
    min_vote_share: float = bounded(0.5, 0.0, 1.0)
    """Gate: and at least this share of the votes of its occurrences."""
    abstract: bool = True
    """Also copy lines the project has in the same shape, their identifiers renamed to the
    names of the cursor's context (``self.host = host`` after ``def __init__(self, host,
    port):`` becomes ``self.name = name`` after ``def __init__(self, name, size):``); shown
    only where no verbatim copy is."""
    abstract_min_match_tokens: int = bounded(16, 1, 1_000)
    """Gate: a renamed copy needs this many tokens before the cursor matched up to the
    renaming."""
    abstract_min_vote_share: float = bounded(0.5, 0.0, 1.0)
    """Gate: and this share of the votes of the occurrences that match as long."""
    abstract_min_occurrences: int = bounded(3, 1, 1_000)
    """Gate: and at least this many occurrences re-filled to the same text (on the tuning
    package a renamed copy from one occurrence was exact 4 times in 97)."""
    abstract_max_unbound: int = bounded(1, 0, 100)
    """Gate: and at most this many names the renaming does not bind (kept from the source
    because the document before the cursor has them)."""
    abstract_cut: bool = False
    """Gate: show a renamed copy cut before a name that is neither bound nor in the
    document (else such a copy is dropped)."""
    model_min_logprob: float = bounded(-0.25, -100.0, 0.0)
    """Gate: a model suggestion needs at least this mean token log-probability."""
    policy: str = "index-first"
    """``index-first``, ``model-first``, ``rank``, ``index-only``, ``model-only`` or
    ``ungated`` (every candidate shown, the old behaviour)."""
    gate: str = "prior"
    """What decides when no learned policy is promoted: ``prior`` (the shipped gate prior,
    a logistic regression over the candidates' decision features trained on the tuning
    packages: a candidate is shown when its predicted probability of being the exact next
    line is at least ``prior_threshold``, best first) or ``thresholds`` (the thresholds
    above alone). Under either, the thresholds' verdict is recorded with every candidate."""
    prior_threshold: float = bounded(0.26, 0.0, 1.0)
    """Gate prior: show a candidate whose predicted probability of being the exact next line
    is at least this (chosen on the tuning packages: the most exact lines at 65% precision
    among shown, 95% confidence)."""
    learned_policy: bool = True
    """Let the registry's promoted show/rank policy (trained from your accept/reject logs by
    ``codeward finetune run``) decide what is shown and in which order; without one, or
    with ``false``, ``index.gate`` decides; under ``ungated`` everything is shown."""
    max_candidates: int = bounded(3, 1, 10)
    """Distinct index continuations offered at most."""
    multiline: bool = True
    """Copy whole blocks where the syntax asks for a block and the occurrences agree."""
    max_match_tokens: int = bounded(256, 4, 10_000)
    """Longest match looked for (tokens before the cursor)."""
    overlay_tokens: int = bounded(200_000, 1_000, 100_000_000)
    """Changed-file tokens kept in the overlay before it is merged into a segment."""
    cache: bool = True
    """Persist built segments under the user cache directory (keyed by content hash)."""

    def validate(self) -> list[str]:
        errors = []
        bad = [s for s in self.sources if s not in INDEX_SOURCES]
        if bad:
            errors.append(f"index.sources: unknown {bad}; expected some of {list(INDEX_SOURCES)}")
        if self.policy not in INDEX_POLICIES:
            errors.append(f"index.policy: expected one of {list(INDEX_POLICIES)}")
        if self.gate not in INDEX_GATES:
            errors.append(f"index.gate: expected one of {list(INDEX_GATES)}")
        return errors


@dataclass
class Settings:
    model: ModelSettings = field(default_factory=ModelSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
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
    tool = data.pop("tool", {}) if isinstance(data.get("tool"), dict) else {}
    nested = tool.get("codeward", {}) if isinstance(tool.get("codeward"), dict) else {}
    if path.name == "pyproject.toml":
        return nested, []
    # .codeward.toml: bare tables ([engine]) or the pyproject form ([tool.codeward.engine]);
    # both may be used, the [tool.codeward] ones win where they set the same field
    return deep_merge(data, nested), []


class SettingsResolver:
    """Resolves the settings for a document: defaults, then the editor's, then the project's.

    Project files are cached by path and modification time. Each distinct message is
    reported once through ``report`` (the server shows it once, never per keystroke).
    """

    def __init__(self, report: typing.Callable[[str], None] | None = None) -> None:
        self.user: dict[str, Any] = {}
        self._report = report or (lambda msg: logger.warning("%s", msg))
        self._seen: set[str] = set()
        self._cache: dict[Path, tuple[tuple[float, float], Settings]] = {}
        self._base: Settings | None = None

    def set_user(self, data: Any) -> None:
        """The editor's settings (initializationOptions, didChangeConfiguration). ``None``
        changes nothing; anything but a table is refused and the current settings kept."""
        if data is None:
            return
        if not isinstance(data, dict):
            self._emit([f"settings: expected an object, got {type(data).__name__}; keeping "
                        "the current settings"])
            return
        self.user = data
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
            # a newly confirmed engine URL changes the result too
            stamp = (project.stat().st_mtime, trust.version())
        except OSError:
            return base
        cached = self._cache.get(project)
        if cached and cached[0] == stamp:
            return cached[1]
        data, errors = read_project_file(project)
        data, refused = trust.guard_project(data, project, base.engine.url, USER_ONLY_ENGINE)
        errors += refused
        settings, merge_errors = merge(base, data)
        self._emit([*errors, *(f"{project}: {e}" for e in merge_errors)])
        self._cache[project] = (stamp, settings)
        return settings
