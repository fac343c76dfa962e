"""The language server: thin handlers over ``completion``, ``settings`` and ``events``.

Handlers fetch the document, convert positions with the document's negotiated position
codec, call plain functions, and build protocol types last.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from codeward.analyzers.pipeline import Pipeline

from . import __version__, models
from .completion import (
    CompletionRequest,
    CompletionResult,
    CompletionService,
    document_path,
)
from .context import OtherDocument, is_excluded
from .engine import EngineHost
from .events import NullRecorder, Recorder, open_recorder
from .settings import Settings, SettingsResolver

logger = logging.getLogger(__name__)

ACCEPT_COMMAND = "codeward.acceptCompletion"
EXPLAIN = "codeward/explain"
STATUS = "codeward/status"
DID_SHOW = "codeward/didShowCompletion"
DID_ACCEPT = "codeward/didAcceptCompletion"
DID_DISMISS = "codeward/didDismissCompletion"


class _Invalid:
    """A request whose params could not be read; answered with InvalidParams."""

    def __init__(self, msg_id: Any, method: str, detail: str) -> None:
        self.id, self.method, self.detail = msg_id, method, detail
        self.jsonrpc = "2.0"


class CodewardProtocol(LanguageServerProtocol):
    """Adds the LSP lifecycle rules pygls leaves out: ServerNotInitialized before
    ``initialize``, InvalidRequest after ``shutdown``, InvalidParams for unreadable params."""

    _got_initialize = False

    def structure_message(self, data: dict[str, Any]):  # type: ignore[no-untyped-def]
        try:
            return super().structure_message(data)
        except Exception as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                return _Invalid(data["id"], data["method"], str(exc.__cause__ or exc))
            raise

    def handle_message(self, message):  # type: ignore[no-untyped-def]
        method = getattr(message, "method", "")
        is_request = hasattr(message, "id") and bool(method)
        if isinstance(message, _Invalid):
            self._send_response(message.id, error=JsonRpcInvalidParams(
                f"invalid params for {message.method}: {message.detail}").to_response_error())
            return
        if not self._got_initialize and method not in (types.INITIALIZE, types.EXIT):
            if is_request:
                self._send_response(message.id, error=JsonRpcServerNotInitialized(
                    "server not initialized").to_response_error())
            return
        if self._shutdown and method != types.EXIT and is_request:
            self._send_response(message.id, error=JsonRpcInvalidRequest(
                "server is shutting down").to_response_error())
            return
        if method == types.INITIALIZE:
            self._got_initialize = True
        super().handle_message(message)


class FailClosedPipeline(Pipeline):
    """Used when the real pipeline cannot start: nothing unvetted is shown."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def vet(self, ctx):  # type: ignore[no-untyped-def]
        from codeward.analyzers.contract import PipelineResult

        return PipelineResult(action="block", text=ctx.suggestion,
                              statuses={"pipeline": "error"})

    def status(self) -> dict[str, str]:
        return {"pipeline": f"error: {self.reason}"}

    def close(self) -> None:
        pass


