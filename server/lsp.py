"""The language server: thin handlers over the backend (``backend``), settings and events.

Handlers fetch the document, convert positions with the document's negotiated position
codec, call plain functions, and build protocol types last (``lsp_convert``).
``create_server()`` builds a fresh server with every feature registered on it; the heavy
:class:`~.backend.Backend` can be shared between servers (one per connection).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from . import __version__, sessions, transport
from .backend import Backend, Level
from .completion import CompletionRequest, document_path
from .context import OtherDocument, is_excluded
from .document import use_codeward_documents
from .framing import DEFAULT_MAX_BYTES
from .lsp_convert import (
    ACCEPT_COMMAND,
    command_dict,
    explain_dict,
    feedback_dict,
    lsp_completion_items,
    lsp_inline_items,
    params_dict,
    snippet_support,
    word_start,
    workspace_root,
)
from .positions import line_starts
from .protocol import DID_ACCEPT, DID_DISMISS, DID_SHOW, CodewardProtocol, FeedbackParams
from .settings import Settings, SettingsResolver

logger = logging.getLogger(__name__)

EXPLAIN = "codeward/explain"
STATUS = "codeward/status"
MAX_URI = 8192
_LEVELS = {"error": types.MessageType.Error, "warning": types.MessageType.Warning}


class CodewardServer(LanguageServer):
    def __init__(self, backend: Backend) -> None:
        super().__init__("codeward", __version__, protocol_cls=CodewardProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.backend = backend
        self.resolver = SettingsResolver(report=self.report_settings_problem)
        self._shown_messages: set[str] = set()
        self.session = uuid.uuid4().hex[:12]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self.owns_backend = True
        """False for a TCP session: the listener closes the shared backend, not ``shutdown``."""
        self.max_message_bytes = DEFAULT_MAX_BYTES

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        """stdio, through our frame reader (a size cap, resynchronisation after a bad frame)."""
        transport.serve_stdio(self, self.max_message_bytes)

    def start_tcp(self, host: str, port: int) -> None:
        """TCP: every connection its own session over this server's backend (see
        ``transport``)."""
        sessions.serve_tcp(self, host, port, lambda: create_server(backend=self.backend))

    def report_settings_problem(self, message: str) -> None:
        logger.warning("%s", message)
        self.show_once(message, "warning")

    def show_once(self, message: str, level: Level) -> None:
        """Tell the user once (backend threads too: the message is sent from the loop)."""
        loop = self._loop
        if loop is not None and threading.current_thread() is not self._loop_thread:
            loop.call_soon_threadsafe(self.show_once, message, level)
            return
        if message in self._shown_messages:
            return
        self._shown_messages.add(message)
        try:
            self.window_show_message(types.ShowMessageParams(type=_LEVELS[level],
                                                             message=message))
        except Exception:  # no client connected (tests driving handlers directly)
            logger.debug("could not show message %r", message)

    def settings_for(self, uri: str) -> Settings:
        path = document_path(uri)
        return self.resolver.for_path(Path(path) if path else None)

    def document(self, uri: str, position: types.Position) -> TextDocument:
        """The synced document; InvalidParams for an unknown one or a position outside it."""
        if len(uri) > MAX_URI:
            raise JsonRpcInvalidParams(f"document URI of {len(uri)} characters is too long")
        doc = self.workspace.text_documents.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"unknown document {uri}; send didOpen first")
        if position.line >= len(line_starts(doc.source)):  # a character past the end clamps
            raise JsonRpcInvalidParams(
                f"position {position.line}:{position.character} is outside {uri}")
        return doc

    def others(self, uri: str, exclude: list[str]) -> list[OtherDocument]:
        """The other open documents (cross-file context), excluded files left out."""
        docs = []
        for other_uri, doc in list(self.workspace.text_documents.items()):
            path = document_path(other_uri)
            if other_uri != uri and not is_excluded(path, exclude):
                docs.append(OtherDocument(path=path or other_uri,
                                          language=doc.language_id or "", text=doc.source))
        return docs

    def request_at(self, doc: TextDocument, position: types.Position,
                   kind: str) -> CompletionRequest:
        settings = self.settings_for(doc.uri)
        text = doc.source
        return CompletionRequest(
            uri=doc.uri, path=document_path(doc.uri), language=doc.language_id or "python",
            version=doc.version or 0, text=text,
            offset=min(doc.offset_at_position(position), len(text)), settings=settings,
            kind=kind, session=self.session, others=self.others(doc.uri, settings.context.exclude)
            if settings.context.crossfile_share > 0 else [],
        )

    def is_current(self, doc: TextDocument) -> Callable[[], bool]:
        uri, version, text = doc.uri, doc.version, doc.source

        def check() -> bool:
            # content too: a client may send a decreasing version for newer text
            current = self.workspace.text_documents.get(uri)
            return current is not None and current.version == version and (
                current.source is text or current.source == text)
        return check


# -- handlers ------------------------------------------------------------------------------

def on_initialize(ls: CodewardServer, params: types.InitializeParams) -> None:
    ls._loop, ls._loop_thread = asyncio.get_running_loop(), threading.current_thread()
    use_codeward_documents(ls.workspace)
    ls.resolver.set_user(params.initialization_options)
    root = workspace_root(params)
    ls.backend.start(ls.resolver.for_path(root) if root else ls.resolver.base(), ls.show_once,
                     root)


WATCHED = ("**/*.py", "**/*.pyi")
"""What the index wants to hear about from the client's file watcher."""


