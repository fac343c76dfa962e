"""Completion events and feedback (placeholder: replaced by the feedback issue)."""

from __future__ import annotations

from typing import Any, Protocol


class Recorder(Protocol):
    def completion(self, record: dict[str, Any]) -> None: ...
    def feedback(self, kind: str, params: dict[str, Any]) -> None: ...
    def document_changed(self, uri: str, text: str) -> None: ...
    def close(self) -> None: ...


class NullRecorder:
    def completion(self, record: dict[str, Any]) -> None:
        pass

    def feedback(self, kind: str, params: dict[str, Any]) -> None:
        pass

    def document_changed(self, uri: str, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def open_recorder(settings: Any) -> Recorder:
    return NullRecorder()
