"""Vetting benchmark: warm p50/p95 of the whole pipeline per suggestion on a 100-line and
a 2,000-line file (per analyzer too), latency while the license index is still loading,
cold time until every analyzer is ready, and peak RSS (server process and license worker).

    python bench/vetting.py [--runs 200] [--compare]

``--compare`` also measures, in the same run, what this replaced: ruff on the whole
document (``window_lines = 0``, interleaved with the windowed run on the same
suggestions) and the license index loaded in a thread of the server process.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time
from typing import Any

from codeward.analyzers.contract import VetContext
from codeward.analyzers.license import LicenseAnalyzer
from codeward.analyzers.pipeline import Pipeline, discover
from codeward.analyzers.source import _python_source

SUGGESTIONS = [
    "return a + b\n", "os.system(cmd)\n", "result = sorted(items, key=lambda i: i.name)\n",
    "subprocess.run(cmd, shell=True)\n", "password = 'hunter2secret'\n",
    "for x in items:\n        total += x\n", "return yaml.safe_load(data)\n",
    "data = json.loads(text)\n", "x = foo(a, 'b", "# SPDX-License-Identifier: MIT\n",
]
PATH = "/tmp/codeward-bench/m.py"


def make_file(lines: int) -> str:
    out = ["import os\nimport json\nimport subprocess\nimport yaml\n\n"]
    i = 0
    while sum(s.count("\n") for s in out) < lines:
        out.append(f"def func_{i}(items, data, cmd):\n    total = 0\n    for x in items:\n"
                   f"        total += x * {i}\n    return total\n\n\n")
        i += 1
    return "".join(out)


def contexts(text: str, runs: int, seed: int = 0) -> list[VetContext]:
    rng = random.Random(seed)
    cut = [i for i, c in enumerate(text) if c == "\n" and text[i + 1:i + 9] == "    retu"]
    out = []
    for n in range(runs):
        at = rng.choice(cut) + 5
        out.append(VetContext(text[:at], SUGGESTIONS[n % len(SUGGESTIONS)], text[at:],
                              path=PATH))
    return out


def pct(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[max(0, int(0.95 * len(times)) - 1)]


def run(pipes: dict[str, Pipeline], ctxs: list[VetContext]) -> dict[str, Any]:
    """Vet every context with each pipeline in turn (interleaved: same machine load)."""
    total: dict[str, list[float]] = {k: [] for k in pipes}
    per: dict[str, dict[str, list[float]]] = {k: {} for k in pipes}
    for ctx in ctxs:
        for label, pipe in pipes.items():
            _python_source.cache_clear()  # a new suggestion is never in the parse cache
            t = time.perf_counter()
            r = pipe.vet(ctx)
            total[label].append((time.perf_counter() - t) * 1000)
            for name, ms in r.timings_ms.items():
                per[label].setdefault(name, []).append(ms)
    return {"total": total, "per": per}


def show(label: str, times: list[float], per: dict[str, list[float]] | None = None) -> None:
    p50, p95 = pct(times)
    print(f"  {label:<34} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  ({len(times)} runs)")
    if per:
        print("      per analyzer p50/p95 ms: " + ", ".join(
            f"{k} {pct(v)[0]:.2f}/{pct(v)[1]:.2f}" for k, v in per.items()))


def while_loading(pipe: Pipeline, files: dict[int, str]) -> tuple[float, dict[int, list[float]]]:
    """Vet (both files, then 10 ms idle) until every analyzer is ready; returns
    (seconds, latencies)."""
    t0 = time.perf_counter()
    ctxs = {n: contexts(text, 400, seed=1) for n, text in files.items()}
    times: dict[int, list[float]] = {n: [] for n in files}
    i = 0
    while not all(s in ("ready", "disabled") for s in pipe.status().values()):
        for n in files:
            _python_source.cache_clear()
            t = time.perf_counter()
            pipe.vet(ctxs[n][i % 400])
            times[n].append((time.perf_counter() - t) * 1000)
        i += 1
        time.sleep(0.01)  # an editor asks every few keystrokes, not in a busy loop
        if time.perf_counter() - t0 > 300:
            break
    return time.perf_counter() - t0, times


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cold(pipe: Pipeline, t0: float, files: dict[int, str], label: str) -> None:
    built = time.perf_counter() - t0
    pipe.wait_fast(60)
    fast = time.perf_counter() - t0
    seconds, times = while_loading(pipe, files)
    print(f"{label}: from_settings {built * 1000:.0f} ms; fast analyzers ready after "
          f"{fast:.1f} s; all ready after {time.perf_counter() - t0:.1f} s")
    for n, ts in times.items():
        if ts:
            show(f"while the license index loads, {n} lines", ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--compare", action="store_true",
                    help="also measure ruff on the whole document and the license index "
                         "loaded in the server process")
    args = ap.parse_args()
    files = {n: make_file(n) for n in (100, 2000)}

    t0 = time.perf_counter()
    pipe = Pipeline.from_settings({}, {})
    cold(pipe, t0, files, "license index in a worker process")
    assert pipe.wait_ready(300), pipe.status()
    pipes = {"ruff windowed (default)": pipe}
    if args.compare:
        whole = Pipeline(pipe.analyzers, {"ruff": {"window_lines": 0}}, {})
        whole._warm = dict(pipe._warm)
        pipes["ruff on the whole document"] = whole
    print("warm:")
    for n, text in files.items():
        run(pipes, contexts(text, 20, seed=2))  # warm caches (ruff server, first parse)
        res = run(pipes, contexts(text, args.runs))
        for label in pipes:
            show(f"{n:>5} lines, {label}", res["total"][label], res["per"][label])
    worker = getattr(pipe.analyzers.get("license"), "_worker", None)
    worker_rss = worker.info.get("rss_mb", 0) if worker is not None else 0
    print(f"peak RSS: server process {rss_mb():.0f} MB, license worker {worker_rss:.0f} MB")
    pipe.close()

    if args.compare:
        analyzers = {name: cls() for name, cls in discover().items()}
        analyzers["license"] = LicenseAnalyzer(in_process=True)
        t0 = time.perf_counter()
        old = Pipeline(analyzers, {}, {})
        old.start_warm_up()
        cold(old, t0, files, "license index in a server thread (before)")
        print(f"peak RSS: server process {rss_mb():.0f} MB")
        old.close()


if __name__ == "__main__":
    main()
