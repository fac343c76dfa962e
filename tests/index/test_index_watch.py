"""Files changed on disk outside the editor reach the index through the real server over
LSP: the server registers a ``workspace/didChangeWatchedFiles`` watcher with the client
(dynamic registration), and created, changed and deleted files are indexed, re-indexed
and dropped; ignored files stay out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from lsp_client import inline, open_doc, request, start_server

STORE = ("import json\n\n\ndef load_records(path):\n"
         "    with open(path, encoding='utf-8') as fh:\n"
         "        return [Record.from_dict(row) for row in json.load(fh)]\n")
EXTRA = ("def render_report(rows, width):\n"
         "    header = format_header(rows, width)\n"
         "    return header + render_rows_marker(rows, width)\n")
PREFIX = "def render_report(rows, width):\n    header = format_header(rows, width)\n    "


async def _until(client: Any, check: Callable[[dict], bool], what: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        index = (await request(client, "codeward/status", {}))["index"]
        if check(index):
            return index
        await asyncio.sleep(0.1)
    raise AssertionError(f"index: {what} did not happen in time")


def _changed(client: Any, path: Path, kind: types.FileChangeType) -> None:
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
        changes=[types.FileEvent(uri=from_fs_path(str(path)), type=kind)]))


async def _texts(client: Any, uri: str, text: str) -> list[str]:
    open_doc(client, uri, text)
    line = text.count("\n")
    result = await inline(client, uri, line, len(text.split("\n")[-1]))
    return [item.insert_text for item in result.items]


async def test_watched_files_update_the_index(tiny_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("generated/\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "store.py").write_text(STORE)
    client = await start_server(tiny_model_dir, initialize=False)
    registrations: list[types.RegistrationParams] = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(params: types.RegistrationParams) -> None:
        registrations.append(params)

    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=types.ClientCapabilities(workspace=types.WorkspaceClientCapabilities(
                did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(
                    dynamic_registration=True))),
            root_uri=from_fs_path(str(tmp_path)),
            initialization_options={"codeward": {"vetting": {"budget_ms": 2000}}}))
        await _until(client, lambda i: i.get("ready"), "the first build")
        reg = registrations[0].registrations[0]
        assert reg.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
        watchers = reg.register_options["watchers"]  # register_options arrive untyped
        assert {w["globPattern"] for w in watchers} >= {"**/*.py"}

        # created outside the editor: found by the next lookup, with its provenance
        extra = tmp_path / "app" / "report.py"
        extra.write_text(EXTRA)
        (tmp_path / "generated").mkdir()
        ignored = tmp_path / "generated" / "gen.py"
        ignored.write_text(EXTRA.replace("render_rows_marker", "generated_marker"))
        _changed(client, ignored, types.FileChangeType.Created)
        _changed(client, extra, types.FileChangeType.Created)
        await _until(client, lambda i: i["overlay_files"] == 1, "the created file")
        texts = await _texts(client, from_fs_path(str(tmp_path / "new1.py")), PREFIX)
        assert texts[0] == "return header + render_rows_marker(rows, width)"

        # changed on disk: the new version replaces the indexed one
        store = tmp_path / "app" / "store.py"
        store.write_text(STORE.replace("Record.from_dict(row)", "Changed.load(row)"))
        _changed(client, store, types.FileChangeType.Changed)
        await _until(client, lambda i: i["overlay_files"] == 2, "the changed file")
        texts = await _texts(client, from_fs_path(str(tmp_path / "new2.py")),
                             "def load_records(path):\n"
                             "    with open(path, encoding='utf-8') as fh:\n        ")
        assert texts[0] == "return [Changed.load(row) for row in json.load(fh)]"

        # deleted: its copies are gone
        extra.unlink()
        _changed(client, extra, types.FileChangeType.Deleted)
        await _until(client, lambda i: i["overlay_files"] == 1, "the deleted file")
        texts = await _texts(client, from_fs_path(str(tmp_path / "new3.py")), PREFIX)
        assert not any("render_rows_marker" in t or "generated_marker" in t for t in texts)
    finally:
        await client.shutdown_session()


async def test_no_watcher_without_dynamic_registration(tiny_model_dir: Path,
                                                       tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(STORE)
    client = await start_server(tiny_model_dir, initialize=False)
    registrations: list[Any] = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(params: types.RegistrationParams) -> None:
        registrations.append(params)

    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=from_fs_path(str(tmp_path))))
        await _until(client, lambda i: i.get("ready"), "the first build")
        assert registrations == []
    finally:
        await client.shutdown_session()
