"""Conversions at the protocol edge: domain results in, LSP types (or plain JSON dicts) out.

Plain functions on plain data, unit-tested on their own (``tests/server/test_lsp_convert.py``);
the handlers in ``lsp`` only call them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types

from .completion import Candidate, CompletionResult
from .protocol import FeedbackParams

ACCEPT_COMMAND = "codeward.acceptCompletion"
LABEL_MAX = 80


def accept_command(result: CompletionResult, index: int, title: str = "Accept") -> types.Command:
    """The command an item carries: the client runs it on acceptance; its argument names the
    completion and, for an annotated candidate, carries the findings."""
    cand = next((c for c in result.candidates if c.index == index), None)
    data: dict[str, Any] = {"id": result.id, "index": index}
    if cand is not None and cand.findings:
        data.update(action=cand.action, findings=cand.findings)
    if cand is not None and cand.provenance is not None:
        data.update(source=cand.source, provenance=cand.provenance)
    return types.Command(title=title, command=ACCEPT_COMMAND, arguments=[data])


def lsp_inline_items(result: CompletionResult, position: types.Position,
                     ) -> types.InlineCompletionList:
    """Ghost-text items inserted at the cursor."""
    cursor = types.Range(start=position, end=position)
    return types.InlineCompletionList(items=[
        types.InlineCompletionItem(insert_text=c.text, range=cursor,
                                   command=accept_command(result, c.index))
        for c in result.candidates
    ])


def word_start(text: str, offset: int) -> int:
    """Start of the identifier that ends at ``offset`` (``offset`` itself if none)."""
    line_start = text.rfind("\n", 0, offset) + 1
    start = offset
    while start > line_start and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return start


def escape_snippet(text: str) -> str:
    """Text as an LSP snippet that inserts exactly that text."""
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("}", "\\}")


def lsp_completion_items(result: CompletionResult, word: str, replace: types.Range,
                         snippets: bool) -> types.CompletionList:
    """Popup items that replace ``word`` (the identifier before the cursor, spanning
    ``replace``) so that clients filter on it. With ``snippets`` the text is sent as a
    snippet: some clients (Neovim) insert only the first word of a plain-text multi-word
    item; as a snippet the whole suggestion is inserted."""
    items = []
    for c in result.candidates:
        first_line = c.text.split("\n", 1)[0].strip() or c.text.strip()
        label = (word + first_line if c.text and not c.text[0].isspace() else first_line)
        doc_text = f"```\n{word + c.text}\n```"
        if c.findings:
            doc_text += "\n\n" + "\n".join(
                f"- {f.get('rule_id', '?')}: {f.get('message', '')}" for f in c.findings)
        items.append(types.CompletionItem(
            label=label[:LABEL_MAX], kind=types.CompletionItemKind.Text,
            detail=f"codeward ({result.model})",
            documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=doc_text),
            filter_text=word + c.text, sort_text=f"0{c.index}",
            text_edit=types.TextEdit(
                range=replace,
                new_text=escape_snippet(word + c.text) if snippets else word + c.text),
            insert_text_format=types.InsertTextFormat.Snippet if snippets
            else types.InsertTextFormat.PlainText,
            insert_text_mode=types.InsertTextMode.AsIs,
            command=accept_command(result, c.index),
            data={"id": result.id, "index": c.index, "action": c.action, "findings": c.findings},
        ))
    return types.CompletionList(is_incomplete=True, items=items)


def snippet_support(capabilities: types.ClientCapabilities | None) -> bool:
    completion = capabilities.text_document.completion if capabilities and \
        capabilities.text_document else None
    item = completion.completion_item if completion else None
    return bool(item and item.snippet_support)


def feedback_dict(params: FeedbackParams) -> dict[str, Any]:
    """Typed feedback params as the event recorder takes them (the wire's camelCase keys;
    fields the client left out are left out)."""
    out: dict[str, Any] = {"id": params.id, "index": params.index}
    for key, value in (("shownMs", params.shown_ms), ("acceptedLength", params.accepted_length),
                       ("reason", params.reason)):
        if value is not None:
            out[key] = value
    return out


def command_dict(args: tuple[Any, ...]) -> dict[str, Any]:
    """The accept command's argument (what :func:`accept_command` put there) as a dict."""
    data = args[0] if args else {}
    if hasattr(data, "__dict__") and not isinstance(data, dict):
        data = vars(data)
    return dict(data) if isinstance(data, dict) else {"raw": data}


def workspace_root(params: types.InitializeParams) -> Path | None:
    """The first workspace folder (else ``rootUri``, else ``rootPath``) as a local folder."""
    from pygls.uris import to_fs_path

    uris = [f.uri for f in params.workspace_folders or []]
    if params.root_uri:
        uris.append(params.root_uri)
    for uri in uris:
        path = to_fs_path(uri)
        if path and Path(path).is_dir():
            return Path(path)
    if params.root_path and Path(params.root_path).is_dir():
        return Path(params.root_path)
    return None


def params_dict(params: Any) -> dict[str, Any]:
    """Untyped params (pygls gives custom requests a namedtuple) as a dict."""
    if params is None:
        return {}
    if isinstance(params, Mapping):
        return dict(params)
    if hasattr(params, "_asdict"):
        return dict(params._asdict())
    if not hasattr(params, "__dict__"):  # a list or a bare value: no named params
        return {}
    return {k: v for k, v in vars(params).items() if not k.startswith("_")}


def _candidate_dict(c: Candidate) -> dict[str, Any]:
    return {"index": c.index, "text": c.text, "action": c.action, "findings": c.findings,
            "statuses": c.statuses, "source": c.source, "provenance": c.provenance,
            "gate": c.gate}


def explain_dict(recent: Mapping[str, Any], wanted: Any) -> dict[str, Any]:
    """``codeward/explain``: the candidates of completion ``wanted`` (the most recent one if
    None) with their verdicts and findings. ``recent`` maps ids to (request, result)."""
    if not recent:
        return {"id": wanted, "found": False}
    if wanted is None:
        wanted = next(reversed(list(recent)))
    entry = recent.get(str(wanted))
    if entry is None:
        return {"id": wanted, "found": False}
    result: CompletionResult = entry[1]
    return {"id": result.id, "found": True, "model": result.model, "reason": result.reason,
            "uri": result.uri, "version": result.version,
            "candidates": [_candidate_dict(c) for c in result.candidates],
            "blocked": [_candidate_dict(c) for c in result.blocked]}
