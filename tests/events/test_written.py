"""Written instead and edited after acceptance: span tracking on plain texts, the recorder
on scripted changes (typing over, undo, paste), redaction, and the real server over LSP."""

from __future__ import annotations

import sys
from pathlib import Path

from lsprotocol import types

from codeward.server.completion import (
    Candidate,
    CompletionEvent,
    CompletionRequest,
    CompletionResult,
)
from codeward.server.events import open_recorder
from codeward.server.events.store import open_store
from codeward.server.events.written import finished, move
from codeward.server.settings import Settings

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))

from lsp_client import change_doc, open_doc, start_server  # noqa: E402

DOC = "import os\n\ndef run(cmd):\n    \n\nprint('done')\n"
OFFSET = DOC.index("    \n") + 4
URI = "file:///proj/a.py"
SECRET = "AKIAQ3EGRT5YXMLPZ7NB"  # an AWS access key id format


def _edit(text: str, span: list[int], pos: int, insert: str = "", delete: int = 0,
          grow: bool = True) -> str:
    new = text[:pos] + insert + text[pos + delete:]
    move(span, text, new, grow_at_start=grow)
    return new


def test_span_follows_typing_undo_paste_and_edits_elsewhere() -> None:
    text = "abc\n\nend\n"
    span = [3, 3]  # the cursor right after "abc"
    text = _edit(text, span, 3, "c")  # looks like an insertion after the first "c"
    assert text[span[0]:span[1]] == "c"
    text = _edit(text, span, 4, "cc")  # repeated characters again
    text = _edit(text, span, 6, "(x)")
    assert text[span[0]:span[1]] == "ccc(x)"
    text = _edit(text, span, 6, delete=3)  # undo the "(x)"
    assert text[span[0]:span[1]] == "ccc"
    text = _edit(text, span, 3, delete=3)  # undo everything typed
    assert span == [3, 3] and text == "abc\n\nend\n"
    text = _edit(text, span, 3, "print(value)")  # a paste
    text = _edit(text, span, 0, "# top\n")  # an edit above shifts it
    text = _edit(text, span, len(text) - 1, " # x")  # an edit below does not touch it
    assert text[span[0]:span[1]] == "print(value)"
    assert not move(span, text, text[:span[0] - 1] + text[span[0]:], grow_at_start=True)


def test_accepted_span_does_not_take_text_typed_before_it() -> None:
    text = "x = 1\n"
    span = [4, 5]
    text = _edit(text, span, 4, "2", grow=False)
    assert text[span[0]:span[1]] == "1"
    text = _edit(text, span, 6, "0", grow=False)  # typed right after it: part of it
    assert text[span[0]:span[1]] == "10"


def test_finished_line_and_block() -> None:
    assert finished("foo(x)", 4, False) is None
    assert finished("foo(x)\n    ", 4, False) == "foo(x)"
    block = "if x:\n        y()\n        z()\n"
    assert finished(block, 4, True) is None  # the block may go on
    assert finished(block + "    w()", 4, True) == "if x:\n        y()\n        z()"
    assert finished("if x:\n", 4, False) == "if x:"


def _settings(tmp_path: Path, **events) -> Settings:
    return Settings(events={"store": {"url": str(tmp_path / "ev.db")}, "tick_s": 0.02,
                            "checkpoints": [30], **events})


def _completion(s: Settings, cid: str, text: str = DOC, offset: int = OFFSET,
                suggestion: str = "os.system(cmd)", multiline: bool = False) -> CompletionEvent:
    req = CompletionRequest(uri=URI, path="/proj/a.py", language="python", version=1,
                            text=text, offset=offset, settings=s)
    res = CompletionResult(id=cid, uri=URI, version=1, model="tiny@1", latency_ms=1.0,
                           multiline=multiline, candidates=[Candidate(0, suggestion)])
    return CompletionEvent(req, res)


def _rows(tmp_path: Path) -> list[dict]:
    store = open_store(str(tmp_path / "ev.db"))
    try:
        return list(store.iter_events())
    finally:
        store.close()


