"""Vetting benchmark: warm p50/p95 of the whole pipeline per suggestion on a 100-line and
a 2,000-line file, cold time until every analyzer is ready, peak RSS.

    python bench/vetting.py [--runs 200]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time

from codeward.analyzers.contract import VetContext
from codeward.analyzers.pipeline import Pipeline

SUGGESTIONS = [
    "return a + b\n", "os.system(cmd)\n", "result = sorted(items, key=lambda i: i.name)\n",
    "subprocess.run(cmd, shell=True)\n", "password = 'hunter2secret'\n",
    "for x in items:\n        total += x\n", "return yaml.safe_load(data)\n",
    "data = json.loads(text)\n", "x = foo(a, 'b", "# SPDX-License-Identifier: MIT\n",
]


def make_file(lines: int) -> str:
    out = ["import os\nimport json\nimport subprocess\nimport yaml\n\n"]
    i = 0
    while sum(s.count("\n") for s in out) < lines:
        out.append(f"def func_{i}(items, data, cmd):\n    total = 0\n    for x in items:\n"
                   f"        total += x * {i}\n    return total\n\n\n")
        i += 1
    return "".join(out)


def bench(pipe: Pipeline, text: str, runs: int) -> tuple[float, float]:
    rng = random.Random(0)
    cut = [i for i, c in enumerate(text) if c == "\n" and text[i + 1:i + 9] == "    retu"]
    times = []
    for n in range(runs):
        at = rng.choice(cut) + 5
        ctx = VetContext(text[:at], SUGGESTIONS[n % len(SUGGESTIONS)], text[at:],
                         path="/tmp/codeward-bench/m.py")
        t = time.perf_counter()
        pipe.vet(ctx)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * len(times)) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    t0 = time.perf_counter()
    pipe = Pipeline.from_settings({}, {})
    built = time.perf_counter() - t0
    during = bench(pipe, make_file(100), 20)
    pipe.wait_ready(300)
    cold = time.perf_counter() - t0
    print(f"from_settings returned in {built * 1000:.0f} ms; all analyzers ready after "
          f"{cold:.1f} s ({pipe.status()})")
    print(f"while warming (100 lines): p50 {during[0]:.2f} ms  p95 {during[1]:.2f} ms")
    for lines in (100, 2000):
        text = make_file(lines)
        bench(pipe, text, 20)  # warm caches (ruff server, first parse)
        p50, p95 = bench(pipe, text, args.runs)
        print(f"warm {lines:>5} lines: p50 {p50:.2f} ms  p95 {p95:.2f} ms  ({args.runs} runs)")
        per = {}
        for n in range(50):
            r = pipe.vet(VetContext(text[:200], SUGGESTIONS[n % len(SUGGESTIONS)], text[200:]))
            for k, v in r.timings_ms.items():
                per.setdefault(k, []).append(v)
        print("    per analyzer p50 ms: " + ", ".join(
            f"{k} {statistics.median(v):.2f}" for k, v in per.items()))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    pipe.close()


if __name__ == "__main__":
    main()