class CodewardServer(LanguageServer):
    def __init__(self, model_override: str | None = None) -> None:
        super().__init__("codeward", __version__, protocol_cls=CodewardProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.model_override = model_override
        self.resolver = SettingsResolver(report=self.report_settings_problem)
        self.host: EngineHost | None = None
        self.service: CompletionService | None = None
        self.pipeline: Pipeline | None = None
        self.recorder: Recorder = NullRecorder()
        self.loading: Future[None] | None = None
        self.model_error = ""
        self.vetting_ready = False
        self._shown_messages: set[str] = set()

    # -- set-up ---------------------------------------------------------------------------

    def report_settings_problem(self, message: str) -> None:
        logger.warning("%s", message)
        self.show_once(message, types.MessageType.Warning)

    def show_once(self, message: str, kind: types.MessageType) -> None:
        if message in self._shown_messages:
            return
        self._shown_messages.add(message)
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:  # no client connected (tests driving handlers directly)
            logger.debug("could not show message %r", message)

    def start_backend(self) -> None:
        """Load the model and the analyzers in the background; the first completion waits."""
        settings = self.resolver.base()
        self.host = EngineHost(settings.engine)
        try:
            self.pipeline = Pipeline.from_settings(settings.analyzers, settings.vetting)
        except Exception as exc:
            logger.exception("vetting pipeline failed to start; every suggestion is withheld")
            self.show_once(f"codeward: vetting unavailable ({exc}); suggestions are withheld",
                           types.MessageType.Error)
            self.pipeline = FailClosedPipeline(str(exc))
        try:
            self.recorder = open_recorder(settings)
        except Exception as exc:
            logger.exception("event store unavailable; events are not recorded")
            self.show_once(f"codeward: event store unavailable: {exc}", types.MessageType.Error)
        self.service = CompletionService(
            self.host, self.pipeline, on_result=self._record,
            max_workers=settings.engine.inter_threads, max_queue=settings.engine.max_queue,
        )
        self.loading = Future()
        threading.Thread(target=self._load_model, args=(settings,), daemon=True,
                         name="codeward-load").start()

    def _load_model(self, settings: Settings) -> None:
        assert self.host is not None and self.loading is not None
        try:
            model_dir = models.resolve_model_dir(self.model_override or settings.model.path,
                                                 settings.model.registry)
            self.host.load(model_dir)
            models.start_watch(self, settings)
        except Exception as exc:
            self.model_error = str(exc)
            logger.error("no model: %s", exc)
            self.show_once(f"codeward: no model can be served: {exc}", types.MessageType.Error)
        finally:
            self.loading.set_result(None)

    def _record(self, req: CompletionRequest, result: CompletionResult) -> None:
        self.recorder.completion({"request": req, "result": result})

    # -- helpers for handlers ----------------------------------------------------------------

    def settings_for(self, uri: str) -> Settings:
        path = document_path(uri)
        return self.resolver.for_path(Path(path) if path else None)

    def others(self, uri: str, exclude: list[str]) -> list[OtherDocument]:
        docs = []
        for other_uri, doc in list(self.workspace.text_documents.items()):
            if other_uri == uri:
                continue
            path = document_path(other_uri)
            if is_excluded(path, exclude):
                continue
            docs.append(OtherDocument(path=path or other_uri, language=doc.language_id or "",
                                      text=doc.source))
        return docs

    async def complete_at(self, uri: str, position: types.Position,
                          kind: str) -> tuple[CompletionResult | None, Any]:
        """Run a completion at a client position; returns the result and the document."""
        doc = self.workspace.text_documents.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"unknown document {uri}; send didOpen first")
        lines = doc.lines
        if position.line > len(lines) or (position.line == len(lines) and position.character):
            raise JsonRpcInvalidParams(
                f"position {position.line}:{position.character} is outside {uri}")
        settings = self.settings_for(uri)
        language = doc.language_id or "python"
        langs = settings.completion.languages
        path = document_path(uri)
        if not settings.completion.enabled or ("*" not in langs and language not in langs):
            return None, doc
        if is_excluded(path, settings.context.exclude):
            return None, doc
        if self.loading is not None and not self.loading.done():
            await asyncio.wrap_future(self.loading)
        if not self.vetting_ready and self.pipeline is not None:
            # the first suggestion waits for the fast analyzers (about a second after start)
            wait_fast = getattr(self.pipeline, "wait_fast", None)
            if wait_fast is not None:
                await asyncio.get_running_loop().run_in_executor(None, wait_fast, 20.0)
            self.vetting_ready = True
        assert self.service is not None
        text = doc.source
        offset = min(doc.offset_at_position(position), len(text))
        version = doc.version
        req = CompletionRequest(
            uri=uri, path=path, language=language, version=version or 0, text=text,
            offset=offset, settings=settings, kind=kind,
            others=self.others(uri, settings.context.exclude)
            if settings.context.crossfile_share > 0 else [],
        )

        def is_current() -> bool:
            current = self.workspace.text_documents.get(uri)
            return current is not None and current.version == version

        return await self.service.complete(req, is_current), doc


