"""The vetting pipeline: runs every candidate through the enabled analyzers.

- Analyzers come from the ``codeward.analyzers`` entry-point group (built-ins included).
- Each is enabled, disabled and configured by name: ``[tool.codeward.analyzers.<name>]``
  (server-wide from ``from_settings``, per project from ``VetContext.settings``). Turning
  off a security, secrets or license analyzer needs ``acknowledge_disabled = true`` in
  the same table, and is logged.
- Failures are contained per analyzer: an exception is recorded as ``status="error"``
  (traceback logged once per analyzer and error type), never lost with the others' results.
- Checkers (security, secrets, license) see the model's original text; fixers (style) then
  correct it in order, each seeing the previous one's fix; when the text changed, the
  checkers see the final text too. The strictest action wins, so a fix never removes a
  finding (a secret on a line ruff deletes as unused still blocks).
- ``error``/``timeout``/``unparseable`` never mean clean: ``vetting.on_error`` decides
  (``block`` by default); ``warming`` follows ``vetting.on_warming``.
- The total budget is cooperative: analyzers not started within ``budget_ms`` get
  ``status="timeout"`` (an analyzer already running is not interrupted; the ruff client
  waits at most its own ``timeout_ms``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from importlib.metadata import entry_points
from typing import Any

from .config import deep_merge, merge
from .contract import (
    ANY_LANGUAGE,
    PROTECTED_CATEGORIES,
    Action,
    Analyzer,
    Finding,
    PipelineResult,
    Verdict,
    VetContext,
    VettingConfig,
    strictest,
)

logger = logging.getLogger(__name__)
audit = logging.getLogger("codeward.audit")

GROUP = "codeward.analyzers"
BUILTINS = {
    "ruff": "codeward.analyzers.style:RuffAnalyzer",
    "naming": "codeward.analyzers.naming:NamingAnalyzer",
    "bandit": "codeward.analyzers.security:BanditAnalyzer",
    "security-rules": "codeward.analyzers.rules:SecurityRulesAnalyzer",
    "trojan-source": "codeward.analyzers.trojan:TrojanSourceAnalyzer",
    "secrets": "codeward.analyzers.secrets:SecretsAnalyzer",
    "license": "codeward.analyzers.license:LicenseAnalyzer",
    "copied-code": "codeward.analyzers.copied:CopiedCodeAnalyzer",
}
COMMON_KEYS = ("enabled", "acknowledge_disabled")


def _load(spec: str) -> type:
    module, _, attr = spec.partition(":")
    mod = __import__(module, fromlist=[attr])
    return getattr(mod, attr)


def discover() -> dict[str, type]:
    """Analyzer classes by name, from entry points; a built-in missing from the installed
    metadata (stale editable install) is loaded from its known location, with an error."""
    found: dict[str, type] = {}
    for ep in entry_points(group=GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception:
            logger.exception("analyzer %s (%s) failed to load; it is left out", ep.name,
                             ep.value)
    for name, spec in BUILTINS.items():
        if name not in found:
            logger.error("built-in analyzer %s is not registered as an entry point (re-run "
                         "'pip install -e .'); loading it from %s", name, spec)
            found[name] = _load(spec)
    return found


def _not_checked(detail: str) -> str:
    """Why a ``warming`` analyzer did not check: not installed (an extra), else loading."""
    return detail if detail.startswith("not installed") else "is still loading"


def handles(analyzer: Analyzer, language: str) -> bool:
    """Whether ``analyzer`` vets ``language`` (its ``languages``; ``"*"``: any)."""
    return ANY_LANGUAGE in analyzer.languages or language in analyzer.languages


@dataclasses.dataclass
class _Run:
    """What the analyzers said about one candidate so far."""

    actions: list[Action] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)
    statuses: dict[str, str] = dataclasses.field(default_factory=dict)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Resolved:
    vetting: VettingConfig
    options: dict[str, Any]
    """name -> parsed Options for each enabled analyzer."""


class Pipeline:
    def __init__(self, analyzers: dict[str, Analyzer], server_analyzers: dict[str, Any],
                 server_vetting: dict[str, Any]) -> None:
        self.analyzers = dict(sorted(analyzers.items(), key=lambda kv: (kv[1].order, kv[0])))
        self._server_analyzers = server_analyzers or {}
        self._server_vetting = server_vetting or {}
        self._cache: dict[str, _Resolved] = {}
        self._reported: set[str] = set()
        self._warm: dict[str, str] = {}
        self._preparing: dict[str, int] = {}  # analyzer -> prepares under way
        self._prepare_lock = threading.Lock()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @classmethod
    def from_settings(cls, analyzers: dict[str, Any] | None = None,
                      vetting: dict[str, Any] | None = None, *, warm: bool = True,
                      only: list[str] | None = None) -> Pipeline:
        """Build once per server. Returns at once; slow warm-ups run in a thread."""
        instances: dict[str, Analyzer] = {}
        for name, cls_ in discover().items():
            if only is not None and name not in only:
                continue
            try:
                instances[name] = cls_()
            except Exception:
                logger.exception("analyzer %s could not be created", name)
        pipe = cls(instances, analyzers or {}, vetting or {})
        if warm:
            pipe.start_warm_up()
        return pipe

    # -- configuration -------------------------------------------------------------

    def _report(self, msg: str, level: int = logging.WARNING) -> None:
        if msg not in self._reported:
            self._reported.add(msg)
            logger.log(level, "%s", msg)

    def _resolve(self, project: dict[str, Any]) -> _Resolved:
        key = json.dumps(project, sort_keys=True, default=str)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        vet_data = deep_merge(self._server_vetting, project.get("vetting") or {})
        vetting, errors = merge(VettingConfig(), vet_data)
        for e in errors:
            self._report(f"codeward vetting settings: {e}")
        tables = deep_merge(self._server_analyzers, project.get("analyzers") or {})
        for name in tables:
            if name not in self.analyzers:
                self._report(f"codeward settings: analyzers.{name}: no such analyzer "
                             f"(known: {', '.join(self.analyzers)})")
        options: dict[str, Any] = {}
        for name, analyzer in self.analyzers.items():
            table = dict(tables.get(name) or {})
            if not self._enabled(name, analyzer, table):
                continue
            data = {k: v for k, v in table.items() if k not in COMMON_KEYS}
            opts, errors = merge(analyzer.Options(), data)
            for e in errors:
                self._report(f"codeward settings: analyzers.{name}.{e}")
            options[name] = opts
        resolved = _Resolved(vetting, options)  # type: ignore[arg-type]
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = resolved
        return resolved

    def _enabled(self, name: str, analyzer: Analyzer, table: dict[str, Any]) -> bool:
        enabled = table.get("enabled", True)
        if enabled is not False:
            return True
        if analyzer.category in PROTECTED_CATEGORIES and table.get("acknowledge_disabled") \
                is not True:
            self._report(f"codeward settings: analyzers.{name}.enabled = false ignored: "
                         f"{name} is a {analyzer.category} analyzer; add "
                         f"'acknowledge_disabled = true' to turn it off")
            return True
        if analyzer.category in PROTECTED_CATEGORIES:
            self._report(f"codeward: {analyzer.category} analyzer {name} is DISABLED by "
                         "settings (acknowledge_disabled = true)")
        return False

    # -- warm-up -------------------------------------------------------------------

    def start_warm_up(self) -> None:
        names = sorted(self._resolve({}).options,  # slow indexes last
                       key=lambda n: self.analyzers[n].background_warm_up)
        for name in self.analyzers:
            self._warm[name] = "warming" if name in names else "disabled"
        self._thread = threading.Thread(target=self._warm_up, args=(names,), daemon=True,
                                        name="codeward-vet-warmup")
        self._thread.start()

    def prepare(self, path: str | None, language: str, background: bool = True) -> None:
        """A document was opened: let analyzers start per-project work (in the background
        unless ``background`` is False). Until an analyzer's ``prepare`` returns, the status
        says it is ``warming`` (counted from this call on, so a status request right after
        the opening already sees it)."""
        names = [name for name, analyzer in self.analyzers.items()
                 if self._warm.get(name) != "disabled" and handles(analyzer, language)]
        with self._prepare_lock:
            for name in names:
                self._preparing[name] = self._preparing.get(name, 0) + 1

        def run() -> None:
            for name in names:
                try:
                    if not self._closed:
                        self.analyzers[name].prepare(path, language)
                except Exception:
                    logger.debug("analyzer %s could not prepare %s", name, path, exc_info=True)
                finally:
                    with self._prepare_lock:
                        self._preparing[name] -= 1
        if not background:
            return run()
        threading.Thread(target=run, daemon=True, name="codeward-vet-prepare").start()

    def wait_fast(self, timeout: float) -> bool:
        """Wait until every enabled analyzer that is not warmed in the background is ready
        (bandit, secrets, ruff take about a second; the license index takes longer)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._warm.get(n) != "warming" for n, a in self.analyzers.items()
                   if not a.background_warm_up):
                return True
            time.sleep(0.02)
        return False

    def _warm_up(self, names: list[str]) -> None:
        for name in names:
            if self._closed:
                return
            start = time.perf_counter()
            try:
                self.analyzers[name].warm_up()
                self._warm[name] = "ready"
                logger.info("analyzer %s ready in %.1f s", name, time.perf_counter() - start)
            except Exception as exc:
                if self._closed:  # closed while warming (e.g. a one-shot command ended)
                    return
                logger.exception("analyzer %s failed to warm up", name)
                self._warm[name] = f"error: {exc}"

    def pending(self) -> list[str]:
        """Enabled analyzers still loading (a one-shot command waits for these)."""
        return [n for n, state in self.status().items() if state == "warming"]

    def wait_ready(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return all(s in ("ready", "disabled") for s in self.status().values())

    def status(self) -> dict[str, str]:
        out = {}
        for name, analyzer in self.analyzers.items():
            state = self._warm.get(name, "ready")
            if state == "warming" and analyzer.is_ready():
                state = "ready"
            elif state == "ready" and (not analyzer.is_ready() or self._preparing.get(name)):
                state = "warming"  # the license worker restarting, a project's ruff starting
            if not analyzer.available():
                state = "unavailable"  # a dependency is not installed (an extra)
            out[name] = state
        return out

    # -- vetting -------------------------------------------------------------------

    def vet(self, ctx: VetContext) -> PipelineResult:
        """Checkers (security, secrets, license) see the model's own text; fixers (style)
        then correct it one after another; when a fix changed the text, the checkers see
        the final text too. A fix never removes a checker's finding."""
        start = time.perf_counter()
        resolved = self._resolve(ctx.settings or {})
        cfg = resolved.vetting
        ctx = dataclasses.replace(ctx, vetting=cfg)
        checkers = [n for n in resolved.options
                    if self.analyzers[n].category in PROTECTED_CATEGORIES]
        fixers = [n for n in resolved.options if n not in checkers]
        run = _Run()
        self._pass(run, checkers, ctx, ctx.suggestion, resolved, start)
        text = self._pass(run, fixers, ctx, ctx.suggestion, resolved, start)
        if text != ctx.suggestion:  # a fix may add code (an import): check the final text
            self._pass(run, checkers, ctx, text, resolved, start, again=True)
        action = strictest(*run.actions)
        if action == "fix" and text == ctx.suggestion:
            action = "annotate" if run.findings else "allow"
        result = PipelineResult(action=action, text=text, findings=run.findings,
                                statuses=run.statuses,
                                elapsed_ms=(time.perf_counter() - start) * 1000,
                                timings_ms=run.timings)
        self._audit(ctx, result)
        return result

    def _pass(self, run: _Run, names: list[str], ctx: VetContext, text: str,
              resolved: _Resolved, start: float, again: bool = False) -> str:
        """Run ``names`` in order on ``text``; returns the text after their fixes (only
        fixers' fixes are applied: a checker's ``fix`` counts as its action only)."""
        cfg = resolved.vetting
        for name in names:
            if not handles(self.analyzers[name], ctx.language):
                run.statuses[name] = "skipped"
                continue
            t0 = time.perf_counter()
            if (t0 - start) * 1000 > cfg.budget_ms:
                verdict = Verdict(status="timeout", detail="vetting budget spent before it ran")
            else:
                verdict = self._run_one(name, dataclasses.replace(ctx, suggestion=text),
                                        resolved.options[name], cfg)
            run.timings[name] = run.timings.get(name, 0.0) + (time.perf_counter() - t0) * 1000
            if not again or verdict.status not in ("ok", "skipped"):
                run.statuses[name] = verdict.status
            known = {(f.rule_id, f.line, f.analyzer) for f in run.findings}
            run.findings.extend(f for f in verdict.findings
                                if (f.rule_id, f.line, f.analyzer) not in known)
            action = verdict.action
            if verdict.status in ("error", "timeout", "unparseable"):
                action = cfg.on_error
                run.findings.append(Finding(
                    rule_id=f"CW-VET-{verdict.status.upper()}", severity="medium",
                    confidence="high", analyzer=name, action=cfg.on_error,
                    message=f"{name} could not vet this suggestion ({verdict.status}"
                            f"{': ' + verdict.detail if verdict.detail else ''})"))
            elif verdict.status == "warming" and not again:
                action = strictest(action, cfg.on_warming)
                if cfg.on_warming != "allow":
                    run.findings.append(Finding(
                        rule_id="CW-VET-WARMING", severity="info", confidence="high",
                        analyzer=name, action=cfg.on_warming,
                        message=f"{name} {_not_checked(verdict.detail)}: this suggestion "
                                "was not checked"))
            if action == "fix" and verdict.text is not None and \
                    self.analyzers[name].category not in PROTECTED_CATEGORIES:
                text = verdict.text
            run.actions.append(action)
        return text

    def _run_one(self, name: str, ctx: VetContext, options: Any,
                 cfg: VettingConfig) -> Verdict:
        analyzer = self.analyzers[name]
        state = self._warm.get(name, "ready")
        if state.startswith("error"):
            return Verdict(status="error", detail=state[len("error: "):])
        if not getattr(analyzer, "available", lambda: True)():
            return Verdict(status="warming",
                           detail=getattr(analyzer, "MISSING", "not installed"))
        if state in ("warming", "disabled") and not analyzer.is_ready():
            if state == "disabled":  # enabled by a project only: warm it now
                self._warm[name] = "warming"
                threading.Thread(target=self._warm_up, args=([name],), daemon=True).start()
            return Verdict(status="warming", detail=f"{name} is loading")
        try:
            verdict = analyzer.analyze(ctx, options)
            if not isinstance(verdict, Verdict):
                raise TypeError(f"{name}.analyze returned {type(verdict).__name__}, "
                                "expected Verdict")
            return verdict
        except Exception as exc:
            if cfg.debug:
                raise
            key = f"{name}:{type(exc).__name__}"
            if key not in self._reported:
                self._reported.add(key)
                logger.exception("analyzer %s failed (further %s errors are not logged)",
                                 name, type(exc).__name__)
            return Verdict(status="error", detail=f"{type(exc).__name__}: {exc}")

    def _audit(self, ctx: VetContext, result: PipelineResult) -> None:
        if not audit.isEnabledFor(logging.INFO):
            return
        audit.info("vet %s", json.dumps({
            "uri": ctx.uri, "version": ctx.version, "action": result.action,
            "rules": result.rule_ids, "statuses": result.statuses,
            "elapsed_ms": round(result.elapsed_ms, 2),
            "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()}}))

    def close(self) -> None:
        self._closed = True
        for name, analyzer in self.analyzers.items():
            try:
                analyzer.close()
            except Exception:
                logger.exception("closing analyzer %s failed", name)

