"""Drift between model versions: did the new version get accepted less, or keep fewer
characters, than the one before it, over the same kind of positions?

Positions are stratified by (language, kind, single/multi-line, source), because a version
that happens to see more multi-line or more index positions would otherwise look better or
worse for reasons that are not the model. Only strata where both versions have positions
are compared. Two one-sided tests, each at ``alpha`` (default 0.01):

- acceptance: the **Cochran-Mantel-Haenszel test** over the strata's 2x2 tables
  (version x accepted), with continuity correction; the common odds ratio is the
  Mantel-Haenszel estimate. A drop is flagged when z < 0 and p = Phi(z) < alpha.
- kept characters per shown suggestion: a **stratified Welch z-test** on the difference of
  means, weighted by the new version's share of each stratum (strata with at least two
  positions on both sides). Flagged when the difference is negative and p < alpha.

Neither is run on fewer than ``min_positions`` shown positions per version in the
compared strata (status ``insufficient-data``): a 30% drop on 10 suggestions is noise.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from .outcomes import Position

ALPHA = 0.01
MIN_POSITIONS = 30
ROLLBACK_COMMAND = "codeward model rollback"


def phi(z: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-z / math.sqrt(2))


@dataclass
class Test:
    previous: float | None = None
    """Acceptance rate (or mean kept characters) of the previous version."""
    current: float | None = None
    n_previous: int = 0
    n_current: int = 0
    effect: float | None = None
    """Acceptance: Mantel-Haenszel odds ratio; kept: stratified difference of means."""
    z: float | None = None
    p_value: float | None = None
    drop: bool = False


@dataclass
class Drift:
    version: str
    previous: str
    status: str = "insufficient-data"
    """``drop`` (a significant drop in either test), ``ok`` or ``insufficient-data``."""
    strata: int = 0
    acceptance: Test = field(default_factory=Test)
    kept: Test = field(default_factory=Test)
    alpha: float = ALPHA
    test: str = ("one-sided Cochran-Mantel-Haenszel (acceptance) and stratified Welch z "
                 "(kept chars per shown suggestion), strata = language x kind x lines x source")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rollback_command(self) -> str:
        """The registry command that serves the previous version again (a model label is
        ``name@version``; the registry knows the version)."""
        return f"{ROLLBACK_COMMAND} --to {self.previous.rpartition('@')[2] or self.previous}"

    def message(self) -> str:
        if self.status == "insufficient-data":
            return (f"{self.version} vs {self.previous}: too few comparable positions "
                    f"({self.acceptance.n_current} / {self.acceptance.n_previous}, need "
                    f"{MIN_POSITIONS} each)")
        parts = []
        for name, t, fmt in (("acceptance", self.acceptance, "{:.1%}"),
                             ("kept chars/shown", self.kept, "{:.1f}")):
            if t.current is not None and t.previous is not None and t.p_value is not None:
                parts.append(f"{name} {fmt.format(t.previous)} -> {fmt.format(t.current)} "
                             f"(p={t.p_value:.2g}{', DROP' if t.drop else ''})")
        head = "SIGNIFICANT DROP" if self.status == "drop" else "no significant drop"
        tail = f"; roll back: {self.rollback_command()}" if self.status == "drop" else ""
        return f"{self.version} vs {self.previous}: {head}: " + "; ".join(parts) + tail


def version_order(positions: Iterable[Position]) -> list[str]:
    """Model versions in the order they first served a position."""
    first: dict[str, float] = {}
    for p in positions:
        first[p.model_version] = min(p.at, first.get(p.model_version, math.inf))
    return sorted(first, key=lambda v: first[v])


def cmh_test(tables: list[tuple[int, int, int, int]]) -> tuple[float | None, float | None,
                                                                  float | None]:
    """(odds ratio, z, one-sided p for "current lower") from 2x2 tables
    ``(current accepted, current not, previous accepted, previous not)``."""
    dev = var = num = den = 0.0
    for a, b, c, d in tables:
        n1, n2, m1 = a + b, c + d, a + c
        n = n1 + n2
        if n < 2 or n1 == 0 or n2 == 0:
            continue
        dev += a - n1 * m1 / n
        var += n1 * n2 * m1 * (n - m1) / (n * n * (n - 1))
        num += a * d / n
        den += b * c / n
    odds = num / den if den else None
    if var <= 0:
        return odds, None, None
    z = (dev + 0.5 if dev < 0 else max(0.0, dev - 0.5)) / math.sqrt(var)
    return odds, z, phi(z)


def _mean_var(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    return m, sum((v - m) ** 2 for v in values) / (len(values) - 1)


def stratified_mean_test(groups: list[tuple[list[float], list[float]]],
                         ) -> tuple[float | None, float | None, float | None]:
    """(difference, z, one-sided p for "current lower") from (current, previous) samples
    per stratum, weighted by the current version's share."""
    usable = [(cur, prev) for cur, prev in groups if len(cur) >= 2 and len(prev) >= 2]
    total = sum(len(cur) for cur, _ in usable)
    if not total:
        return None, None, None
    diff = var = 0.0
    for cur, prev in usable:
        w = len(cur) / total
        (mc, vc), (mp, vp) = _mean_var(cur), _mean_var(prev)
        diff += w * (mc - mp)
        var += w * w * (vc / len(cur) + vp / len(prev))
    if var <= 0:
        return diff, None, (0.0 if diff < 0 else 1.0)
    z = diff / math.sqrt(var)
    return diff, z, phi(z)


