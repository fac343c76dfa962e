"""``codeward simulate``: a simulated developer typing a repository's files into a real
``codeward serve`` over LSP (stdio, the real protocol, vetting and event capture).

Each file is typed top to bottom (one ``didChange`` per line). At seeded, realistic points
(the start of a line, after its indentation) the developer asks for an inline completion and
compares every item with what the file really contains next:

* the suggestion is a prefix of the real text: accepted in full (kept);
* its first line is right but later lines are not: accepted in full, then the wrong tail is
  deleted (survival = the right part);
* a common prefix of at least ``min_partial`` characters ending on a word boundary:
  accepted partially (``acceptedLength``);
* otherwise dismissed.

Items are shown (``codeward/didShowCompletion``), accepted (``codeward/didAcceptCompletion``)
or dismissed (``codeward/didDismissCompletion``). The simulator also appends the event rows
it can see (completion, feedback, survival) to a JSONL log in the event store's schema, which
``codeward finetune dataset --events`` reads. Same seed, same model: same run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codeward.server.events.survival import common_prefix

from .flags import option
from .vetting import flagged_rule

logger = logging.getLogger(__name__)

SHOW, ACCEPT, DISMISS = ("codeward/didShowCompletion", "codeward/didAcceptCompletion",
                         "codeward/didDismissCompletion")


@dataclass
class SimConfig:
    repo: str = option("", "repository folder whose files the simulated developer types",
                       metavar="DIR")
    files: str = option("**/*.py", "glob of the files to type, relative to --repo")
    model: str = option("", "converted model for the server (default: the registry's "
                            "promoted model)", metavar="DIR")
    registry: str = option("", "registry directory (default: the user data dir)",
                           metavar="DIR")
    events: str = option("", "append the simulated event rows to this .jsonl file",
                         metavar="FILE")
    label: str = option("", "name of this run in reports (default: the served model "
                            "version)")
    seed: int = option(0, "seed of the typing positions and decisions")
    points_per_file: int = option(12, "completion requests per file")
    max_files: int = option(0, "type at most this many files (0 = all)")
    candidates: int = option(2, "candidates the server is asked for per request")
    min_partial: int = option(4, "characters a partial acceptance keeps at least")
    request_timeout_s: float = option(30.0, "seconds to wait for one completion")
    user: str = option("simulated-developer", "user name the events are recorded under")
    settings: dict[str, Any] = option({}, "extra initializationOptions for the server (JSON)",
                                      type=json.loads, metavar="JSON")

    def __post_init__(self) -> None:
        if not self.repo:
            raise ValueError("SimConfig.repo is empty: give the repository folder (--repo)")
        for name in ("points_per_file", "candidates", "min_partial"):
            if getattr(self, name) < 1:
                raise ValueError(f"SimConfig.{name}={getattr(self, name)}: must be at least 1")


@dataclass
class SimStats:
    requests: int = 0
    shown: int = 0
    accepted: int = 0
    partial: int = 0
    dismissed: int = 0
    accepted_chars: int = 0
    kept_chars: int = 0
    insecure: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def report(self, label: str, model_version: str, files: int, seed: int) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "label": label, "model_version": model_version, "files": files, "seed": seed,
            "requests": self.requests, "shown": self.shown, "accepted": self.accepted,
            "partial": self.partial, "dismissed": self.dismissed, "errors": self.errors,
            "acceptance_rate": self.accepted / self.shown if self.shown else 0.0,
            "accepted_chars": self.accepted_chars, "kept_chars": self.kept_chars,
            "accepted_chars_per_suggestion": self.accepted_chars / self.shown if self.shown
            else 0.0,
            "kept_chars_per_suggestion": self.kept_chars / self.shown if self.shown else 0.0,
            "insecure_rate": self.insecure / self.shown if self.shown else 0.0,
            "latency_p50_ms": statistics.median(lat) if lat else 0.0,
            "latency_p95_ms": lat[int(0.95 * (len(lat) - 1))] if lat else 0.0,
        }


def decide(suggestion: str, real: str, min_partial: int) -> tuple[str, int, int]:
    """(action, accepted_length, kept_chars) of the simulated developer for one item."""
    if not suggestion.strip():
        return "dismiss", 0, 0
    n = common_prefix(suggestion, real)
    if n == len(suggestion):
        return "accept", n, n
    first = suggestion.split("\n", 1)[0]
    if "\n" in suggestion and n > len(first) and len(first.strip()) >= min_partial:
        return "accept", len(suggestion), n
    cut = n
    while cut > 0 and (suggestion[cut - 1].isalnum() or suggestion[cut - 1] == "_") \
            and cut < len(real) and (real[cut].isalnum() or real[cut] == "_"):
        cut -= 1
    if len(suggestion[:cut].strip()) >= min_partial:
        return "partial", cut, cut
    return "dismiss", 0, 0


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _position(text: str):  # type: ignore[no-untyped-def]
    from lsprotocol import types

    line = text.count("\n")
    last = text[text.rfind("\n") + 1:]
    return types.Position(line=line, character=len(last.encode("utf-16-le")) // 2)


def pick_points(text: str, n: int, rng: random.Random) -> list[int]:
    """Offsets at line starts (after indentation) of non-blank, non-comment lines."""
    offsets, pos = [], 0
    for i, line in enumerate(text.splitlines(keepends=True)):
        stripped = line.strip()
        if i > 0 and stripped and not stripped.startswith(("#", '"""', "'''")):
            offsets.append(pos + len(line) - len(line.lstrip()))
        pos += len(line)
    return sorted(rng.sample(offsets, min(n, len(offsets))))


class Developer:
    """Drives one LSP session; ``type_file`` replays one file."""

    def __init__(self, client: Any, cfg: SimConfig, log: Any) -> None:
        self.client, self.cfg, self.log = client, cfg, log
        self.stats = SimStats()
        self.rng = random.Random(cfg.seed)  # noqa: S311 (simulation, not crypto)
        self.clock = 0.0
        self.repo_hash = _h(str(Path(cfg.repo).resolve()))
        self._cursor = 0

    def _emit(self, row: dict[str, Any]) -> None:
        if self.log is not None:
            self.log.write(json.dumps(row, sort_keys=True) + "\n")

    def _change(self, uri: str, version: int, at_text: str, insert: str,
                delete_to: str | None = None) -> None:
        from lsprotocol import types

        start = _position(at_text)
        end = _position(delete_to) if delete_to is not None else start
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=start, end=end), text=insert)]))

    async def type_file(self, path: Path, model_version: str) -> None:
        from lsprotocol import types

        text = path.read_text("utf-8")
        uri = path.resolve().as_uri()
        points = pick_points(text, self.cfg.points_per_file, self.rng)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                 text="")))
        version, typed = 1, ""
        for point in points:
            if point < len(typed):
                continue  # inside text that an accepted suggestion already wrote
            while len(typed) < point:  # type line by line up to the point
                nl = text.find("\n", len(typed))
                chunk = text[len(typed): point if nl < 0 or nl + 1 > point else nl + 1]
                version += 1
                self._change(uri, version, typed, chunk)
                typed += chunk
            version = await self._complete(uri, version, typed, text, model_version)
            typed = text[: max(len(typed), self._cursor)]
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))

    async def _complete(self, uri: str, version: int, typed: str, text: str,
                        model_version: str) -> int:
        from lsprotocol import types

        self._cursor = len(typed)
        self.stats.requests += 1
        t0 = time.perf_counter()
        try:
            result = await asyncio.wait_for(
                self.client.text_document_inline_completion_async(types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=_position(typed),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic))),
                self.cfg.request_timeout_s)
        except Exception as exc:
            self.stats.errors += 1
            logger.warning("completion request failed: %s", exc)
            return version
        latency = (time.perf_counter() - t0) * 1000
        items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
        items = [i for i in items if (i.insert_text if isinstance(i.insert_text, str)
                                      else i.insert_text.value).strip()]
        if not items:
            return version
        self.stats.latencies_ms.append(latency)
        self.stats.shown += 1
        real = text[len(typed):]
        self.clock += 1.0
        decisions = []
        for item in items:
            sugg = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
            data = dict(item.command.arguments[0] or {}) if item.command \
                and item.command.arguments else {}
            decisions.append((sugg, data, decide(sugg, real, self.cfg.min_partial)))
        if flagged_rule(decisions[0][1].get("findings") or [], ignore_status=True):
            self.stats.insecure += 1
        best = max(range(len(decisions)), key=lambda k: (decisions[k][2][0] != "dismiss",
                                                         decisions[k][2][2], -k))
        chosen = decisions[best][2][0] != "dismiss"
        for k, (sugg, data, (action, length, kept)) in enumerate(decisions):
            cid, index = str(data.get("id", "")), int(data.get("index", k))
            shown_ms = 250 + 20 * len(sugg) + self.rng.randint(0, 200)
            self._emit({"type": "completion", "completion_id": cid, "candidate_index": index,
                        "at": self.clock, "model_version": model_version, "language": "python",
                        "uri_hash": _h(uri), "repo_hash": self.repo_hash,
                        "user_hash": _h(self.cfg.user), "prefix": typed, "suffix": "",
                        "suggestion": sugg, "action": data.get("action", "allow"),
                        "findings": data.get("findings", []), "latency_ms": round(latency, 1),
                        "blocked": False})
            self.client.protocol.notify(SHOW, {"id": cid, "index": index})
            self._emit({"type": "show", "completion_id": cid, "candidate_index": index,
                        "at": self.clock, "shown_ms": shown_ms})
            if chosen and k == best:
                self.client.protocol.notify(ACCEPT, {"id": cid, "index": index,
                                                     "acceptedLength": length})
                self._emit({"type": "accept", "completion_id": cid, "candidate_index": index,
                            "at": self.clock, "accepted_length": length, "shown_ms": shown_ms})
                self._emit({"type": "survival", "completion_id": cid, "candidate_index": index,
                            "at": self.clock + 30, "after_s": 30, "accepted_chars": length,
                            "kept_chars": kept})
                version = self._apply(uri, version, typed, sugg[:length], kept)
                self.stats.accepted += 1
                self.stats.partial += action == "partial"
                self.stats.accepted_chars += length
                self.stats.kept_chars += kept
            elif not chosen:  # nothing fits: the developer dismisses what was shown
                self.client.protocol.notify(DISMISS, {"id": cid, "index": index,
                                                      "reason": "mismatch"})
                self._emit({"type": "dismiss", "completion_id": cid, "candidate_index": index,
                            "at": self.clock, "reason": "mismatch", "shown_ms": shown_ms})
        self.stats.dismissed += not chosen
        return version

    def _apply(self, uri: str, version: int, typed: str, accepted: str, kept: int) -> int:
        """Insert the accepted text; delete what is wrong in it (the developer's fix)."""
        version += 1
        self._change(uri, version, typed, accepted)
        if kept < len(accepted):
            version += 1
            self._change(uri, version, typed + accepted[:kept], "", delete_to=typed + accepted)
        self._cursor = len(typed) + kept
        return version


