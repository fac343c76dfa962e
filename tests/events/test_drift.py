"""Drift between model versions: flagged on a seeded drop, not on noise, not on tiny samples,
and like is compared with like (strata)."""

from __future__ import annotations

import math

from codeward.server.events.drift import cmh_test, drift, stratified_mean_test
from codeward.server.events.outcomes import Position, collect

from seeded_events import Version, generate


def _drift(v1: Version, v2: Version, seed: int = 0):  # type: ignore[no-untyped-def]
    rows, _ = generate([v1, v2], seed=seed)
    return drift(collect(rows).positions)


def test_seeded_acceptance_drop_is_flagged() -> None:
    (d,) = _drift(Version("m@v1", 0.3, n=600), Version("m@v2", 0.18, n=600, start_day=10))
    assert d.status == "drop" and d.acceptance.drop
    assert d.acceptance.p_value is not None and d.acceptance.p_value < 0.001
    assert d.acceptance.effect is not None and d.acceptance.effect < 1
    assert "codeward model rollback --to v1" in d.message()


def test_seeded_kept_drop_is_flagged_with_same_acceptance() -> None:
    (d,) = _drift(Version("m@v1", 0.3, keep=0.9, n=600),
                  Version("m@v2", 0.3, keep=0.3, n=600, start_day=10), seed=4)
    assert d.kept.drop and d.status == "drop"
    assert not d.acceptance.drop


def test_noise_is_not_flagged() -> None:
    flagged = [seed for seed in range(30)
               if _drift(Version("m@v1", 0.3, n=400),
                         Version("m@v2", 0.3, n=400, start_day=10), seed)[0].status == "drop"]
    # two tests at alpha 0.01 each: about 0.6 false alarms expected in 30 runs
    assert len(flagged) <= 2, flagged


def test_tiny_samples_are_not_judged() -> None:
    (d,) = _drift(Version("m@v1", 0.5, n=20), Version("m@v2", 0.05, n=20, start_day=10))
    assert d.status == "insufficient-data" and not d.acceptance.drop
    assert "too few" in d.message()


def test_strata_compare_like_with_like() -> None:
    """v2 serves mostly hard (multi-line) positions, which are accepted less for both
    versions: the pooled rate drops, the stratified test does not call it a drop."""
    def pos(version: str, multiline: bool, accepted: bool, i: int) -> Position:
        return Position(completion_id=f"{version}{i}", at=i if version == "v1" else 10**6 + i,
                        model_version=version, language="python", multiline=multiline,
                        served=True, shown=True, accepted=accepted)

    ps = []
    for version, easy, hard in (("v1", 400, 100), ("v2", 100, 400)):
        ps += [pos(version, False, i % 2 == 0, i) for i in range(easy)]  # easy: 50%
        ps += [pos(version, True, i % 10 == 0, easy + i) for i in range(hard)]  # hard: 10%
    (d,) = drift(ps)
    assert d.acceptance.previous is not None and d.acceptance.current is not None
    assert d.acceptance.current < d.acceptance.previous - 0.2  # pooled: 42% -> 18%
    assert not d.acceptance.drop and d.status == "ok"
    assert d.acceptance.effect is not None and math.isclose(d.acceptance.effect, 1.0)


def test_cmh_matches_a_two_proportion_test_on_one_stratum() -> None:
    # one stratum: CMH z (without continuity correction) = pooled z * sqrt((N-1)/N)
    a, b, c, d = 30, 70, 50, 50
    _, z, p = cmh_test([(a, b, c, d)])
    p1, p2, pool, n = a / 100, c / 100, 80 / 200, 200
    z_pooled = (p1 - p2) / math.sqrt(pool * (1 - pool) * (1 / 100 + 1 / 100))
    expected = (a - 100 * 80 / n + 0.5) / math.sqrt(100 * 100 * 80 * 120 / (n * n * (n - 1)))
    assert z is not None and math.isclose(z, expected)
    assert math.isclose(z - 0.5 / math.sqrt(100 * 100 * 80 * 120 / (n * n * (n - 1))),
                        z_pooled * math.sqrt((n - 1) / n))
    assert p is not None and 0 < p < 0.01


def test_stratified_mean_test_needs_variance() -> None:
    assert stratified_mean_test([([1.0], [2.0])]) == (None, None, None)
    diff, z, p = stratified_mean_test([([1.0, 1.0], [2.0, 2.0])])
    assert diff == -1.0 and z is None and p == 0.0
