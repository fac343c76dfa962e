"""The protocol edge on its own: converters, typed feedback params, gating, one server per
``create_server()`` call. No subprocess, no model."""

from __future__ import annotations

import json
from dataclasses import replace

from lsprotocol import types

from codeward.server import lsp
from codeward.server.completion import Candidate, CompletionRequest, CompletionResult, gate
from codeward.server.lsp_convert import (
    ACCEPT_COMMAND,
    accept_command,
    command_dict,
    escape_snippet,
    explain_dict,
    feedback_dict,
    lsp_completion_items,
    lsp_inline_items,
    snippet_support,
    word_start,
)
from codeward.server.protocol import DID_ACCEPT, DID_DISMISS, DID_SHOW, FeedbackParams, _Invalid
from codeward.server.settings import Settings

FINDING = {"rule_id": "CW-SEC-001", "message": "shell=True"}


def _result() -> CompletionResult:
    return CompletionResult(id="c1", uri="file:///a.py", version=3, model="tiny", candidates=[
        Candidate(index=0, text="(x)\n    return x"),
        Candidate(index=2, text=" y", action="annotate", findings=[FINDING]),
    ], blocked=[Candidate(index=1, text="os.system(x)", action="block")])


def test_accept_command_carries_id_and_findings_of_annotated_candidates() -> None:
    plain, annotated = (accept_command(_result(), i) for i in (0, 2))
    assert plain.command == ACCEPT_COMMAND and plain.arguments == [{"id": "c1", "index": 0}]
    assert annotated.arguments == [{"id": "c1", "index": 2, "action": "annotate",
                                    "findings": [FINDING]}]


def test_inline_items_insert_at_the_cursor() -> None:
    pos = types.Position(line=4, character=7)
    items = lsp_inline_items(_result(), pos).items
    assert [i.insert_text for i in items] == ["(x)\n    return x", " y"]
    assert all(i.range == types.Range(start=pos, end=pos) for i in items)
    assert items[1].command is not None and items[1].command.arguments[0]["index"] == 2
    assert lsp_inline_items(CompletionResult(id="e", uri="u", version=0), pos).items == []


def test_word_start_stops_at_non_identifier_and_line_start() -> None:
    text = "x = 1\nfoo.bar_9"
    assert word_start(text, len(text)) == text.index("bar_9")
    assert word_start("abc\ndef", 4) == 4 and word_start("a(", 2) == 2


def test_snippet_escaping_round_trips_dollars_braces_backslashes() -> None:
    assert escape_snippet("f'${x}' \\n") == "f'\\${x\\}' \\\\n"


def test_popup_items_replace_the_word_and_escape_snippets() -> None:
    rng = types.Range(start=types.Position(line=0, character=0),
                      end=types.Position(line=0, character=3))
    items = lsp_completion_items(_result(), "foo", rng, snippets=True).items
    first = items[0]
    assert first.label == "foo(x)" and first.filter_text == "foo(x)\n    return x"
    assert first.text_edit is not None and first.text_edit.range == rng
    assert first.insert_text_format == types.InsertTextFormat.Snippet
    assert items[1].label == "y"  # a suggestion starting with a space is not glued to the word
    assert "CW-SEC-001: shell=True" in items[1].documentation.value  # type: ignore[union-attr]
    assert items[1].data == {"id": "c1", "index": 2, "action": "annotate", "findings": [FINDING]}
    dollar = CompletionResult(id="d", uri="u", version=0, candidates=[Candidate(0, "$x}")])
    plain = lsp_completion_items(dollar, "", rng, snippets=False).items[0]
    snip = lsp_completion_items(dollar, "", rng, snippets=True).items[0]
    assert plain.text_edit.new_text == "$x}" and snip.text_edit.new_text == "\\$x\\}"  # type: ignore[union-attr]
    assert plain.insert_text_format == types.InsertTextFormat.PlainText


def test_snippet_support_from_capabilities() -> None:
    assert not snippet_support(None) and not snippet_support(types.ClientCapabilities())
    caps = types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
        completion=types.CompletionClientCapabilities(
            completion_item=types.ClientCompletionItemOptions(snippet_support=True))))
    assert snippet_support(caps)


def test_explain_finds_an_id_or_the_latest() -> None:
    older = replace(_result(), id="c0", candidates=[])
    recent = {"c0": (None, older), "c1": (None, _result())}
    latest = explain_dict(recent, None)
    assert latest["id"] == "c1" and latest["found"] and len(latest["candidates"]) == 2
    assert latest["blocked"][0]["action"] == "block"
    assert explain_dict(recent, "c0")["candidates"] == []
    assert explain_dict(recent, "nope") == {"id": "nope", "found": False}
    assert explain_dict({}, None) == {"id": None, "found": False}
    json.dumps(latest)


def test_feedback_and_command_dicts_keep_the_wire_keys() -> None:
    params = FeedbackParams(id="c1", index=1, shown_ms=250.0, accepted_length=4)
    assert feedback_dict(params) == {"id": "c1", "index": 1, "shownMs": 250.0,
                                     "acceptedLength": 4}
    assert feedback_dict(FeedbackParams(id="c", reason="escape")) == {
        "id": "c", "index": 0, "reason": "escape"}
    assert command_dict(({"id": "c1", "index": 0},)) == {"id": "c1", "index": 0}
    assert command_dict(()) == {} and command_dict(("x",)) == {"raw": "x"}


def _structure(server: lsp.CodewardServer, message: dict) -> object:
    return server.protocol.structure_message(message)


def test_feedback_notifications_are_typed_and_bad_ones_dropped() -> None:
    server = lsp.create_server()
    for method in (DID_SHOW, DID_ACCEPT, DID_DISMISS):
        msg = _structure(server, {"jsonrpc": "2.0", "method": method, "params": {
            "id": "c1", "index": 2, "shownMs": 120, "acceptedLength": 3, "reason": "escape"}})
        assert msg.params == FeedbackParams(  # type: ignore[attr-defined]
            id="c1", index=2, shown_ms=120.0, accepted_length=3, reason="escape")
    bad = _structure(server, {"jsonrpc": "2.0", "method": DID_ACCEPT, "params": {"index": 1}})
    assert isinstance(bad, _Invalid) and bad.id is None
    server.protocol._got_initialize = True
    server.protocol.handle_message(bad)  # logged and dropped: no response, no exception


def test_each_create_server_is_a_fresh_server_with_all_features() -> None:
    one, two = lsp.create_server(), lsp.create_server()
    assert one is not two and one.backend is not two.backend
    assert one.protocol is not two.protocol
    for server in (one, two):
        features = server.protocol.fm.features
        for name, _, _ in lsp.FEATURES:
            assert name in features
        assert ACCEPT_COMMAND in server.protocol.fm.commands
    shared = lsp.create_server(backend=one.backend)
    assert shared.backend is one.backend and shared is not one


def _req(settings: Settings, path: str = "/p/a.py", language: str = "python"
         ) -> CompletionRequest:
    return CompletionRequest(uri="file://" + path, path=path, language=language, version=1,
                             text="x = ", offset=4, settings=settings)


def test_gate_language_enabled_and_exclusion() -> None:
    settings = Settings()
    assert gate(_req(settings)) == ""
    assert gate(_req(settings, language="rust")) == "disabled"
    assert gate(_req(settings, path="/p/.env")) == "excluded"
    settings.completion.languages = ["*"]
    assert gate(_req(settings, language="rust")) == ""
    settings.completion.enabled = False
    assert gate(_req(settings)) == "disabled"