def on_initialized(ls: CodewardServer, params: types.InitializedParams) -> None:
    """Ask the client to watch the workspace's source files (LSP 3.17 dynamic
    registration), so that files changed outside the editor reach the index."""
    if ls.backend.index is None or ls.backend.root is None:
        return
    caps = ls.client_capabilities.workspace
    watched = caps.did_change_watched_files if caps else None
    if not (watched and watched.dynamic_registration):
        logger.info("the client cannot watch files for us: the index follows open "
                    "documents only")
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=g) for g in WATCHED])
    ls.client_register_capability(types.RegistrationParams(registrations=[types.Registration(
        id=f"codeward-watch-{ls.session}", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=options)]))


def on_watched_files(ls: CodewardServer, params: types.DidChangeWatchedFilesParams) -> None:
    changes = [(path, change.type == types.FileChangeType.Deleted)
               for change in params.changes if (path := document_path(change.uri))]
    ls.backend.files_changed(changes)


def on_configuration(ls: CodewardServer, params: types.DidChangeConfigurationParams) -> None:
    ls.resolver.set_user(params.settings)


def on_open(ls: CodewardServer, params: types.DidOpenTextDocumentParams) -> None:
    uri = params.text_document.uri
    if not is_excluded(document_path(uri), ls.settings_for(uri).context.exclude):
        ls.backend.prepare(document_path(uri) or None, params.text_document.language_id)
        ls.backend.document_opened(uri, document_path(uri), params.text_document.text)


def on_change(ls: CodewardServer, params: types.DidChangeTextDocumentParams) -> None:
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    if doc is not None:
        ls.backend.recorder.document_changed(doc.uri, doc.source)
        ls.backend.document_changed(doc.uri, doc.source)


def on_close(ls: CodewardServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.backend.forget(params.text_document.uri, ls.session)
    ls.backend.document_closed(params.text_document.uri)
    ls.backend.recorder.feedback("close", {"uri": params.text_document.uri})


async def on_inline_completion(ls: CodewardServer, params: types.InlineCompletionParams,
                               ) -> types.InlineCompletionList:
    doc = ls.document(params.text_document.uri, params.position)
    req = ls.request_at(doc, params.position, "inline")
    result = await ls.backend.completions.complete(req, ls.is_current(doc))
    return lsp_inline_items(result, params.position)


async def on_completion(ls: CodewardServer,
                        params: types.CompletionParams) -> types.CompletionList:
    doc = ls.document(params.text_document.uri, params.position)
    req = ls.request_at(doc, params.position, "popup")
    start = word_start(req.text, req.offset)
    replace = types.Range(start=doc.client_position_at_offset(start), end=params.position)
    result = await ls.backend.completions.complete(req, ls.is_current(doc))
    return lsp_completion_items(result, req.text[start:req.offset], replace,
                                snippet_support(ls.client_capabilities))


def on_accept_command(ls: CodewardServer, *args: Any) -> None:
    data = command_dict(args)
    ls.backend.recorder.feedback("accept", data)
    if "id" in data and isinstance(data.get("index"), int):
        ls.backend.accepted(data["id"], data["index"])


def on_did_show(ls: CodewardServer, params: FeedbackParams) -> None:
    ls.backend.recorder.feedback("show", feedback_dict(params))


def on_did_accept(ls: CodewardServer, params: FeedbackParams) -> None:
    ls.backend.recorder.feedback("accept", feedback_dict(params))
    ls.backend.accepted(params.id, params.index, params.accepted_length)


def on_did_dismiss(ls: CodewardServer, params: FeedbackParams) -> None:
    ls.backend.recorder.feedback("dismiss", feedback_dict(params))


def on_explain(ls: CodewardServer, params: Any) -> dict[str, Any]:
    """Findings and reasons for a completion id (the most recent one if no id is given)."""
    recent = ls.backend.service.recent_for(ls.session) if ls.backend.service else {}
    wanted = params_dict(params).get("id")
    if wanted is not None and not isinstance(wanted, str):
        raise JsonRpcInvalidParams("codeward/explain: 'id' must be a string")
    return explain_dict(recent, wanted)


def on_status(ls: CodewardServer, params: Any) -> dict[str, Any]:
    return ls.backend.status()


def on_shutdown(ls: CodewardServer, *args: Any) -> None:
    if ls.owns_backend:
        ls.backend.close()


FEATURES: list[tuple[str, Any, Callable[..., Any]]] = [
    (types.INITIALIZE, None, on_initialize),
    (types.INITIALIZED, None, on_initialized),
    (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, on_watched_files),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, None, on_configuration),
    (types.TEXT_DOCUMENT_DID_OPEN, None, on_open),
    (types.TEXT_DOCUMENT_DID_CHANGE, None, on_change),
    (types.TEXT_DOCUMENT_DID_CLOSE, None, on_close),
    (types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions(),
     on_inline_completion),
    (types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "(", " "]),
     on_completion),
    (DID_SHOW, None, on_did_show),
    (DID_ACCEPT, None, on_did_accept),
    (DID_DISMISS, None, on_did_dismiss),
    (EXPLAIN, None, on_explain),
    (STATUS, None, on_status),
    (types.SHUTDOWN, None, on_shutdown),
]


def create_server(model_override: str | None = None,
                  backend: Backend | None = None) -> CodewardServer:
    """A fresh server with every feature registered on it, over ``backend`` (shared) or a
    new one."""
    server = CodewardServer(backend if backend is not None else Backend(model_override))
    for name, options, handler in FEATURES:
        server.feature(name, options)(handler)
    server.command(ACCEPT_COMMAND)(on_accept_command)
    return server
