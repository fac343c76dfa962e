"""The vetter used when the pipeline cannot start: nothing unvetted is ever shown."""

from __future__ import annotations

from .contract import Finding, PipelineResult, VetContext


class FailClosedVetter:
    """Stands in for a pipeline that could not start: every suggestion is blocked (nothing
    unvetted is shown), and the status says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def vet(self, ctx: VetContext) -> PipelineResult:
        return PipelineResult(action="block", text=ctx.suggestion,
                              findings=[Finding(
                                  rule_id="CW-VET-ERROR", severity="medium", confidence="high",
                                  analyzer="pipeline", action="block",
                                  message=f"vetting is unavailable: {self.reason}")],
                              statuses={"pipeline": "error"})

    def status(self) -> dict[str, str]:
        return {"pipeline": f"error: {self.reason}"}

    def prepare(self, path: str | None, language: str, background: bool = True) -> None:
        pass

    def wait_fast(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        pass
