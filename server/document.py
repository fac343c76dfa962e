"""pygls' text documents with Codeward's positions (``positions``).

pygls 2.1 splits lines with ``str.splitlines`` (which also breaks at ``\\x0c``, ``\\u2028``
and others the LSP does not), fails on the end of an empty document (an unbound local),
and clamps a character past the end of the last line one short. :class:`Document` keeps
pygls' interface and answers with :mod:`positions` instead; :func:`use_codeward_documents`
makes a workspace create them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from . import positions


class Document(TextDocument):
    @property
    def encoding(self) -> str:
        return positions.normalize_encoding(self.position_codec.encoding)

    @property
    def lines(self) -> Sequence[str]:
        return tuple(positions.split_lines(self.source))

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        r = change.range
        self._source = positions.apply_change(
            self.source, (r.start.line, r.start.character), (r.end.line, r.end.character),
            change.text, self.encoding)

    def offset_at_position(self, client_position: types.Position) -> int:
        return positions.to_offset(self.source, client_position.line,
                                   client_position.character, self.encoding)

    def client_position_at_offset(self, offset: int) -> types.Position:
        line, character = positions.to_position(self.source, offset, self.encoding)
        return types.Position(line=line, character=character)


def use_codeward_documents(workspace: Workspace) -> None:
    """Documents opened in ``workspace`` from now on are :class:`Document` instances."""

    def create(doc_uri: str, source: str | None = None, version: int | None = None,
               language_id: str | None = None) -> TextDocument:
        return Document(doc_uri, source=source, version=version, language_id=language_id,
                        sync_kind=workspace._sync_kind, position_codec=workspace.position_codec)

    workspace._create_text_document = create  # type: ignore[method-assign]


def strict_positions(value: Any) -> str:
    """Where ``value`` (raw params) holds a position whose line or character is not a
    non-negative integer (``"7"``, ``7.5`` and ``true`` are not), else ""."""
    if isinstance(value, dict):
        if "line" in value and "character" in value:
            for key in ("line", "character"):
                item = value[key]
                if not isinstance(item, int) or isinstance(item, bool) or item < 0 \
                        or item > 2**31 - 1:
                    return f"position {key} must be a non-negative integer, got {item!r:.40}"
        for item in value.values():
            if isinstance(item, dict | list):
                problem = strict_positions(item)
                if problem:
                    return problem
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                problem = strict_positions(item)
                if problem:
                    return problem
    return ""
