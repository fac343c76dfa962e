"""The real server over stdio (pytest-lsp): completions, sync, cancellation, stale drops,
position encodings, errors and lifecycle."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp_client import change_doc, inline, open_doc, start_server, status

WORKDIR = Path(tempfile.mkdtemp(prefix="codeward-lsp-"))
URI = (WORKDIR / "mod.py").as_uri()
B_URI = (WORKDIR / "b.py").as_uri()


@pytest.fixture(scope="module", autouse=True)
def _workdir_removed() -> Iterator[None]:
    yield
    shutil.rmtree(WORKDIR, ignore_errors=True)


async def test_initialize_advertises_features(tiny_model_dir: Path) -> None:
    client = await start_server(tiny_model_dir)
    try:
        caps = client.init_result.capabilities
        assert caps.inline_completion_provider is not None
        assert caps.completion_provider is not None
        sync = caps.text_document_sync
        assert getattr(sync, "change", sync) == types.TextDocumentSyncKind.Incremental
        assert caps.position_encoding == types.PositionEncodingKind.Utf16
        assert "codeward.acceptCompletion" in caps.execute_command_provider.commands
    finally:
        await client.shutdown_session()


async def test_inline_and_popup_completion(tiny_model_dir: Path) -> None:
    client = await start_server(tiny_model_dir)
    try:
        open_doc(client, URI, "def add(a, b):\n    \n")
        result = await inline(client, URI, 1, 4)
        assert [i.insert_text for i in result.items] == ["return a + b"]
        item = result.items[0]
        assert item.command.command == "codeward.acceptCompletion"
        assert item.command.arguments[0]["id"]
        # incremental edit: type "ret" then ask the popup
        change_doc(client, URI, 2, (1, 4), (1, 4), "ret")
        popup = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=1, character=7)))
        assert popup.items, "no popup items"
        edit = popup.items[0].text_edit
        assert edit.new_text == "return a + b"
        assert edit.range.start == types.Position(line=1, character=4)
        assert edit.range.end == types.Position(line=1, character=7)
        st = await status(client)
        assert st["model"] == "tiny-taught" and st["engine"]["requests"] >= 1
    finally:
        await client.shutdown_session()


async def test_typing_into_a_suggestion_reuses_it(tiny_model_dir: Path) -> None:
    client = await start_server(tiny_model_dir)
    try:
        open_doc(client, URI, "def add(a, b):\n    \n")
        first = await inline(client, URI, 1, 4)
        assert first.items[0].insert_text == "return a + b"
        before = (await status(client))["engine"]["requests"]
        change_doc(client, URI, 2, (1, 4), (1, 4), "retu")
        second = await inline(client, URI, 1, 8)
        assert second.items[0].insert_text == "rn a + b"
        assert (await status(client))["engine"]["requests"] == before  # no new generation
    finally:
        await client.shutdown_session()


SLOW = {"CODEWARD_DEBUG_STEP_DELAY_MS": "30"}
LONG = {"codeward": {"engine": {"max_new_tokens": 200, "single_line_max_tokens": 200},
                     "completion": {"multiline": "always", "max_lines": 500}}}


async def test_cancel_stops_the_decoder(random_model_dir: Path) -> None:
    client = await start_server(random_model_dir, env=SLOW, init_options=LONG)
    try:
        open_doc(client, URI, "import os\n\ndef main():\n    \n")
        full = await inline(client, URI, 3, 4)
        full_steps = (await status(client))["engine"]["last_steps"]
        assert full_steps >= 30, f"model stopped by itself after {full_steps} steps"
        task = asyncio.ensure_future(inline(client, URI, 3, 4))
        await asyncio.sleep(0.4)
        # the request id of the task is the last one sent
        msg_id = max(client.protocol._request_futures, key=lambda k: int(k)
                     if str(k).isdigit() else -1)
        client.cancel_request(types.CancelParams(id=msg_id))
        with pytest.raises((JsonRpcException, asyncio.CancelledError)):
            await task
        await asyncio.sleep(0.3)
        st = (await status(client))["engine"]
        assert st["cancelled"] == 1
        assert 0 < st["last_cancelled_steps"] < full_steps / 2, (st, full_steps)
        del full
    finally:
        await client.shutdown_session()


async def test_result_for_older_version_is_never_shown(random_model_dir: Path) -> None:
    client = await start_server(random_model_dir, env=SLOW, init_options=LONG)
    try:
        open_doc(client, URI, "import os\n\ndef main():\n    \n")
        task = asyncio.ensure_future(inline(client, URI, 3, 4))
        await asyncio.sleep(0.3)
        change_doc(client, URI, 2, (3, 4), (3, 4), "x")
        result = await task
        assert not result.items
    finally:
        await client.shutdown_session()


EMOJI_TEXT = 'label = "😀😀"; ret\r\nx = 1\r\n'


@pytest.mark.parametrize(("encoding", "character"), [("utf-16", 19), ("utf-8", 23)])
async def test_positions_in_negotiated_encoding(tiny_model_dir: Path, encoding: str,
                                                character: int) -> None:
    """The cursor after ``ret`` is at 19 UTF-16 units or 23 UTF-8 bytes (two astral
    characters, CRLF lines); the popup's edit range must be in the same units."""
    client = await start_server(tiny_model_dir, encodings=[encoding])
    try:
        assert client.init_result.capabilities.position_encoding == encoding
        open_doc(client, URI, EMOJI_TEXT)
        popup = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=0, character=character)))
        for item in popup.items:
            assert item.text_edit.new_text.startswith("ret")
            assert item.text_edit.range.start.character == character - 3
            assert item.text_edit.range.end.character == character
        # a position on the second (CRLF) line
        res = await inline(client, URI, 1, 5)
        assert res is not None
    finally:
        await client.shutdown_session()