server = CodewardServer()


def create_server(model_override: str | None = None) -> CodewardServer:
    server.model_override = model_override
    return server


def _command(result: CompletionResult, index: int, title: str = "Accept") -> types.Command:
    cand = next((c for c in result.candidates if c.index == index), None)
    data: dict[str, Any] = {"id": result.id, "index": index}
    if cand is not None and cand.findings:
        data.update(action=cand.action, findings=cand.findings)
    return types.Command(title=title, command=ACCEPT_COMMAND, arguments=[data])


@server.feature(types.INITIALIZE)
def on_initialize(ls: CodewardServer, params: types.InitializeParams) -> None:
    ls.resolver.set_user(params.initialization_options)
    ls.start_backend()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def on_configuration(ls: CodewardServer, params: types.DidChangeConfigurationParams) -> None:
    ls.resolver.set_user(params.settings)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def on_open(ls: CodewardServer, params: types.DidOpenTextDocumentParams) -> None:
    prepare = getattr(ls.pipeline, "prepare", None)
    path = document_path(params.text_document.uri)
    if prepare is not None and not is_excluded(path, ls.settings_for(params.text_document.uri)
                                               .context.exclude):
        prepare(path or None, params.text_document.language_id)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def on_change(ls: CodewardServer, params: types.DidChangeTextDocumentParams) -> None:
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    if doc is not None:
        ls.recorder.document_changed(doc.uri, doc.source)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: CodewardServer, params: types.DidCloseTextDocumentParams) -> None:
    if ls.service is not None:
        ls.service.forget(params.text_document.uri)
    ls.recorder.feedback("close", {"uri": params.text_document.uri})


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def on_inline_completion(
    ls: CodewardServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    result, doc = await ls.complete_at(params.text_document.uri, params.position, "inline")
    if result is None or not result.candidates:
        return types.InlineCompletionList(items=[])
    pos = params.position
    return types.InlineCompletionList(items=[
        types.InlineCompletionItem(
            insert_text=c.text, range=types.Range(start=pos, end=pos),
            command=_command(result, c.index),
        )
        for c in result.candidates
    ])


@server.feature(types.TEXT_DOCUMENT_COMPLETION,
                types.CompletionOptions(trigger_characters=[".", "(", " "]))
async def on_completion(ls: CodewardServer,
                        params: types.CompletionParams) -> types.CompletionList:
    result, doc = await ls.complete_at(params.text_document.uri, params.position, "popup")
    if result is None or not result.candidates:
        return types.CompletionList(is_incomplete=True, items=[])
    # Replace the word before the cursor so that clients filter on it.
    offset = doc.offset_at_position(params.position)
    line_start = doc.source.rfind("\n", 0, offset) + 1
    word_start = offset
    while word_start > line_start and (doc.source[word_start - 1].isalnum()
                                       or doc.source[word_start - 1] == "_"):
        word_start -= 1
    word = doc.source[word_start:offset]
    start = doc.client_position_at_offset(word_start)
    snippets = _snippet_support(ls)
    items = []
    for c in result.candidates:
        first_line = c.text.split("\n", 1)[0].strip() or c.text.strip()
        label = (word + first_line if c.text and not c.text[0].isspace() else first_line)[:80]
        doc_text = f"```\n{word + c.text}\n```"
        if c.findings:
            doc_text += "\n\n" + "\n".join(
                f"- {f.get('rule_id', '?')}: {f.get('message', '')}" for f in c.findings)
        items.append(types.CompletionItem(
            label=label, kind=types.CompletionItemKind.Text, detail=f"codeward ({result.model})",
            documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=doc_text),
            filter_text=word + c.text, sort_text=f"0{c.index}",
            text_edit=types.TextEdit(
                range=types.Range(start=start, end=params.position),
                new_text=_escape_snippet(word + c.text) if snippets else word + c.text),
            # Some clients (Neovim) insert only the first word of a plain-text multi-word
            # item; as a snippet the whole suggestion is inserted.
            insert_text_format=types.InsertTextFormat.Snippet if snippets
            else types.InsertTextFormat.PlainText,
            insert_text_mode=types.InsertTextMode.AsIs,
            command=_command(result, c.index),
            data={"id": result.id, "index": c.index, "action": c.action, "findings": c.findings},
        ))
    return types.CompletionList(is_incomplete=True, items=items)


