"""Secrets test: >= 100 synthetic secrets of >= 10 kinds, seeded into open documents and into
suggestions during real LSP sessions (the server over stdio, the tiny model); afterwards the
database files (-wal included), the spill journal, the export and the log file hold none."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig

from codeward.server.cli import main as codeward_main

from synthetic import KINDS, secrets

HERE = Path(__file__).parent
CURSOR_PREFIX = "import os\n\ndef run(cmd):\n    "


def _doc(lines_before: list[str], lines_after: list[str]) -> tuple[str, types.Position]:
    before = "\n".join(lines_before) + "\n\n" + CURSOR_PREFIX
    text = before + "\n\n" + "\n".join(lines_after) + "\n"
    line = before.count("\n")
    return text, types.Position(line=line, character=4)


async def test_no_secret_reaches_any_file(tmp_path, tiny_model_dir) -> None:
    doc_secrets = secrets(120, seed=7)
    seed_secrets = secrets(45, seed=8)
    all_secrets = [s for _, s, _ in doc_secrets + seed_secrets]
    assert len({k for k, _, _ in doc_secrets + seed_secrets}) >= 10 and len(all_secrets) >= 100
    seeds = tmp_path / "seeds.json"
    seeds.write_text(json.dumps([line for _, _, line in seed_secrets if "\n" not in line]))
    db, log = tmp_path / "store" / "events.db", tmp_path / "server.log"
    db.parent.mkdir()
    env = {**os.environ, "CODEWARD_TEST_SEEDS": str(seeds),
           "XDG_DATA_HOME": str(tmp_path / "xdg"), "HF_HUB_OFFLINE": "1"}
    config = ClientServerConfig(
        server_command=[sys.executable, str(HERE / "seeded_server.py"), "serve", "--model",
                        str(tiny_model_dir), "--log-level", "DEBUG", "--log-file", str(log)],
        server_env=env)
    # Every model suggestion shown, however unsure the tiny model is after the documents'
    # random secret lines (the confidence gate is tested in tests/index).
    options = {"events": {"store": {"url": f"sqlite:///{db}"}, "prefix_chars": 20000,
                          "suffix_chars": 20000, "checkpoints": [0.2]},
               "index": {"policy": "ungated"}}
    n_docs = 8
    per_doc = len(doc_secrets) // n_docs
    completions = 0
    snapshots: dict[str, bytes] = {}
    for session in range(2):
        client = await config.start()
        try:
            await client.initialize_session(types.InitializeParams(
                capabilities=types.ClientCapabilities(), initialization_options=options,
                root_uri=tmp_path.as_uri()))
            for d in range(session, n_docs, 2):
                chunk = [line for _, _, line in doc_secrets[d * per_doc:(d + 1) * per_doc]]
                text, pos = _doc(chunk[: per_doc // 2], chunk[per_doc // 2:])
                uri = (tmp_path / f"mod{d}.py").as_uri()
                client.text_document_did_open(types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(uri=uri, language_id="python",
                                                         version=1, text=text)))
                doc_id = types.TextDocumentIdentifier(uri=uri)
                inline = await client.text_document_inline_completion_async(
                    types.InlineCompletionParams(
                        text_document=doc_id, position=pos,
                        context=types.InlineCompletionContext(
                            trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
                popup = await client.text_document_completion_async(
                    types.CompletionParams(text_document=doc_id, position=pos))
                for item in [*(inline.items if inline else []), *(popup.items if popup else [])]:
                    completions += 1
                    args = item.command.arguments[0]
                    cid = args["id"]
                    client.protocol.notify("codeward/didShowCompletion",
                                           {"id": cid, "index": args["index"], "shownMs": 40})
                    if d % 2:
                        await client.workspace_execute_command_async(types.ExecuteCommandParams(
                            command="codeward.acceptCompletion", arguments=[args]))
                    else:
                        client.protocol.notify("codeward/didAcceptCompletion",
                                               {"id": cid, "index": args["index"],
                                                "acceptedLength": 5})
                # The user keeps typing secrets into the document.
                typed = text.replace(CURSOR_PREFIX, CURSOR_PREFIX + seed_secrets[d][2] + "\n")
                client.text_document_did_change(types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=typed)]))
                client.text_document_did_close(types.DidCloseTextDocumentParams(
                    text_document=doc_id))
            # The store's files while the server still runs (the -wal exists only then).
            await asyncio.sleep(1.0)
            snapshots.update({f"session{session}:{p.name}": p.read_bytes()
                              for p in db.parent.iterdir()})
            await client.shutdown_session()
        finally:
            await client.stop()
    assert completions >= 8, "the sessions produced no completions to record"

    export = tmp_path / "export.jsonl"
    assert codeward_main(["events", "export", "--store", f"sqlite:///{db}", "--out",
                          str(export)]) == 0
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    kinds = {r["type"] for r in rows}
    assert {"completion", "show", "accept", "survival"} <= kinds, kinds
    redactions = sum(sum(r.get("redactions", {}).values()) for r in rows)
    assert redactions >= 100, f"only {redactions} redactions: were the secrets in context?"

    assert any(name.endswith("-wal") for name in snapshots), list(snapshots)
    assert log.stat().st_size > 0
    files = {**snapshots, **{p.name: p.read_bytes() for p in [*db.parent.iterdir(), export, log]}}
    leaks = [(name, s) for name, data in files.items() for s in all_secrets if s.encode() in data]
    print(f"\nsecrets test: {len(all_secrets)} secrets of {len(set(KINDS))} kinds, "
          f"{completions} completions, {len(rows)} events, {redactions} redactions, "
          f"files checked: {sorted(files)}, leaks: {len(leaks)}")
    assert not leaks, leaks[:5]
