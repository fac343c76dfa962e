"""The analyzer contract: every type an analyzer sees or returns, in one module.

An analyzer is a class registered under the ``codeward.analyzers`` entry-point group
(built-ins too, see pyproject.toml). The pipeline instantiates it once with no
arguments, calls :meth:`Analyzer.warm_up` in a background thread, and then, for every
candidate, :meth:`Analyzer.analyze` with a :class:`VetContext` (the suggestion placed in
its document) and the analyzer's parsed ``Options`` (``[tool.codeward.analyzers.<name>]``).
It returns a :class:`Verdict`: an action, a status and :class:`Finding` objects.

Actions, from least to most strict: ``allow`` < ``annotate`` < ``fix`` < ``block``.
The strictest wins; a ``fix`` verdict carries the corrected suggestion in ``text``.
Statuses: ``ok`` (the analyzer looked at the code), ``skipped`` (nothing to do: other
language, no index), ``unparseable``, ``error``, ``timeout``, ``warming``. A status other
than ``ok``/``skipped`` never means "clean": the pipeline applies the team's policy to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Protocol, get_args, runtime_checkable

from .config import bounded

Action = Literal["allow", "annotate", "fix", "block"]
Status = Literal["ok", "skipped", "unparseable", "error", "timeout", "warming"]
Severity = Literal["info", "low", "medium", "high", "critical"]
Confidence = Literal["low", "medium", "high"]
Policy = Literal["allow", "annotate", "block"]
"""What a team can set a kind of finding to (``fix`` is for the analyzers that fix)."""
ACTIONS: tuple[Action, ...] = get_args(Action)
STATUSES: tuple[Status, ...] = get_args(Status)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
CONFIDENCES: tuple[Confidence, ...] = get_args(Confidence)
POLICIES: tuple[Policy, ...] = ("block", "annotate", "allow")
"""Strictest first."""
ANY_LANGUAGE = "*"
PROTECTED_CATEGORIES = ("security", "secrets", "license")
"""Turning an analyzer of these categories off needs ``acknowledge_disabled = true``."""


def cwe(number: int) -> str:
    return f"https://cwe.mitre.org/data/definitions/{number}.html"


def strictest(*actions: Action) -> Action:
    return max(actions, key=ACTIONS.index, default="allow")


@dataclass(frozen=True)
class Finding:
    """One problem found in a suggestion.

    ``line`` is 1-based within the suggestion (line 1 is the line the cursor is on).
    ``reference`` is a CWE URL, an SPDX license id or a rule's documentation URL.
    ``action`` is what this finding alone asks for.
    """

    rule_id: str
    severity: Severity
    confidence: Confidence
    message: str
    line: int = 1
    reference: str = ""
    analyzer: str = ""
    action: Action = "annotate"
    column: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"Finding.severity: expected one of {SEVERITIES}, got "
                             f"{self.severity!r}")
        if self.confidence not in CONFIDENCES:
            raise ValueError(f"Finding.confidence: expected one of {CONFIDENCES}, got "
                             f"{self.confidence!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"Finding.action: expected one of {ACTIONS}, got {self.action!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    """What one analyzer says about one suggestion."""

    action: Action = "allow"
    status: Status = "ok"
    findings: list[Finding] = field(default_factory=list)
    text: str | None = None
    """The replacement suggestion when ``action == "fix"``."""
    detail: str = ""
    """Why the status is not ``ok`` (error message, what is warming, ...)."""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"Verdict.action: expected one of {ACTIONS}, got {self.action!r}")
        if self.status not in STATUSES:
            raise ValueError(f"Verdict.status: expected one of {STATUSES}, got {self.status!r}")
        if self.action == "fix" and self.text is None:
            raise ValueError("Verdict: a 'fix' verdict must carry the corrected text")

    @classmethod
    def from_findings(cls, findings: list[Finding], status: Status = "ok") -> Verdict:
        return cls(action=strictest(*(f.action for f in findings)), status=status,
                   findings=list(findings))


@dataclass
class VetContext:
    """A suggestion placed in its document: ``prefix + suggestion + suffix``."""

    prefix: str
    suggestion: str
    suffix: str
    uri: str = ""
    language: str = "python"
    version: int = 0
    path: str | None = None
    project_root: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    """Per-project settings: ``{"analyzers": {name: {...}}, "vetting": {...}}``."""
    vetting: VettingConfig | None = None
    """The effective vetting config (server-wide merged with the project's); set by the
    pipeline before analyzers run."""

    @property
    def config(self) -> VettingConfig:
        return self.vetting if self.vetting is not None else VettingConfig()

    @property
    def document(self) -> str:
        return self.prefix + self.suggestion + self.suffix

    @property
    def first_line(self) -> int:
        """1-based document line on which the suggestion starts."""
        return self.prefix.count("\n") + 1

    @property
    def last_line(self) -> int:
        """1-based document line of the suggestion's last character (a trailing newline
        does not make the next line part of the suggestion)."""
        body = self.suggestion[:-1] if self.suggestion.endswith("\n") else self.suggestion
        return self.first_line + body.count("\n")

    def covers(self, doc_line: int) -> bool:
        return self.first_line <= doc_line <= self.last_line

    def to_suggestion_line(self, doc_line: int) -> int:
        return doc_line - self.first_line + 1

    def suggestion_lines(self) -> list[str]:
        """The full document lines the suggestion touches (the cursor line's start too)."""
        line_start = self.prefix.rfind("\n") + 1
        body = self.prefix[line_start:] + self.suggestion
        end = self.suffix.find("\n")
        if not self.suggestion.endswith("\n"):
            body += self.suffix if end < 0 else self.suffix[:end]
        return body.split("\n")[: self.last_line - self.first_line + 1]


@runtime_checkable
class Analyzer(Protocol):
    """What an entry point in ``codeward.analyzers`` must name (a class, built with no
    arguments). Subclassing :class:`BaseAnalyzer` gives the optional methods."""

    name: ClassVar[str]
    category: ClassVar[str]
    order: ClassVar[int]
    """Lower runs first within its kind. Checkers (security, secrets, license categories)
    see the model's original text, fixers (style) correct it in order, and checkers see
    the final text again when a fix changed it."""
    Options: ClassVar[type]
    """A dataclass with defaults (and an optional ``validate() -> list[str]``)."""
    languages: ClassVar[tuple[str, ...]]
    """Language ids this analyzer vets (``"*"``: any); the pipeline skips it for others."""
    background_warm_up: ClassVar[bool]
    """True when warming takes seconds (an index): suggestions are served meanwhile with
    status ``warming``; the others are waited for before the first suggestion is vetted."""

    def available(self) -> bool:
        """False when a dependency (an extra) is not installed: status ``unavailable``."""
        ...

    def analyze(self, ctx: VetContext, options: Any) -> Verdict: ...

    def warm_up(self) -> None: ...

    def prepare(self, path: str | None, language: str) -> None: ...

    def is_ready(self) -> bool: ...

    def close(self) -> None: ...


@dataclass
class NoOptions:
    pass


class BaseAnalyzer:
    name: ClassVar[str] = ""
    category: ClassVar[str] = "security"
    order: ClassVar[int] = 50
    Options: ClassVar[type] = NoOptions
    languages: ClassVar[tuple[str, ...]] = (ANY_LANGUAGE,)
    background_warm_up: ClassVar[bool] = False

    def available(self) -> bool:
        return True

    def handles(self, language: str) -> bool:
        return ANY_LANGUAGE in self.languages or language in self.languages

    def analyze(self, ctx: VetContext, options: Any) -> Verdict:  # pragma: no cover
        raise NotImplementedError

    def warm_up(self) -> None:
        """Slow one-time loading (indexes, subprocesses). Runs in a background thread."""

    def prepare(self, path: str | None, language: str) -> None:
        """A document was opened: start per-project work (e.g. a ruff server) ahead of the
        first suggestion. Runs in a background thread."""

    def is_ready(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def finding(self, rule_id: str, severity: Severity, confidence: Confidence, message: str,
                line: int = 1, reference: str = "", action: Action = "annotate",
                **extra: Any) -> Finding:
        return Finding(rule_id=rule_id, severity=severity, confidence=confidence,
                       message=message, line=line, reference=reference, analyzer=self.name,
                       action=action, extra=extra)


@dataclass
class LicensePolicy:
    """Team license policy: license categories (scancode's: Permissive, Copyleft,
    Copyleft Limited, Proprietary Free, Public Domain, ...) or SPDX ids, per action.
    An SPDX id listed anywhere beats its category. Unlisted licenses get ``default``."""

    block: list[str] = field(default_factory=lambda: ["Copyleft", "Copyleft Limited",
                                                      "Proprietary Free", "Commercial"])
    annotate: list[str] = field(default_factory=lambda: ["Permissive", "Public Domain"])
    allow: list[str] = field(default_factory=list)
    default: Policy = "annotate"

    def validate(self) -> list[str]:
        if self.default not in ("allow", "annotate", "block"):
            return ["license_policy.default: expected 'allow', 'annotate' or 'block'"]
        return []

    def action_for(self, spdx_ids: list[str], categories: list[str]) -> Action:
        """The strictest action over the licenses of one match."""
        actions: list[Action] = []
        for spdx, cat in zip(spdx_ids, categories, strict=False):
            for action in ("block", "annotate", "allow"):
                if spdx.lower() in (x.lower() for x in getattr(self, action)):
                    actions.append(action)
                    break
            else:
                for action in POLICIES:
                    if cat.lower() in (x.lower() for x in getattr(self, action)):
                        actions.append(action)
                        break
                else:
                    actions.append(self.default)
        return strictest(*actions) if actions else self.default


@dataclass
class VettingConfig:
    """``[tool.codeward.vetting]``: pipeline-wide options."""

    budget_ms: float = bounded(60.0, 1e-9, 60000.0)
    """Total time for all analyzers on one candidate; analyzers not started in time get
    status ``timeout``."""
    on_error: Literal["block", "annotate"] = "block"
    """What an analyzer's ``error``/``timeout``/``unparseable`` status means: ``block``
    (the suggestion is not shown) or ``annotate`` (shown, with a finding saying so)."""
    on_warming: Policy = "annotate"
    """What a ``warming`` status (license index still loading) means: allow, annotate, block."""
    debug: bool = False
    """Re-raise analyzer exceptions instead of recording ``status="error"``."""
    license_policy: LicensePolicy = field(default_factory=LicensePolicy)


@dataclass
class PipelineResult:
    """The combined verdict for one candidate."""

    action: Action
    text: str
    findings: list[Finding] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def rule_ids(self) -> list[str]:
        return [f.rule_id for f in self.findings]

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "text": self.text,
                "findings": [f.to_dict() for f in self.findings],
                "statuses": dict(self.statuses), "elapsed_ms": self.elapsed_ms,
                "timings_ms": dict(self.timings_ms)}


class Vetter(Protocol):
    """What the completion service vets through: the :class:`~.pipeline.Pipeline`, or
    :class:`~.failclosed.FailClosedVetter` when the pipeline cannot start."""

    def vet(self, ctx: VetContext) -> PipelineResult: ...

    def status(self) -> dict[str, str]:
        """Analyzer name -> ready, warming, disabled, unavailable or ``error: ...``."""
        ...

    def prepare(self, path: str | None, language: str, background: bool = True) -> None:
        """A document was opened: let analyzers start per-project work."""
        ...

    def wait_fast(self, timeout: float) -> bool:
        """Wait until the analyzers that are not warmed in the background are ready."""
        ...

    def close(self) -> None: ...
