"""The learned show/rank policy, serving side: decision features, scoring, the registry's
promoted policy and its hot swap.

Every candidate a completion considers (index copy or model text, shown or not) gets its
*decision features* from :func:`decision_features`: numbers and categories only, never
document text. The same dict goes into the completion event (``gate["features"]``) and into
the policy's score, so what is trained on is exactly what is served on.

A policy is a calibrated logistic regression exported to plain JSON (trained by
``codeward.finetune.showpolicy`` with scikit-learn): per feature name a weight, one model
per project (a repository hash) fitted with the pooled data of every project as its prior,
and a global one for projects it has not seen; fitted on top of the shipped gate prior
(``index/prior.py``: its logit of each copy is the feature ``prior_logit``) unless its
``prior`` field is empty. Scoring is a dot product: the server needs
no scikit-learn, and loading a policy never unpickles anything. With no policy promoted
the confidence gate (``index/gate.py``) decides alone, as before.

Registry layout (beside the models, see ``registry.py``)::

    REGISTRY/policies/<version>/policy.json   the policy (format below)
    REGISTRY/POLICY                           {"version": ...}: the promoted policy
    REGISTRY/policy-history.jsonl             every promotion and rollback
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .registry import (
    RegistryError,
    RegistryPath,
    entry_dir,
    read_entry,
    read_pointer,
    watch_pointer,
)

logger = logging.getLogger(__name__)

FORMAT = "codeward-show-policy/1"
POINTER = "POLICY"
HISTORY = "policy-history.jsonl"
GLOBAL = "*"
"""The key of the model used for projects the policy has no model of its own for."""

_CLOSERS = {")": "close", "]": "close", "}": "close"}
_OPENERS = {"(": "open", "[": "open", "{": "open"}
_PUNCT = {":": "colon", ",": "comma", "=": "assign", ".": "dot", "'": "quote", '"': "quote",
          "#": "comment", "@": "decorator", "\\": "continuation"}


def after_kind(char: str) -> str:
    """The kind of syntax token that ends at the cursor's left: ``colon``, ``open``, ..."""
    if not char:
        return "start"
    if char.isalnum() or char == "_":
        return "word"
    return _OPENERS.get(char) or _CLOSERS.get(char) or _PUNCT.get(char) or "operator"


def position_kind(prefix: str) -> tuple[str, str, int]:
    """(``new_line`` or ``mid_line``, the kind of token before the cursor, indentation)."""
    line = prefix[prefix.rfind("\n") + 1:]
    indent = len(line) - len(line.lstrip(" \t"))
    if line.strip():
        return "mid_line", after_kind(line.rstrip()[-1]), indent
    before = prefix[: len(prefix) - len(line)].rstrip()
    return "new_line", after_kind(before[-1] if before else ""), indent


def decision_features(source: str, gate: dict[str, Any], text: str, prefix: str, suffix: str,
                      language: str, multiline: bool) -> dict[str, Any]:
    """What the show/rank decision is made on for one candidate (numbers and categories,
    no text): its source, the confidence gate's inputs and verdict (so a policy starts from
    the gate and learns where it is wrong), where the cursor is, and lengths."""
    position, after, indent = position_kind(prefix)
    line_prefix = prefix[prefix.rfind("\n") + 1:]
    line_suffix = suffix.split("\n", 1)[0]
    out: dict[str, Any] = {
        "source": source, "language": language, "position": position, "after": after,
        "multiline": bool(multiline), "indent": indent,
        "prefix_chars": len(prefix), "suffix_chars": len(suffix),
        "line_prefix_chars": len(line_prefix.strip()), "line_suffix_chars": len(line_suffix.strip()),
        "candidate_chars": len(text), "candidate_lines": text.count("\n") + 1,
        "gate_shown": bool(gate.get("shown")),
    }
    for key, value in gate.items():
        if key in NOT_FEATURES or key in out:
            continue
        if isinstance(value, bool) or (isinstance(value, int | float) and math.isfinite(value)):
            out[key] = value
    return out


NOT_FEATURES = frozenset({
    "source", "shown", "features", "policy", "policy_score", "policy_threshold",
    "needed_match_tokens", "min_match_tokens", "same_file_min_match_tokens",
    "agreed_min_match_tokens", "min_vote_share", "model_min_logprob", "precheck_margin",
    "abstract_min_vote_share", "abstract_min_occurrences", "abstract_max_unbound",
    "renamed_passed", "verbatim_shown"})
"""Gate inputs that are not about the candidate: the verdicts and the settings' thresholds
(a policy must not learn the thresholds a team happened to set). Every other number or
flag a gate input carries (a new source's, too) is a decision feature; text-valued inputs
(``nearest``) are not: a category a policy never saw would score as if it were the average
of those it saw (``same_file`` says what ``nearest`` adds)."""


def _log1p(value: Any) -> float:
    return math.log1p(max(0.0, float(value or 0)))


