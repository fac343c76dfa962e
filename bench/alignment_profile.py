"""Where the CPU of one repository's alignment demo goes (``bench/alignment_demo.sh``).

Usage: python bench/alignment_profile.py DIR   (a package's work dir of the demo)

Per step: CPU (user+sys, the server's included) and wall seconds (``steps.txt``). Per
simulated part: CPU per completion request, and the server's own split of a request (the
event store: prompt building, model generation, vetting, the rest of the completion: index
lookup, clean-up, features; wall milliseconds in the worker thread, one thread each), the
vetting split per analyzer (the server log's audit lines), and what is left for the
protocol, the typing (didChange: live index, survival watches, written-instead) and the
simulated developer. Then the parts of ``finetune run`` (``run.json``).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from alignment_table import steps  # noqa: E402

PARTS = {"simulate_a": "train", "simulate_b": "serving", "simulate_b_model": "tuned"}


def server_split(db: Path) -> dict[str, float]:
    """Mean milliseconds per request (completion id) of each part the server logs."""
    per: dict[str, dict[str, float]] = {}
    with sqlite3.connect(db) as con:
        for cid, data in con.execute("select completion_id, data from events "
                                     "where type = 'completion'"):
            d = json.loads(data)
            per[cid] = {k: float(d.get(k) or 0) for k in
                        ("latency_ms", "prompt_ms", "generation_ms", "vetting_ms")}
    if not per:
        return {}
    out = {k: statistics.fmean(r[k] for r in per.values()) for k in next(iter(per.values()))}
    out["other_ms"] = out["latency_ms"] - out["prompt_ms"] - out["generation_ms"] \
        - out["vetting_ms"]
    return out


def analyzer_split(log: Path) -> dict[str, float]:
    """Total milliseconds per analyzer over the run (audit lines with ``timings_ms``)."""
    total: dict[str, float] = defaultdict(float)
    if not log.is_file():
        return {}
    for line in log.read_text("utf-8", errors="replace").splitlines():
        at = line.find("codeward.audit: vet ")
        if at >= 0:
            for name, ms in (json.loads(line[at + 20:]).get("timings_ms") or {}).items():
                total[name] += ms
    return dict(total)


def main(d: Path) -> None:
    st = steps(d)
    print(f"{'step':<18}{'CPU s':>8}{'wall s':>8}")  # noqa: T201
    for name, v in st.items():
        print(f"{name:<18}{v['cpu_s']:>8.0f}{v['wall_s']:>8.0f}")  # noqa: T201
    for step, label in PARTS.items():
        rep = d / f"{label}.json"
        if step not in st or not rep.is_file():
            continue
        r = json.loads(rep.read_text("utf-8"))
        n = max(1, r["requests"])
        split = server_split(d / f"events-{label}.db")
        cpu_ms = 1000 * st[step]["cpu_s"] / n
        print(f"\n{label}: {r['requests']} requests, {cpu_ms:.0f} ms CPU per request "  # noqa: T201
              "(server start and index build included)")
        busy = sum(v for k, v in split.items() if k != "latency_ms") or 1.0
        print("  the server's request time (wall ms in its worker; shares hold on a loaded "  # noqa: T201
              "machine, milliseconds do not):")
        for key, ms in split.items():
            if key != "latency_ms":
                print(f"  {key[:-3]:<30}{ms:>8.1f} ms {ms / busy:>6.0%}")  # noqa: T201
        analyzers = analyzer_split(Path(r.get("server_log") or ""))
        for name, ms in sorted(analyzers.items(), key=lambda p: -p[1]):
            print(f"    vetting: {name:<19}{ms / n:>8.2f} ms")  # noqa: T201
    run = d / "run.json"
    if run.is_file():
        r = json.loads(run.read_text("utf-8"))
        train = r.get("train") or {}
        print(f"\nfinetune run (wall s): {r.get('timings')}; {train.get('method')} "  # noqa: T201
              f"{train.get('steps')} steps on {train.get('rows')} rows in "
              f"{train.get('seconds', 0):.0f} s")
        gate = r.get("gate") or {}
        for side in ("baseline", "candidate"):
            if (gate.get(side) or {}).get("seconds"):
                print(f"  gate, {side}: {gate[side]['seconds']} (wall s)")  # noqa: T201


if __name__ == "__main__":
    main(Path(sys.argv[1]))
