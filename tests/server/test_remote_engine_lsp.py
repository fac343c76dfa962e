"""The remote engine through the real language server (pytest-lsp over stdio) and a real
OpenAI-compatible HTTP server (tests/server/fake_openai.py): completions and the gate,
cancellation and staleness closing the stream, a down server (fallback, one message,
breaker), and a project file's URL refused until the user confirms it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from fake_openai import FakeOpenAI
from lsp_client import change_doc, inline, open_doc, start_server, status

DOC = "def add(a, b):\n    \n"


def remote(url: str, **engine: Any) -> dict[str, Any]:
    return {"codeward": {"engine": {"backend": "openai", "url": url, **engine}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def window_messages(client: Any, needle: str) -> list[str]:
    return [m.message for m in client.messages if needle in m.message]


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_completions_come_from_the_server_and_logprobs_reach_the_gate(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    uri = (tmp_path / "mod.py").as_uri()
    with FakeOpenAI("total = a + b\n    return total\n", logprob=-0.05) as fake:
        client = await start_server(tiny_model_dir, init_options=remote(fake.url))
        try:
            open_doc(client, uri, DOC)
            result = await inline(client, uri, 1, 4)
            assert [i.insert_text for i in result.items] == ["total = a + b\n    return total"]
            body = fake.streams[0].body
            assert body["prompt"].startswith("<fim_prefix>def add(a, b):\n    ")
            assert body["prompt"].endswith("<fim_middle>")
            st = await status(client)
            assert st["remote"]["state"] == "closed" and st["engine"]["requests"] == 1
            # the same server without log-probabilities: the gate withholds its text
            fake.logprob = None
            change_doc(client, uri, 2, (1, 4), (1, 4), "#")
            withheld = await inline(client, uri, 1, 5)
            assert len(fake.streams) == 2 and not withheld.items
        finally:
            await client.shutdown_session()


async def test_cancel_and_stale_requests_close_the_stream(tiny_model_dir: Path,
                                                          tmp_path: Path) -> None:
    uri = (tmp_path / "mod.py").as_uri()
    options = remote("", max_new_tokens=400, single_line_max_tokens=400)
    options["codeward"]["completion"] = {"multiline": "never"}
    with FakeOpenAI("w" + " w" * 500, token_delay=0.01) as fake:
        options["codeward"]["engine"]["url"] = fake.url
        client = await start_server(tiny_model_dir, init_options=options)
        try:
            open_doc(client, uri, DOC)
            task = asyncio.ensure_future(inline(client, uri, 1, 4))
            await wait_for(lambda: fake.streams and fake.streams[0].produced > 5)
            msg_id = max(client.protocol._request_futures, key=lambda k: int(k)
                         if str(k).isdigit() else -1)
            client.cancel_request(types.CancelParams(id=msg_id))
            cancelled_at = time.monotonic()
            with pytest.raises((JsonRpcException, asyncio.CancelledError)):
                await task
            first = fake.streams[0]
            assert await asyncio.to_thread(first.ended.wait, 5)
            assert first.closed_early and first.ended_at - cancelled_at < 1.0
            assert first.produced < 200
            # stale: the document changes while the server streams
            task = asyncio.ensure_future(inline(client, uri, 1, 4))
            await wait_for(lambda: len(fake.streams) == 2 and fake.streams[1].produced > 5)
            change_doc(client, uri, 2, (1, 4), (1, 4), "x")
            changed_at = time.monotonic()
            assert not (await task).items
            second = fake.streams[1]
            assert await asyncio.to_thread(second.ended.wait, 5)
            assert second.closed_early and second.ended_at - changed_at < 1.0
        finally:
            await client.shutdown_session()


async def test_down_server_falls_back_to_the_local_model_then_recovers(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    uri = (tmp_path / "mod.py").as_uri()
    port = free_port()
    options = remote(f"http://127.0.0.1:{port}", breaker_failures=2, retry_initial=1.0)
    client = await start_server(tiny_model_dir, init_options=options)
    try:
        open_doc(client, uri, DOC)
        start = time.monotonic()
        for _ in range(4):
            result = await inline(client, uri, 1, 4)
            assert [i.insert_text for i in result.items] == ["return a + b"]  # local model
        assert time.monotonic() - start < 5
        st = await status(client)
        assert st["remote"]["state"] == "open" and st["remote"]["opened"] == 1
        assert st["engine"]["requests"] >= 4 and st["model"] == "tiny-taught"
        await asyncio.sleep(0.2)
        assert len(window_messages(client, "is not answering")) == 1
        with FakeOpenAI("return b + a\n", port=port) as fake:
            wait = (await status(client))["remote"]["retry_in_s"]
            assert 0 < wait <= 1.0
            await asyncio.sleep(wait + 0.05)
            result = await inline(client, uri, 1, 4)  # the half-open probe
            assert [i.insert_text for i in result.items] == ["return b + a"]
            assert len(fake.streams) == 1
            assert (await status(client))["remote"]["state"] == "closed"
    finally:
        await client.shutdown_session()


async def test_a_project_files_url_is_refused_until_confirmed(tiny_model_dir: Path,
                                                              tmp_path: Path) -> None:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    uri = (workspace / "mod.py").as_uri()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    with FakeOpenAI("return b + a\n") as fake:
        (workspace / ".codeward.toml").write_text(
            f'[engine]\nbackend = "openai"\nurl = "{fake.url}/v1"\n'
            'api_key_env = "AWS_SECRET_ACCESS_KEY"\n')
        client = await start_server(tiny_model_dir, root=workspace, env=env)
        try:
            open_doc(client, uri, DOC)
            result = await inline(client, uri, 1, 4)
            assert [i.insert_text for i in result.items] == ["return a + b"]  # local
            assert not fake.streams  # nothing was sent to the project's host
            await asyncio.sleep(0.2)
            refused = window_messages(client, "not confirmed")
            assert len(refused) == 1 and "codeward engine trust http://127.0.0.1:" in refused[0]
            assert window_messages(client, "engine.api_key_env can only be set")
        finally:
            await client.shutdown_session()
        done = subprocess.run(
            [sys.executable, "-m", "codeward.server.cli", "engine", "trust", fake.url],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        client = await start_server(tiny_model_dir, root=workspace, env=env)
        try:
            open_doc(client, uri, DOC)
            result = await inline(client, uri, 1, 4)
            assert [i.insert_text for i in result.items] == ["return b + a"]  # remote
            assert len(fake.streams) == 1
            assert "Authorization" not in fake.streams[0].headers
        finally:
            await client.shutdown_session()