def vectorize(f: dict[str, Any], base: LinearModel | None = None) -> dict[str, float]:
    """Decision features as named numbers (one-hot categories, log lengths). The one encoding
    training and serving share; a name a policy has no weight for counts zero. With ``base``
    (the gate prior's model, for a policy fitted on top of it), a copy also gets the prior's
    logit as ``prior_logit``."""
    v: dict[str, float] = {f"{k}={f.get(k)}": 1.0 for k in ("source", "position", "after",
                                                             "language")}
    v.update(multiline=float(bool(f.get("multiline"))),
             gate_shown=float(bool(f.get("gate_shown"))),
             indent=min(float(f.get("indent") or 0), 40.0) / 4,
             log_prefix_chars=_log1p(f.get("prefix_chars")),
             log_suffix_chars=_log1p(f.get("suffix_chars")),
             log_line_prefix_chars=_log1p(f.get("line_prefix_chars")),
             log_line_suffix_chars=_log1p(f.get("line_suffix_chars")),
             log_candidate_chars=_log1p(f.get("candidate_chars")),
             candidate_lines=min(float(f.get("candidate_lines") or 1), 50.0))
    source = f.get("source")
    if source == "index":
        v.update(log_match_tokens=_log1p(f.get("match_tokens")),
                 vote_share=float(f.get("vote_share") or 0.0),
                 log_occurrences=_log1p(f.get("occurrences")))
    elif source == "model":
        if "mean_logprob" in f:
            v.update(mean_logprob=max(-20.0, float(f["mean_logprob"])),
                     min_logprob=max(-50.0, float(f.get("min_logprob", f["mean_logprob"]))),
                     log_tokens=_log1p(f.get("tokens")))
        else:
            v["model_logprob_missing"] = 1.0
    for key, value in f.items():  # the other gate inputs, per source
        if key in _ENCODED:
            continue
        if isinstance(value, bool):
            v[f"{source}:{key}"] = float(value)
        elif isinstance(value, int | float):
            x = float(value)
            v[f"{source}:log_{key}"] = math.copysign(math.log1p(min(abs(x), 1e9)), x)
    if base is not None and source == "index":
        v["prior_logit"] = max(-50.0, min(50.0, base.logit(f)))
    return v


_ENCODED = frozenset({
    "source", "language", "position", "after", "multiline", "indent", "prefix_chars",
    "suffix_chars", "line_prefix_chars", "line_suffix_chars", "candidate_chars",
    "candidate_lines", "gate_shown", "match_tokens", "vote_share", "occurrences",
    "mean_logprob", "min_logprob", "tokens"})
"""Decision features :func:`vectorize` encodes by name; any other (a gate input added
later) is encoded generically: a flag as 0/1, a number as its signed log1p, each named
after its source (``index:same_file``, ``index:log_line_tokens``)."""


@dataclass
class LinearModel:
    intercept: float
    weights: dict[str, float]

    def logit(self, features: dict[str, Any], base: LinearModel | None = None) -> float:
        return self.intercept + sum(self.weights.get(k, 0.0) * x
                                    for k, x in vectorize(features, base).items())

    def score(self, features: dict[str, Any], base: LinearModel | None = None) -> float:
        z = self.logit(features, base)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass
class Policy:
    """A promoted show/rank policy: per-project models, a global one, a threshold."""

    version: str
    threshold: float
    models: dict[str, LinearModel]
    info: dict[str, Any] = field(default_factory=dict)
    base: LinearModel | None = None
    """The gate prior's model when the policy was fitted on top of it (its ``prior``
    field): the prior's logit of each copy is one of the policy's features."""

    def model_for(self, project: str | None) -> LinearModel:
        return self.models.get(project or "", self.models[GLOBAL])

    def score(self, features: dict[str, Any], project: str | None = None) -> float:
        """The predicted probability that the candidate is accepted and kept."""
        return self.model_for(project).score(features, self.base)

    def rank(self, items: Sequence[tuple[Any, dict[str, Any]]], project: str | None = None,
             ) -> list[tuple[Any, float, bool]]:
        """(item, score, shown) for (item, features) pairs, best first."""
        model = self.model_for(project)
        scored = [(item, model.score(f, self.base)) for item, f in items]
        scored.sort(key=lambda p: -p[1])
        return [(item, s, s >= self.threshold) for item, s in scored]


class _Choice(Protocol):
    source: str
    text: str
    gate: dict[str, Any]


def add_features(choices: Sequence[tuple[_Choice, Any]], prefix: str, suffix: str,
                 language: str, multiline: bool) -> None:
    """Every considered candidate's decision features, into its gate inputs: what the
    completion event records and what the policy scores (one computation)."""
    for choice, _ in choices:
        choice.gate["features"] = decision_features(choice.source, choice.gate, choice.text,
                                                    prefix, suffix, language, multiline)


