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
or dismissed (``codeward/didDismissCompletion``, reason ``typed-over``). After a dismissal the
developer types what the file really holds there, to the end of the line, a few words per
``didChange`` (the server's "written instead"). After the last point the rest is typed too.

The server records in its own event store (a fresh SQLite file unless ``--settings`` names
one): completions with their decision features, feedback, survival, written-instead and
edited rows, all redacted; ``--events FILE`` appends them to a JSONL log. ``--decisions``
keeps every item's decision for ``simreplay``. The report (``simreport``) counts per
source and combined. Same seed, same model: same run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codeward.server.events.survival import common_prefix

from .flags import option
from .simreport import SimStats
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
    points_per_file: int = option(12, "completion requests per file (0 = every line start)")
    max_files: int = option(0, "type at most this many files (0 = all)")
    candidates: int = option(2, "candidates the server is asked for per request")
    min_partial: int = option(4, "characters a partial acceptance keeps at least")
    request_timeout_s: float = option(30.0, "seconds to wait for one completion")
    user: str = option("simulated-developer", "user name the events are recorded under")
    settings: dict[str, Any] = option({}, "extra initializationOptions for the server (JSON)",
                                      type=json.loads, metavar="JSON")
    decisions: str = option("", "write every request's items with the developer's decision "
                                "on each to this .jsonl file (for simreplay)", metavar="FILE")

    def __post_init__(self) -> None:
        if not self.repo:
            raise ValueError("SimConfig.repo is empty: give the repository folder (--repo)")
        for name, low in (("points_per_file", 0), ("candidates", 1), ("min_partial", 1)):
            if getattr(self, name) < low:
                raise ValueError(f"SimConfig.{name}={getattr(self, name)}: must be at least {low}")


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
    return sorted(rng.sample(offsets, min(n, len(offsets)) if n else len(offsets)))


class Developer:
    """Drives one LSP session; ``type_file`` replays one file."""

    def __init__(self, client: Any, cfg: SimConfig) -> None:
        self.client, self.cfg = client, cfg
        self.stats = SimStats()
        self.rng = random.Random(cfg.seed)  # noqa: S311 (simulation, not crypto)
        self._cursor = 0
        self.file = ""
        self.requests: list[dict[str, Any]] = []  # file, completion id, items' decisions

    def _change(self, uri: str, version: int, at_text: str, insert: str,
                delete_to: str | None = None) -> None:
        from lsprotocol import types

        start = _position(at_text)
        end = _position(delete_to) if delete_to is not None else start
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=start, end=end), text=insert)]))

    def _type_to(self, uri: str, version: int, typed: str, text: str, point: int,
                 ) -> tuple[int, str]:
        """Type ``text`` from ``len(typed)`` up to ``point``, one change per line."""
        while len(typed) < point:
            nl = text.find("\n", len(typed))
            chunk = text[len(typed): point if nl < 0 or nl + 1 > point else nl + 1]
            version += 1
            self._change(uri, version, typed, chunk)
            typed += chunk
        return version, typed

    async def type_file(self, path: Path) -> None:
        from lsprotocol import types

        text = path.read_text("utf-8")
        uri = path.resolve().as_uri()
        points = pick_points(text, self.cfg.points_per_file, self.rng)
        self.file = str(path)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=""))))
        # the opening may start per-project work (the project's ruff server): a developer
        # typing at machine speed would otherwise meet it warming, run to run differently
        await wait_ready(self.client, self.cfg.request_timeout_s * 4)
        version, typed = 1, ""
        for point in points:
            if point < len(typed):
                continue  # inside text that an accepted suggestion already wrote
            version, typed = self._type_to(uri, version, typed, text, point)
            version, dismissed = await self._complete(uri, version, typed, text)
            typed = text[: max(len(typed), self._cursor)]
            if dismissed:
                version, typed = self._write_instead(uri, version, typed, text)
        self._type_to(uri, version, typed, text, len(text))  # the rest of the file
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))

    def _write_instead(self, uri: str, version: int, typed: str, text: str,
                       ) -> tuple[int, str]:
        """After a dismissal the developer types what the file really holds there, to the end
        of the line, a few words per change (the server records it as "written instead")."""
        nl = text.find("\n", len(typed))
        end = len(text) if nl < 0 else nl + 1
        words = re.findall(r"\s+|\w+|[^\w\s]+", text[len(typed):end])
        while words:
            take = self.rng.randint(1, 3)
            chunk, words = "".join(words[:take]), words[take:]
            version += 1
            self._change(uri, version, typed, chunk)
            typed += chunk
            self.stats.written += len(chunk)
        return version, typed

    async def _complete(self, uri: str, version: int, typed: str, text: str,
                        ) -> tuple[int, bool]:
        """Ask for a completion at the end of ``typed``; accept, partly accept or dismiss
        what comes back. Returns the document version and whether it was dismissed."""
        from lsprotocol import types

        self._cursor = len(typed)
        self.stats.requests += 1
        seen: list[dict[str, Any]] = []
        self.requests.append(record := {"file": self.file, "at": len(typed), "id": "",
                                        "items": seen})
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
            return version, False
        latency = (time.perf_counter() - t0) * 1000
        items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
        items = [i for i in items if (i.insert_text if isinstance(i.insert_text, str)
                                      else i.insert_text.value).strip()]
        if not items:
            return version, False
        self.stats.latencies_ms.append(latency)
        real = text[len(typed):]
        decisions = []
        for item in items:
            sugg = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
            data = dict(item.command.arguments[0] or {}) if item.command \
                and item.command.arguments else {}
            action, length, kept = decision = decide(sugg, real, self.cfg.min_partial)
            decisions.append((sugg, data, decision))
            record["id"] = str(data.get("id", ""))
            seen.append({
                "index": int(data.get("index", len(seen))), "action": action,
                "length": length, "kept": kept, "source": str(data.get("source") or "model"),
                "insecure": bool(flagged_rule(data.get("findings") or [], ignore_status=True))})
        source = str(decisions[0][1].get("source") or "model")
        insecure = bool(flagged_rule(decisions[0][1].get("findings") or [], ignore_status=True))
        self.stats.count(source, shown=1, insecure=int(insecure))
        best = max(range(len(decisions)), key=lambda k: (decisions[k][2][0] != "dismiss",
                                                         decisions[k][2][2], -k))
        chosen = decisions[best][2][0] != "dismiss"
        for k, (sugg, data, (action, length, kept)) in enumerate(decisions):
            cid, index = str(data.get("id", "")), int(data.get("index", k))
            shown_ms = 250 + 20 * len(sugg) + self.rng.randint(0, 200)
            self.client.protocol.notify(SHOW, {"id": cid, "index": index})
            if chosen and k == best:
                self.client.protocol.notify(ACCEPT, {"id": cid, "index": index,
                                                     "acceptedLength": length,
                                                     "shownMs": shown_ms})
                version = self._apply(uri, version, typed, sugg[:length], kept)
                self.stats.count(source, accepted=1, partial=int(action == "partial"),
                                 accepted_chars=length, kept_chars=kept)
            elif not chosen:  # nothing fits: the developer types over what was shown
                self.client.protocol.notify(DISMISS, {"id": cid, "index": index,
                                                      "reason": "typed-over",
                                                      "shownMs": shown_ms})
        self.stats.count(source, dismissed=int(not chosen))
        return version, not chosen

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
    repo = Path(cfg.repo)
    files = sorted(p for p in repo.glob(cfg.files) if p.is_file())
    if cfg.max_files:
        files = files[: cfg.max_files]
    if not files:
        raise ValueError(f"no files match {cfg.files!r} under {repo}")
    stamp = hashlib.sha256(str(time.time()).encode()).hexdigest()[:16]
    log_file = Path(tempfile.gettempdir()) / f"codeward-simulate-{stamp}.log"
    cmd = [sys.executable, "-P", "-m", "codeward.server.cli", "serve", "--log-file", str(log_file)]
    if cfg.model:
        cmd += ["--model", cfg.model]
    with tempfile.TemporaryDirectory(prefix="codeward-simulate-") as tmp:
        options, store_url = server_options(cfg, Path(tmp) / "events.db")
        started = time.time()
        dev, model_version = await _session(cfg, cmd, options, files)
        exported = export_events(store_url, cfg.events, started) if cfg.events else 0
    if cfg.decisions:
        Path(cfg.decisions).write_text("".join(json.dumps(r) + "\n" for r in dev.requests),
                                       "utf-8")
    report = dev.stats.report(cfg.label or f"model {model_version}", model_version, len(files),
                              cfg.seed)
    report["config"] = {k: v for k, v in asdict(cfg).items() if k != "settings"}
    report["server_log"] = str(log_file)
    report["events_exported"] = exported
    return report


