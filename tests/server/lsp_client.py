"""Start the real ``codeward serve`` over stdio with pytest-lsp's client."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient


async def start_server(model_dir: Path, *, encodings: list[str] | None = None,
                       init_options: dict[str, Any] | None = None,
                       env: dict[str, str] | None = None,
                       initialize: bool = True,
                       args: list[str] | None = None,
                       root: Path | None = None) -> LanguageClient:
    server_env = {**os.environ, **(env or {})}
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "codeward.server.cli", "serve", "--model",
                        str(model_dir), *(args or [])],
        server_env=server_env,
    )
    client = await config.start()
    if initialize:
        caps = types.ClientCapabilities(
            general=types.GeneralClientCapabilities(
                position_encodings=[types.PositionEncodingKind(e) for e in encodings]
            ) if encodings else None,
        )
        # A generous vetting budget: on a loaded CI machine a timeout would withhold the
        # suggestion (fail-closed), which is right for users but not what these tests test.
        options = dict(init_options or {})
        target = options["codeward"] = dict(options.get("codeward", {}))
        for key in [k for k in options if k != "codeward"]:
            target.setdefault(key, options.pop(key))
        target.setdefault("vetting", {"budget_ms": 2000})
        result = await client.initialize_session(types.InitializeParams(
            capabilities=caps, initialization_options=options,
            root_uri=root.as_uri() if root is not None else None))
        client.init_result = result  # type: ignore[attr-defined]
    return client


def open_doc(client: LanguageClient, uri: str, text: str, version: int = 1,
             language: str = "python") -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language, version=version,
                                             text=text)))


def change_doc(client: LanguageClient, uri: str, version: int, start: tuple[int, int],
               end: tuple[int, int], text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(*start), end=types.Position(*end)),
            text=text)]))


async def inline(client: LanguageClient, uri: str, line: int, character: int):  # type: ignore[no-untyped-def]
    return await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic)))


def plain(obj: Any) -> Any:
    """pygls gives custom results as named tuples: turn them back into dicts and lists."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


async def request(client: LanguageClient, method: str, params: Any) -> Any:
    return plain(await client.protocol.send_request_async(method, params))


async def status(client: LanguageClient) -> dict[str, Any]:
    return await request(client, "codeward/status", {})
