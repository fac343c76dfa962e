"""Seeded accept/reject logs for the show/rank policy tests: event rows as the recorder
writes them (completion rows with ``gate["features"]``, show / accept / dismiss, survival,
withheld), made from a known rule so a learned policy has something real to find.

The rule: an index copy with a long match and a clear vote is usually accepted and kept, a
short or split one rarely; model text is accepted with a probability rising with its mean
log-probability; in project ``p2`` copies are accepted more often than in ``p1``."""

from __future__ import annotations

import math
import random
from typing import Any


def _features(rng: random.Random, source: str) -> dict[str, Any]:
    f: dict[str, Any] = {"source": source, "language": "python",
                         "position": rng.choice(["new_line", "mid_line"]),
                         "after": rng.choice(["colon", "word", "open", "start"]),
                         "multiline": False, "indent": rng.choice([0, 4, 8]),
                         "prefix_chars": rng.randint(50, 4000), "suffix_chars": rng.randint(0, 3000),
                         "line_prefix_chars": rng.randint(0, 30),
                         "line_suffix_chars": rng.randint(0, 5),
                         "candidate_chars": rng.randint(5, 80), "candidate_lines": 1}
    if source == "index":
        f.update(match_tokens=rng.randint(1, 60), vote_share=round(rng.random(), 3),
                 occurrences=rng.randint(1, 8))
    else:
        mean = -rng.random() * 4
        f.update(mean_logprob=round(mean, 3), min_logprob=round(mean * 2, 3), tokens=12)
    return f


def _p_accept(f: dict[str, Any], project: str) -> float:
    if f["source"] == "index":
        z = -3.0 + 0.12 * f["match_tokens"] + 2.5 * f["vote_share"] + (1.0 if project == "p2" else 0)
    else:
        z = 1.5 + 1.6 * f["mean_logprob"]
    return 1 / (1 + math.exp(-z))


def seeded_logs(n: int = 400, seed: int = 0, t0: float = 1_780_000_000.0,
                shuffle_labels: bool = False) -> list[dict[str, Any]]:
    """``n`` positions, each with one index and one model candidate, both shown; the
    developer accepts the better fitting one when it fits. ``shuffle_labels``: accepts land
    on random candidates (logs a policy can learn nothing true from)."""
    rng = random.Random(seed)  # noqa: S311
    rows: list[dict[str, Any]] = []
    for i in range(n):
        cid, at = f"c{seed}-{i}", t0 + 10 * i
        project = "p1" if i % 3 else "p2"
        common = {"completion_id": cid, "repo_hash": project, "language": "python",
                  "model_version": "1", "user_hash": "u"}
        cands = [_features(rng, "index"), _features(rng, "model")]
        if i % 10 == 9:  # withheld: nothing shown, logged without text
            rows.append({"type": "withheld", **common, "at": at,
                         "gate": [{"features": f, "shown": False} for f in cands]})
            continue
        fits = [rng.random() < _p_accept(f, project) for f in cands]
        if shuffle_labels:
            fits = [rng.random() < 0.3 for _ in cands]
        for k, f in enumerate(cands):
            gated = (f.get("match_tokens", 0) >= 8 and f.get("vote_share", 0) >= 0.5) or \
                f.get("mean_logprob", -9) >= -1.0
            rows.append({"type": "completion", **common, "candidate_index": k, "at": at,
                         "blocked": False, "source": f["source"],
                         "gate": {"features": f, "shown": gated}})
            rows.append({"type": "show", **common, "candidate_index": k, "at": at + 0.1})
        chosen = next((k for k in (0, 1) if fits[k]), None)
        for k, f in enumerate(cands):
            if k == chosen:
                length = f["candidate_chars"]
                kept = length if rng.random() < 0.9 else 0
                rows.append({"type": "accept", **common, "candidate_index": k, "at": at + 1,
                             "accepted_length": length})
                rows.append({"type": "survival", **common, "candidate_index": k, "at": at + 31,
                             "after_s": 30, "accepted_chars": length, "kept_chars": kept})
            else:
                rows.append({"type": "dismiss", **common, "candidate_index": k, "at": at + 1,
                             "reason": "typed-over"})
    return rows