async def test_errors_for_bad_requests(tiny_model_dir: Path) -> None:
    client = await start_server(tiny_model_dir)
    try:
        with pytest.raises(JsonRpcException) as err:
            await inline(client, "file:///nowhere.py", 0, 0)
        assert err.value.code == -32602
        open_doc(client, URI, "x = 1\n")
        with pytest.raises(JsonRpcException) as err:
            await inline(client, URI, 40, 0)
        assert err.value.code == -32602
        # still alive and serving
        open_doc(client, B_URI, "def add(a, b):\n    \n")
        ok = await inline(client, B_URI, 1, 4)
        assert ok.items
    finally:
        await client.shutdown_session()


async def test_bad_settings_do_not_crash(tiny_model_dir: Path) -> None:
    client = await start_server(tiny_model_dir, init_options={
        "codeward": {"engine": {"max_new_tokens": "lots"}, "bogus": True}})
    try:
        open_doc(client, URI, "def add(a, b):\n    \n")
        result = await inline(client, URI, 1, 4)
        assert result.items[0].insert_text == "return a + b"
        messages = [m.message for m in client.messages]
        assert any("engine.max_new_tokens" in m for m in messages)
    finally:
        await client.shutdown_session()


async def test_excluded_and_disabled_documents(tiny_model_dir: Path) -> None:
    client = await start_server(tiny_model_dir)
    try:
        env_uri = (WORKDIR / ".env").as_uri()
        open_doc(client, env_uri, "def add(a, b):\n    \n")
        assert not (await inline(client, env_uri, 1, 4)).items
        go_uri = (WORKDIR / "main.go").as_uri()
        open_doc(client, go_uri, "def add(a, b):\n    \n", language="go")
        assert not (await inline(client, go_uri, 1, 4)).items
    finally:
        await client.shutdown_session()


async def test_full_queue_answers_empty_at_once(random_model_dir: Path) -> None:
    options = {"codeward": {**LONG["codeward"], "engine": {
        **LONG["codeward"]["engine"], "max_queue": 1, "inter_threads": 1}}}
    client = await start_server(random_model_dir, env=SLOW, init_options=options)
    try:
        uris = [(WORKDIR / f"q{i}.py").as_uri() for i in range(3)]
        for uri in uris:
            open_doc(client, uri, "import os\n\ndef main():\n    \n")
        await inline(client, uris[0], 3, 4)  # model loaded
        first = asyncio.ensure_future(inline(client, uris[0], 3, 4))
        await asyncio.sleep(0.2)
        t0 = asyncio.get_running_loop().time()
        rejected = await inline(client, uris[1], 3, 4)
        assert asyncio.get_running_loop().time() - t0 < 1.0
        assert not rejected.items
        await first
        assert (await status(client))["busy_rejections"] >= 1
    finally:
        await client.shutdown_session()


async def test_did_change_configuration_applies(tiny_model_dir: Path) -> None:
    client = await start_server(tiny_model_dir)
    try:
        open_doc(client, URI, "def add(a, b):\n    \n")
        assert (await inline(client, URI, 1, 4)).items
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"codeward": {"completion": {"enabled": False}}}))
        change_doc(client, URI, 2, (0, 0), (0, 0), "")
        assert not (await inline(client, URI, 1, 4)).items
    finally:
        await client.shutdown_session()