def _snippet_support(ls: CodewardServer) -> bool:
    try:
        item = ls.client_capabilities.text_document.completion.completion_item  # type: ignore[union-attr]
        return bool(item and item.snippet_support)
    except AttributeError:
        return False


def _escape_snippet(text: str) -> str:
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("}", "\\}")


@server.command(ACCEPT_COMMAND)
def on_accept_command(ls: CodewardServer, *args: Any) -> None:
    data = args[0] if args else {}
    if hasattr(data, "__dict__") and not isinstance(data, dict):
        data = vars(data)
    ls.recorder.feedback("accept", dict(data) if isinstance(data, dict) else {"raw": data})


def _params_dict(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if isinstance(params, dict):
        return params
    if hasattr(params, "_asdict"):
        return dict(params._asdict())
    return {k: v for k, v in vars(params).items() if not k.startswith("_")}


@server.feature(DID_SHOW)
def on_did_show(ls: CodewardServer, params: Any) -> None:
    ls.recorder.feedback("show", _params_dict(params))


@server.feature(DID_ACCEPT)
def on_did_accept(ls: CodewardServer, params: Any) -> None:
    ls.recorder.feedback("accept", _params_dict(params))


@server.feature(DID_DISMISS)
def on_did_dismiss(ls: CodewardServer, params: Any) -> None:
    ls.recorder.feedback("dismiss", _params_dict(params))


@server.feature(EXPLAIN)
def on_explain(ls: CodewardServer, params: Any) -> dict[str, Any]:
    """Findings and reasons for a completion id (the most recent one if no id is given)."""
    wanted = _params_dict(params).get("id")
    if ls.service is None or not ls.service.recent:
        return {"id": wanted, "found": False}
    if wanted is None:
        wanted = next(reversed(ls.service.recent))
    entry = ls.service.recent.get(str(wanted))
    if entry is None:
        return {"id": wanted, "found": False}
    _, result = entry

    def cand(c: Any) -> dict[str, Any]:
        return {"index": c.index, "text": c.text, "action": c.action, "findings": c.findings,
                "statuses": c.statuses}

    return {"id": result.id, "found": True, "model": result.model, "reason": result.reason,
            "uri": result.uri, "version": result.version,
            "candidates": [cand(c) for c in result.candidates],
            "blocked": [cand(c) for c in result.blocked]}


@server.feature(STATUS)
def on_status(ls: CodewardServer, params: Any) -> dict[str, Any]:
    engine = ls.host.engine if ls.host else None
    return {
        "version": __version__,
        "model": engine.manifest.name if engine else None,
        "model_version": engine.manifest.version if engine else None,
        "model_dir": str(engine.model_dir) if engine else None,
        "model_error": ls.model_error or (ls.host.error if ls.host else ""),
        "loading": bool(ls.loading and not ls.loading.done()),
        "engine": engine.stats.as_dict() if engine else {},
        "analyzers": ls.pipeline.status() if ls.pipeline else {},
        "busy_rejections": ls.service.busy_rejections if ls.service else 0,
        "events": ls.recorder.stats() if hasattr(ls.recorder, "stats") else {},
    }


@server.feature(types.SHUTDOWN)
def on_shutdown(ls: CodewardServer, *args: Any) -> None:
    if ls.service is not None:
        ls.service.close()
    ls.recorder.close()
    if ls.pipeline is not None:
        ls.pipeline.close()
