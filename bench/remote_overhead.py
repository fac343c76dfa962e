"""What the remote engine's client costs on top of the HTTP exchange itself.

The same streamed completion from the test suite's OpenAI-compatible server
(tests/server/fake_openai.py, in its own process, loopback), asked N times three ways: one plain httpx
streaming request per completion on a kept-alive client (the floor), RemoteEngine.generate
(worker thread -> event loop -> httpx + SSE parsing -> back), and RemoteEngine.generate
with early stop at the line end. Prints p50/p95 in ms and the ratios.

    python bench/remote_overhead.py [--n 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "server"))

from codeward.server import models  # noqa: E402
from codeward.server.engine_api import GenerationRequest, PromptModel  # noqa: E402
from codeward.server.remote import RemoteEngine  # noqa: E402
from codeward.server.settings import EngineSettings  # noqa: E402

from fake_openai import FakeOpenAI  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm: connect once
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="completions per way")
    args = parser.parse_args()
    prompt_model = PromptModel(models.resolve_model_dir(""))
    prompt = prompt_model.family.format("def add(a, b):\n    ", "\n") * 20
    reply = "total = a + b\n    return total\n"
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).parents[1] / "tests" / "server" / "fake_openai.py"),
         "0", reply], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdin is not None
    url = server.stdout.readline().strip()
    tokens = len(FakeOpenAI(reply).tokens({"max_tokens": 32}))
    try:
        settings = dataclasses.replace(EngineSettings(), backend="openai", url=url)
        engine = RemoteEngine(prompt_model, settings)
        body = engine._body(GenerationRequest(prompt=prompt, max_new_tokens=32), 1, True)
        client = httpx.Client(trust_env=False)

        def direct() -> None:
            with client.stream("POST", engine.url, json=body) as response:
                for _ in response.iter_lines():
                    pass

        def full() -> None:
            engine.generate(GenerationRequest(prompt=prompt, max_new_tokens=32))

        def line() -> None:
            engine.generate(GenerationRequest(prompt=prompt, max_new_tokens=32,
                                              single_line=True))

        results = {name: timed(fn, args.n) for name, fn in
                   (("httpx direct", direct), ("RemoteEngine", full),
                    ("RemoteEngine, line stop", line))}
        engine.close()
        client.close()
    finally:
        server.stdin.close()
        server.wait(10)
    floor = statistics.median(results["httpx direct"])
    print(f"{args.n} completions each, {tokens} streamed tokens, loopback, server in its own "
          "process")
    for name, xs in results.items():
        p50 = statistics.median(xs)
        print(f"{name:26s} p50 {p50:6.2f} ms  p95 {pct(xs, 0.95):6.2f} ms  "
              f"x{p50 / floor:4.2f} of direct")


if __name__ == "__main__":
    main()
