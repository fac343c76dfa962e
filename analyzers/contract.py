"""The analyzer contract (placeholder: replaced by the vetting issue's full contract)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class VetContext:
    prefix: str
    suggestion: str
    suffix: str
    uri: str = ""
    language: str = "python"
    version: int = 0
    path: str | None = None
    project_root: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    action: str
    text: str
    findings: list[Any] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