def learned_policy(policy: Policy | None, index: Any) -> Policy | None:
    """The policy that decides, if any (``index``: the index settings): none under
    ``ungated`` (everything shown: exploration), with ``index.learned_policy = false`` or
    with the index off."""
    if policy is None or not index.enabled or not index.learned_policy \
            or index.policy == "ungated":
        return None
    return policy


C = TypeVar("C", bound=_Choice)


def policy_choose(policy: Policy, project: str | None, choices: Sequence[C]) -> list[C]:
    """The candidates whose score reaches the policy's threshold, best first; every
    candidate's score and verdict go into its gate inputs (and so into its event)."""
    ranked = policy.rank([(c, c.gate.get("features") or {}) for c in choices], project)
    for choice, score, show in ranked:
        choice.gate.update(policy=policy.version, policy_score=round(score, 4),
                           policy_threshold=policy.threshold, shown=show)
    return [choice for choice, _, show in ranked if show]


def model_needed(policy: Policy, project: str | None, copies: Sequence[tuple[_Choice, Any]],
                 index_policy: str) -> bool:
    """Whether the model must run under the policy: not for ``index-only``, nor for
    ``index-first`` when a copy already reaches the threshold."""
    if index_policy == "index-only":
        return False
    return index_policy != "index-first" or not any(
        policy.score(c.gate.get("features") or {}, project) >= policy.threshold
        for c, _ in copies)


def policy_from_dict(data: dict[str, Any], version: str = "") -> Policy:
    """Parse (and check) the JSON form; a bad file raises ``RegistryError``."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RegistryError(f"not a show policy (format {data.get('format') if isinstance(data, dict) else None!r}, expected {FORMAT})")
    try:
        models = {str(k): LinearModel(float(m["intercept"]),
                                      {str(n): float(w) for n, w in m["weights"].items()})
                  for k, m in data["models"].items()}
        threshold = float(data["threshold"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RegistryError(f"malformed show policy: {exc}") from exc
    bad = [w for m in models.values() for w in (m.intercept, *m.weights.values())
           if not math.isfinite(w)]
    if GLOBAL not in models or not 0.0 <= threshold <= 1.0 or bad:
        raise RegistryError("malformed show policy: needs a global model ('*'), finite "
                            "weights and a threshold in [0, 1]")
    return Policy(version=version or str(data.get("version") or ""), threshold=threshold,
                  models=models, info={k: v for k, v in data.items() if k != "models"},
                  base=_base(data.get("prior")))


PRIOR_FILE = Path(__file__).parent / "index" / "prior_policy.json"
"""The shipped gate prior (``index/prior.py`` says how it decides)."""


def load_prior(path: Path | None = None) -> Policy | None:
    """The gate prior at ``path`` (default: the shipped one); None, logged once per path,
    when it is missing or malformed."""
    return _load_prior(str(path or PRIOR_FILE))


@functools.cache
def _load_prior(path: str) -> Policy | None:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
        return policy_from_dict(data, str(data.get("version") or "prior"))
    except (OSError, ValueError, RegistryError) as exc:
        logger.error("gate prior %s cannot be used (%s): the thresholds gate decides, as "
                     "with index.gate = \"thresholds\"", path, exc)
        return None


def _base(prior: Any) -> LinearModel | None:
    """The shipped gate prior's model for a policy fitted on top of prior version
    ``prior`` (None: a policy on its own); another version than the shipped one is an
    error (its ``prior_logit`` weight means nothing on this prior's logit)."""
    if not prior:
        return None
    shipped = load_prior()
    if shipped is None or shipped.version != prior:
        raise RegistryError(f"show policy fitted on gate prior {prior!r}, this server ships "
                            f"{shipped.version if shipped else 'none'!r}: retrain it "
                            "(codeward finetune run)")
    return shipped.models[GLOBAL]


def policy_dir(registry: RegistryPath, version: str) -> Path:
    return entry_dir(registry, "policies", version, "policy version")


def current_policy_version(registry: RegistryPath) -> str | None:
    return read_pointer(registry, POINTER)


def load_policy(registry: RegistryPath, version: str) -> Policy:
    data = read_entry(policy_dir(registry, version) / "policy.json", f"policy {version}")
    return policy_from_dict(data, version)


def current_policy(registry: RegistryPath) -> Policy | None:
    """The promoted policy, or None (none promoted, or it cannot be read: logged)."""
    version = current_policy_version(registry)
    if version is None:
        return None
    try:
        return load_policy(registry, version)
    except RegistryError as exc:
        logger.error("show policy %s rejected, the confidence gate decides: %s", version, exc)
        return None


def watch_policy(install: Callable[[Policy | None], None], registry: RegistryPath,
                 interval: float) -> threading.Thread:
    """A daemon thread that installs a newly promoted policy (hot swap). A policy that
    cannot be read is rejected and the one installed keeps deciding."""
    return watch_pointer("show policy", lambda: current_policy_version(registry),
                         lambda v: install(load_policy(registry, v)), (RegistryError,),
                         interval, "codeward-policy-watch",
                         "the old one keeps deciding")
