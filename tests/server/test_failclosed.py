"""The server with a vetting pipeline that cannot start: every suggestion is withheld
(the designed "block"), never an internal error, and the editor is told once."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig

from lsp_client import inline, open_doc, status

BROKEN = """
import sys
import codeward.analyzers.pipeline as p
def broken(*args, **kwargs):
    raise ImportError("bandit is broken")
p.Pipeline.from_settings = broken
from codeward.server.cli import main
sys.exit(main(sys.argv[1:]))
"""


async def test_broken_analyzer_set_blocks_every_suggestion(tiny_model_dir: Path) -> None:
    config = ClientServerConfig(server_command=[
        sys.executable, "-c", BROKEN, "serve", "--model", str(tiny_model_dir)])
    client = await config.start()
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=types.ClientCapabilities()))
        uri = (Path(tempfile.mkdtemp()) / "m.py").as_uri()
        open_doc(client, uri, "def add(a, b):\n    \n")
        result = await inline(client, uri, 1, 4)  # an internal error would raise here
        assert result is None or not result.items
        st = await status(client)
        assert st["analyzers"] == {"pipeline": "error: bandit is broken"}
        assert any("vetting unavailable" in m.message for m in client.messages)
    finally:
        await client.shutdown_session()