async def simulate_async(cfg: SimConfig) -> dict[str, Any]:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    repo = Path(cfg.repo)
    files = sorted(p for p in repo.glob(cfg.files) if p.is_file())
    if cfg.max_files:
        files = files[: cfg.max_files]
    if not files:
        raise ValueError(f"no files match {cfg.files!r} under {repo}")
    log_file = Path(tempfile.gettempdir()) / f"codeward-simulate-{_h(str(time.time()))}.log"
    cmd = [sys.executable, "-m", "codeward.server.cli", "serve", "--log-file", str(log_file)]
    if cfg.model:
        cmd += ["--model", cfg.model]
    options: dict[str, Any] = {"engine": {"candidates": cfg.candidates}, **cfg.settings}
    if cfg.registry:
        options.setdefault("model", {})["registry"] = cfg.registry
    client = LanguageClient("codeward-simulate", "1")
    await client.start_io(*cmd)
    log = Path(cfg.events).open("a", encoding="utf-8") if cfg.events else None
    try:
        await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=repo.resolve().as_uri(),
            initialization_options=options))
        client.initialized(types.InitializedParams())
        status = await wait_ready(client, cfg.request_timeout_s * 4)
        dev = Developer(client, cfg, log)
        model_version = str(_field(status, "model_version") or "")
        for path in files:
            await dev.type_file(path, model_version)
            if not model_version:
                status = await client.protocol.send_request_async("codeward/status", {})
                model_version = _field(status, "model_version") or ""
        status = await client.protocol.send_request_async("codeward/status", {})
        model_version = _field(status, "model_version") or model_version
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        if log is not None:
            log.close()
        server = getattr(client, "_server", None)
        if server is not None and server.returncode is None:
            server.terminate()  # an error above left the server running
        await client.stop()
    report = dev.stats.report(cfg.label or f"model {model_version}", model_version, len(files),
                              cfg.seed)
    report["config"] = {k: v for k, v in asdict(cfg).items() if k != "settings"}
    report["server_log"] = str(log_file)
    return report


async def wait_ready(client: Any, timeout_s: float) -> Any:
    """Poll ``codeward/status`` until the model is loaded and the analyzers warmed up."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = await client.protocol.send_request_async("codeward/status", {})
        states = _as_dict(_field(status, "analyzers")).values()
        if not _field(status, "loading") and all(str(v) in ("ready", "disabled")
                                                 for v in states):
            return status
        if time.monotonic() > deadline:
            logger.warning("server not ready after %.0f s; simulating anyway", timeout_s)
            return status
        await asyncio.sleep(0.25)


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    return dict(obj._asdict()) if hasattr(obj, "_asdict") else {}


def _field(obj: Any, name: str) -> Any:
    return _as_dict(obj).get(name)


def simulate(cfg: SimConfig) -> dict[str, Any]:
    return asyncio.run(simulate_async(cfg))
