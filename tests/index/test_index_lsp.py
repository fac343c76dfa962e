"""End to end through the real server over LSP: a small repository is indexed in the
background, a copy from it is suggested with its provenance (``codeward/explain``), an
accepted suggestion is found at the next keystroke, ignored files never show up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path

from lsp_client import inline, open_doc, request, start_server

REPO = {
    "pyproject.toml": '[project]\nname = "demo"\nlicense = "MIT"\n',
    ".gitignore": "secret_dir/\n",
    "app/store.py": ("import json\n\n\ndef load_records(path):\n"
                     "    with open(path, encoding='utf-8') as fh:\n"
                     "        return [Record.from_dict(row) for row in json.load(fh)]\n"),
    "secret_dir/hidden.py": ("def load_records(path):\n"
                             "    with open(path, encoding='utf-8') as fh:\n"
                             "        return hidden_marker(fh)\n"),
}


async def _ready(client, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await request(client, "codeward/status", {})
        if status["index"].get("ready"):
            return status["index"]
        await asyncio.sleep(0.2)
    raise AssertionError("the index was not built in time")


async def test_copies_from_the_repository_with_provenance(tiny_model_dir: Path,
                                                          tmp_path: Path) -> None:
    for name, text in REPO.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    client = await start_server(tiny_model_dir, initialize=False)
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=from_fs_path(str(tmp_path)),
            initialization_options={"codeward": {"vetting": {"budget_ms": 2000}}}))
        index = await _ready(client)
        assert index["builds"][0]["files"] == 1  # secret_dir/ is ignored
        uri = from_fs_path(str(tmp_path / "app" / "reader.py"))
        text = ("def load_records(path):\n    with open(path, encoding='utf-8') as fh:\n"
                "        \n")
        open_doc(client, uri, text)
        result = await inline(client, uri, 2, 8)
        texts = [item.insert_text for item in result.items]
        assert texts[0] == "return [Record.from_dict(row) for row in json.load(fh)]"
        assert not any("hidden_marker" in t for t in texts)
        arg = result.items[0].command.arguments[0]
        explained = await request(client, "codeward/explain", {"id": arg["id"]})
        first = explained["candidates"][0]
        assert first["source"] == "index"
        assert first["provenance"]["path"] == str(tmp_path / "app" / "store.py")
        assert first["provenance"]["line"] == 6
        assert first["gate"]["match_tokens"] >= 8 and first["gate"]["shown"]

        # accept a suggestion the index could not have made: it is found at the next keystroke
        other = from_fs_path(str(tmp_path / "app" / "other.py"))
        open_doc(client, other, "def add(a, b):\n    \n")
        first_try = await inline(client, other, 1, 4)
        model_arg = first_try.items[0].command.arguments[0]
        before = await request(client, "codeward/explain", {"id": model_arg["id"]})
        assert before["candidates"][0]["source"] == "model"
        assert first_try.items[0].insert_text == "return a + b"
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codeward.acceptCompletion", arguments=[model_arg]))
        third = from_fs_path(str(tmp_path / "app" / "third.py"))
        open_doc(client, third, "x = 1\ndef add(a, b):\n    \n")
        again = await inline(client, third, 2, 4)
        assert again.items[0].insert_text == "return a + b"
        after = await request(client, "codeward/explain",
                              {"id": again.items[0].command.arguments[0]["id"]})
        assert after["candidates"][0]["source"] == "index"
        assert after["candidates"][0]["provenance"]["source"] == "accepted"
    finally:
        await client.shutdown_session()


async def test_a_renamed_init_assignment_is_suggested(tiny_model_dir: Path,
                                                      tmp_path: Path) -> None:
    """No line of the repository fits verbatim, three fit in shape: ``self.host = host``
    after ``def __init__(self, host, port):`` (and two more like it) is offered as
    ``self.name = name`` after ``def __init__(self, name, size):``."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    for name, cls, a, b in (("server", "Server", "host", "port"),
                            ("client", "Client", "user", "key"),
                            ("proxy", "Proxy", "url", "timeout")):
        (tmp_path / f"{name}.py").write_text(
            f"import os\n\n\nclass {cls}:\n    def __init__(self, {a}, {b}):\n"
            f"        self.{a} = {a}\n        self.{b} = {b}\n")
    client = await start_server(tiny_model_dir, initialize=False)
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=from_fs_path(str(tmp_path)),
            initialization_options={"codeward": {"vetting": {"budget_ms": 2000}}}))
        await _ready(client)
        uri = from_fs_path(str(tmp_path / "thing.py"))
        open_doc(client, uri, "import os\n\n\nclass Thing:\n"
                              "    def __init__(self, name, size):\n        \n")
        result = await inline(client, uri, 5, 8)
        assert result.items[0].insert_text == "self.name = name"
        explained = await request(client, "codeward/explain",
                                  {"id": result.items[0].command.arguments[0]["id"]})
        first = explained["candidates"][0]
        assert first["source"] == "index" and first["gate"]["abstracted"] is True
        assert first["gate"]["renamed"] == 2 and first["gate"]["occurrences"] == 3
        assert first["gate"]["shown"]
        assert first["provenance"]["line"] == 6
        assert first["provenance"]["path"] in {str(tmp_path / f"{n}.py")
                                               for n in ("server", "client", "proxy")}
    finally:
        await client.shutdown_session()
