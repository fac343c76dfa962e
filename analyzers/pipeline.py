"""The vetting pipeline (placeholder: replaced by the vetting issue)."""

from __future__ import annotations

from typing import Any

from .contract import PipelineResult, VetContext


class Pipeline:
    @classmethod
    def from_settings(cls, analyzers: dict[str, Any], vetting: dict[str, Any]) -> Pipeline:
        return cls()

    def vet(self, ctx: VetContext) -> PipelineResult:
        return PipelineResult(action="allow", text=ctx.suggestion)

    def status(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass
