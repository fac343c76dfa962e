"""A promoted show/rank policy is hot-swapped into a running ``codeward serve`` under
concurrent completion requests (none fails); an unreadable one is rejected and the policy
in place keeps deciding."""

from __future__ import annotations

import asyncio
import json
import sys

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from codeward.finetune import registry as reg
from codeward.finetune.simulate import wait_ready
from codeward.server.showpolicy import FORMAT

BODY = ("def load_records(path):\n    with open(path, encoding='utf-8') as fh:\n"
        "        return [Record.from_dict(row) for row in json.load(fh)]\n")
PREFIX = "def load_records(path):\n    with open(path, encoding='utf-8') as fh:\n        "


def _policy(threshold: float) -> dict:
    return {"format": FORMAT, "threshold": threshold,
            "models": {"*": {"intercept": 0.0, "weights": {"source=index": 1.0}}}}


async def _status(client) -> dict:
    result = await client.protocol.send_request_async("codeward/status", {})
    return result if isinstance(result, dict) else {
        k: getattr(result, k, None) for k in ("policy_version", "model")}


async def test_policy_hot_swap_under_concurrent_requests(tmp_path, tiny_model_dir):
    r = tmp_path / "reg"
    reg.add_version(r, tiny_model_dir)
    reg.promote(r, "v1")
    show_all = reg.add_policy(r, _policy(0.0), metrics={}, dataset={})
    show_none = reg.add_policy(r, _policy(1.0), metrics={}, dataset={})
    broken = reg.add_policy(r, _policy(0.0), metrics={}, dataset={})
    reg.promote_policy(r, show_all)
    root = tmp_path / "ws"
    root.mkdir()
    (root / "store.py").write_text(BODY)
    doc = root / "new.py"
    client = LanguageClient("test", "1")
    await client.start_io(sys.executable, "-m", "codeward.server.cli", "serve",
                          "--log-file", str(tmp_path / "server.log"))
    try:
        await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=root.as_uri(),
            initialization_options={
                "model": {"registry": str(r), "watch_interval": 0.2},
                "events": {"enabled": False}, "index": {"cache": False},
                "analyzers": {"license": {"enabled": False, "acknowledge_disabled": True}}}))
        client.initialized(types.InitializedParams())
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=doc.as_uri(), language_id="python",
                                                 version=1, text=PREFIX + "\n")))
        failures: list[str] = []
        served: list[tuple[str, int]] = []
        stop = asyncio.Event()

        async def ask() -> int:
            res = await asyncio.wait_for(client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=doc.as_uri()),
                    position=types.Position(line=2, character=8),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Invoked))), 20)
            return len(res.items) if res is not None else 0

        async def hammer() -> None:
            while not stop.is_set():
                try:
                    status = (await _status(client))["policy_version"]
                    served.append((status, await ask()))
                except Exception as exc:  # any error or timeout is a failed request
                    failures.append(repr(exc))

        await wait_ready(client, 60)
        for _ in range(100):  # the workspace is indexed in the background
            if await ask():
                break
            await asyncio.sleep(0.1)
        assert (await _status(client))["policy_version"] == show_all
        workers = [asyncio.create_task(hammer()) for _ in range(4)]
        await asyncio.sleep(0.5)
        reg.promote_policy(r, show_none)
        for _ in range(100):
            await asyncio.sleep(0.1)
            if (await _status(client))["policy_version"] == show_none:
                break
        await asyncio.sleep(0.5)
        (r / "policies" / broken / "policy.json").write_text('{"format": "x"}')
        (r / "POLICY").write_text(json.dumps({"version": broken}) + "\n")
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*workers)
        assert failures == []
        assert any(n for v, n in served if v == show_all)  # shown under the first policy
        late = [n for v, n in served if v == show_none]
        assert late and not any(late)  # everything withheld under the second
        assert (await _status(client))["policy_version"] == show_none  # broken: rejected
        assert await ask() == 0
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        server = getattr(client, "_server", None)
        if server is not None and server.returncode is None:
            server.terminate()  # a failed assertion left it running
        await client.stop()
    assert "the old one keeps deciding" in (tmp_path / "server.log").read_text()