def server_options(cfg: SimConfig, db: Path) -> tuple[dict[str, Any], str]:
    """initializationOptions for the simulated server, and the event store it records in:
    the one ``cfg.settings`` names, else a fresh SQLite file ``db``."""
    options: dict[str, Any] = {"engine": {"candidates": cfg.candidates}, **cfg.settings}
    if cfg.registry:
        options.setdefault("model", {})["registry"] = cfg.registry
    events = dict(options.get("events") or {})
    store = events.get("store")
    store = {"url": store} if isinstance(store, str) else dict(store or {})
    store.setdefault("url", f"sqlite:///{db}")
    events.update(store=store, enabled=True)
    events.setdefault("user", cfg.user)
    options["events"] = events
    return options, str(store["url"])


async def _session(cfg: SimConfig, cmd: list[str], options: dict[str, Any],
                   files: list[Path]) -> tuple[Developer, str]:
    """One LSP session of the server typing every file; returns the developer (its counts)
    and the served model version."""
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("codeward-simulate", "1")
    await client.start_io(*cmd)
    try:
        await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=Path(cfg.repo).resolve().as_uri(),
            initialization_options=options))
        client.initialized(types.InitializedParams())
        status = await wait_ready(client, cfg.request_timeout_s * 4)
        dev = Developer(client, cfg)
        model_version = str(_field(status, "model_version") or "")
        for path in files:
            await dev.type_file(path)
        status = await client.protocol.send_request_async("codeward/status", {})
        model_version = str(_field(status, "model_version") or model_version)
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        server = getattr(client, "_server", None)
        if server is not None and server.returncode is None:
            try:  # the exit above lets it write its last events; an error left it running
                await asyncio.wait_for(server.wait(), 30)
            except TimeoutError:
                server.terminate()
        await client.stop()
    return dev, model_version


def export_events(store_url: str, out: str, since: float) -> int:
    """Append the rows the server recorded since ``since`` (completions with the decision's
    features, feedback, survival, written-instead; redacted like every event) to ``out``."""
    from codeward.server.events.store import open_store

    store = open_store(store_url)
    n = 0
    try:
        with Path(out).open("a", encoding="utf-8") as fh:
            for row in store.iter_events(since=since):
                row.pop("seq", None)
                fh.write(json.dumps(row, sort_keys=True) + "\n")
                n += 1
    finally:
        store.close()
    return n


async def wait_ready(client: Any, timeout_s: float) -> Any:
    """Poll ``codeward/status`` until the model is loaded, the analyzers warmed up and the
    workspace indexed (else the same seed would see more or fewer copies run to run)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = await client.protocol.send_request_async("codeward/status", {})
        states = _as_dict(_field(status, "analyzers")).values()
        indexed = _as_dict(_field(status, "index")).get("ready", True)
        if not _field(status, "loading") and indexed and all(
                str(v) in ("ready", "disabled") for v in states):
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