def compare(current: list[Position], previous: list[Position], version: str, before: str, *,
            alpha: float = ALPHA, min_positions: int = MIN_POSITIONS) -> Drift:
    by: dict[tuple[Any, ...], tuple[list[Position], list[Position]]] = defaultdict(
        lambda: ([], []))
    for p in current:
        if p.shown:
            by[p.stratum][0].append(p)
    for p in previous:
        if p.shown:
            by[p.stratum][1].append(p)
    pairs = [(cur, prev) for cur, prev in by.values() if cur and prev]
    out = Drift(version=version, previous=before, strata=len(pairs), alpha=alpha)
    cur_all = [p for cur, _ in pairs for p in cur]
    prev_all = [p for _, prev in pairs for p in prev]
    acc = out.acceptance
    acc.n_current, acc.n_previous = len(cur_all), len(prev_all)
    if acc.n_current < min_positions or acc.n_previous < min_positions:
        return out
    acc.current = sum(p.accepted for p in cur_all) / len(cur_all)
    acc.previous = sum(p.accepted for p in prev_all) / len(prev_all)
    tables = []
    for cur, prev in pairs:
        a, c = sum(p.accepted for p in cur), sum(p.accepted for p in prev)
        tables.append((a, len(cur) - a, c, len(prev) - c))
    acc.effect, acc.z, acc.p_value = cmh_test(tables)
    acc.drop = acc.z is not None and acc.z < 0 and (acc.p_value or 1.0) < alpha

    def kept(ps: list[Position]) -> list[float]:
        return [float(p.kept or 0) for p in ps if not p.accepted or p.kept is not None]

    groups = [(kept(cur), kept(prev)) for cur, prev in pairs]
    k = out.kept
    k.n_current, k.n_previous = sum(len(c) for c, _ in groups), sum(len(p) for _, p in groups)
    if k.n_current >= min_positions and k.n_previous >= min_positions:
        k.current = sum(sum(c) for c, _ in groups) / k.n_current
        k.previous = sum(sum(p) for _, p in groups) / k.n_previous
        k.effect, k.z, k.p_value = stratified_mean_test(groups)
        k.drop = k.effect is not None and k.effect < 0 and (k.p_value or 1.0) < alpha
    out.status = "drop" if acc.drop or k.drop else "ok"
    return out


def drift(positions: list[Position], *, alpha: float = ALPHA,
          min_positions: int = MIN_POSITIONS) -> list[Drift]:
    """Each model version against the one that served before it."""
    order = version_order(positions)
    by: dict[str, list[Position]] = defaultdict(list)
    for p in positions:
        by[p.model_version].append(p)
    return [compare(by[v], by[prev], v, prev, alpha=alpha, min_positions=min_positions)
            for prev, v in zip(order, order[1:], strict=False)]