def test_written_instead_from_typing_over_undo_and_paste(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    rec = open_recorder(s)
    rec.document_changed(URI, DOC)
    rec.completion(_completion(s, "c1"))
    rec.feedback("dismiss", {"id": "c1", "index": 0, "reason": "typed-over"})
    at = DOC[:OFFSET], DOC[OFFSET:]
    for typed in ["o", "os", "os.", "o", "", "subprocess.run([cmd])"]:  # type, undo, paste
        rec.document_changed(URI, at[0] + typed + at[1])
    rec.document_changed(URI, "# top\n" + at[0] + "subprocess.run([cmd])" + at[1])
    done = at[0] + "subprocess.run([cmd], key='" + SECRET + "')\n    " + at[1]
    rec.document_changed(URI, "# top\n" + done)
    rec.document_changed(URI, "# top\n" + done.replace("\n    \n", "\n    more()\n"))
    # accepted: nothing is written instead (the change inserting it is the acceptance)
    rec.completion(_completion(s, "c2", suggestion="return 1"))
    rec.document_changed(URI, DOC[:OFFSET] + "return 1" + DOC[OFFSET:] + "")
    rec.close()
    rows = _rows(tmp_path)
    written = [r for r in rows if r["type"] == "written"]
    assert [(r["completion_id"], r["end"]) for r in written] == [("c1", "line")]
    w = written[0]
    assert w["text"] == "subprocess.run([cmd], key='<redacted:aws-access-key>')"
    assert w["redactions"] and w["same_as_candidate"] is None and w["uri_hash"]
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert SECRET.encode() not in data


def test_written_ends_at_block_timeout_or_close(tmp_path: Path) -> None:
    s = _settings(tmp_path, written_window_s=0.3)
    rec = open_recorder(s)
    rec.document_changed(URI, DOC)
    rec.completion(_completion(s, "block", multiline=True, suggestion="if cmd:\n        x()"))
    body = "if cmd:\n        run(cmd)\n        log(cmd)\n    "
    rec.document_changed(URI, DOC[:OFFSET] + body + DOC[OFFSET:])
    rec.document_changed(URI, DOC[:OFFSET] + body + "done()\n" + DOC[OFFSET:])
    rec.flush(5)
    doc2 = DOC[:OFFSET] + body + "done()\n" + DOC[OFFSET:]
    at2 = doc2.index("done()") + len("done()\n")
    doc2 = doc2[:at2] + "    " + doc2[at2:]
    rec.document_changed(URI, doc2)
    rec.completion(_completion(s, "slow", text=doc2, offset=at2 + 4))
    rec.document_changed(URI, doc2[:at2 + 4] + "half" + doc2[at2 + 4:])
    import time

    time.sleep(0.6)
    rec.close()
    written = {r["completion_id"]: r for r in _rows(tmp_path) if r["type"] == "written"}
    assert written["block"]["text"] == "if cmd:\n        run(cmd)\n        log(cmd)"
    assert written["block"]["end"] == "block" and written["block"]["lines"] == 3
    assert (written["slow"]["text"], written["slow"]["end"]) == ("half", "timeout")


def test_edited_after_acceptance(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    rec = open_recorder(s)
    rec.document_changed(URI, DOC)
    rec.completion(_completion(s, "c1", suggestion="os.system(cmd)  # run it"))
    rec.feedback("accept", {"id": "c1", "index": 0})
    inserted = DOC[:OFFSET] + "os.system(cmd)  # run it" + DOC[OFFSET:]
    rec.document_changed(URI, inserted)
    rec.document_changed(URI, inserted.replace("os.system(cmd)  # run it",
                                               "subprocess.run([cmd])  # run it"))
    rec.completion(_completion(s, "c2", suggestion="pass"))  # accepted, left alone
    rec.feedback("accept", {"id": "c2", "index": 0})
    rec.feedback("close", {"uri": URI})
    rec.close()
    rows = _rows(tmp_path)
    edited = [r for r in rows if r["type"] == "edited"]
    assert [(r["completion_id"], r["how"]) for r in edited] == [("c1", "changed")]
    assert edited[0]["text"] == "subprocess.run([cmd])  # run it"
    assert edited[0]["candidate_index"] == 0 and edited[0]["kept_chars"] < 24


async def test_written_instead_through_the_real_server(tmp_path: Path, tiny_model_dir) -> None:
    """Typing over a dismissed suggestion, undoing, pasting a secret, then Enter: one
    ``written`` row linked to the completion, with the secret redacted."""
    db = tmp_path / "events.db"
    client = await start_server(tiny_model_dir, init_options={
        "events": {"store": {"url": f"sqlite:///{db}"}, "tick_s": 0.05},
        "index": {"policy": "ungated"}})
    uri = (tmp_path / "mod.py").as_uri()
    open_doc(client, uri, "def add(a, b):\n    \n")
    pos = types.Position(line=1, character=4)
    items = []
    for _ in range(3):
        result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=pos,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
        items = result.items if result else []
        if items:
            break
    assert items, "the tiny model served nothing to dismiss"
    cid = items[0].command.arguments[0]["id"]
    client.protocol.notify("codeward/didDismissCompletion",
                           {"id": cid, "index": 0, "reason": "typed-over"})
    version = 1
    pasted = f"key = '{SECRET}'"
    for start, end, insert in [((1, 4), (1, 4), "r"), ((1, 5), (1, 5), "e"),  # typing over
                               ((1, 4), (1, 6), ""),  # undo
                               ((1, 4), (1, 4), pasted),  # paste
                               ((1, 4 + len(pasted)), (1, 4 + len(pasted)), "\n    ")]:
        version += 1
        change_doc(client, uri, version, start, end, insert)
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    await client.shutdown_session()
    rows = _rows_at(db)
    written = [r for r in rows if r["type"] == "written"]
    assert [(r["completion_id"], r["end"]) for r in written] == [(cid, "line")]
    assert written[0]["text"] == "key = '<redacted:aws-access-key>'"
    assert all(SECRET.encode() not in p.read_bytes() for p in tmp_path.iterdir() if p.is_file())


def _rows_at(db: Path) -> list[dict]:
    store = open_store(str(db))
    try:
        return list(store.iter_events())
    finally:
        store.close()
