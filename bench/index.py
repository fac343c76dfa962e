"""Index benchmark: build time, memory per token, lookup p50/p95 on a large index, and a
didChange on a 5,000-line file; with ``--completion``, single-line completion p95 with the
index and vetting through ``run_completion`` on the shipped model, and start to first
completion of the real server.

    python bench/index.py [--tokens 10000000] [--lookups 500] [--completion]

The corpus is the standard library plus installed packages (read from disk, repeated with
a per-copy suffix if it is too small), so the token stream is real code.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sysconfig
import time
from pathlib import Path

from codeward.server.index import ProjectIndex, SourceDoc
from codeward.server.index.lexer import lex
from codeward.server.settings import IndexSettings


def corpus(tokens: int) -> list[SourceDoc]:
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    docs: list[SourceDoc] = []
    chars = 0
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if len(text) > 1_000_000:
                continue
            docs.append(SourceDoc(str(path), text, "workspace"))
            chars += len(text)
            if chars / 4.0 >= tokens:
                return docs
    return docs


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bench_build(args: argparse.Namespace) -> tuple[ProjectIndex, list[SourceDoc]]:
    docs = corpus(args.tokens)
    held = docs[::40]  # 2.5% of the files are held out: lookups are made from them
    docs = [d for i, d in enumerate(docs) if i % 40]
    print(f"corpus: {len(docs)} files, {sum(len(d.text) for d in docs) / 1e6:.1f} M chars "
          f"({len(held)} more held out for lookups)")
    settings = IndexSettings(cache=False, max_tokens=2_000_000_000)
    idx = ProjectIndex(settings)
    gc.collect()
    t0 = time.perf_counter()
    report = idx.add_documents(docs, label="bench", cache=False)
    build = time.perf_counter() - t0
    seg = idx._segs[0].segment
    arrays = seg.rev.nbytes + seg.sa.nbytes + seg.asa.nbytes + seg.abs_of.nbytes + sum(
        a.tokens.nbytes + a.offsets.nbytes for a in seg.anchors)
    text = sum(len(d.text.encode()) for d in seg.docs)
    print(f"build: {report.tokens:,} tokens in {build:.1f} s "
          f"({report.tokens / build / 1e6:.2f} M tokens/s; secret lines blanked: "
          f"{report.skipped.get('secret-lines', 0)})")
    print(f"memory: arrays {arrays / report.tokens:.2f} B/token (of which the abstracted "
          f"stream's suffix array {seg.asa.nbytes / report.tokens:.2f}) + text "
          f"{text / report.tokens:.2f} B/token = {(arrays + text) / report.tokens:.2f} "
          f"B/token; vocabulary {len(seg.vocab):,} strings")
    return idx, held


def bench_lookups(idx: ProjectIndex, held: list[SourceDoc], n: int, label: str) -> None:
    rng = random.Random(0)
    docs = [d for d in held if d.text.count("\n") > 20]
    times, shown, lengths = [], 0, []
    for _ in range(n):
        doc = rng.choice(docs)
        lines = doc.text.split("\n")
        i = rng.randrange(1, len(lines))
        line = lines[i]
        cut = len(line) - len(line.lstrip())
        prefix = "\n".join(lines[:i]) + "\n" + line[:cut]
        t0 = time.perf_counter()
        found = idx.suggest("bench", prefix, "\n")
        times.append((time.perf_counter() - t0) * 1000)
        shown += bool(found)
        lengths.append(idx.lookup(prefix).match_tokens)
    print(f"lookup+candidates, {label} ({n} positions): p50 {pct(times, .5):.2f} ms, "
          f"p95 {pct(times, .95):.2f} ms, max {max(times):.1f} ms; match length median "
          f"{statistics.median(lengths)} tokens; a candidate at {shown / n:.0%}")


def bench_didchange(idx: ProjectIndex) -> None:
    lines = [f"def func_{i}(a, b):\n    return a + b * {i}\n" for i in range(2500)]
    text = "".join(lines)
    assert text.count("\n") == 5000
    idx.open_document("bench-doc", text, "/bench/doc.py")
    rng = random.Random(1)
    times = []
    for _ in range(300):
        pos = rng.randrange(len(text))
        text = text[:pos] + rng.choice(["x", " ", "(", "\n    "]) + text[pos:]
        t0 = time.perf_counter()
        idx.update_document("bench-doc", text)
        times.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    fresh = lex(text)
    full = (time.perf_counter() - t0) * 1000
    print(f"didChange on a 5,000-line file: p50 {pct(times, .5):.2f} ms, "
          f"p95 {pct(times, .95):.2f} ms (re-lexing the whole file: {full:.1f} ms, "
          f"{len(fresh):,} tokens)")


REPO = Path(__file__).resolve().parent.parent


def _positions(files: list[Path], n: int, rng: random.Random) -> list[tuple[Path, str, int]]:
    """Cursor positions like ``codeward eval``'s: after a line's indentation or inside it,
    the rest of the line removed."""
    out = []
    while len(out) < n:
        path = rng.choice(files)
        lines = path.read_text("utf-8").split("\n")
        i = rng.randrange(1, len(lines))
        line = lines[i]
        if len(line.strip()) < 4:
            continue
        body = len(line) - len(line.lstrip())
        cut = rng.randrange(body + 1, len(line)) if rng.random() < 0.5 else body
        before = "\n".join(lines[:i]) + "\n" + line[:cut]
        text = before + "\n" + "\n".join(lines[i + 1:])
        out.append((path, text, len(before)))
    return out


def bench_completion(n: int) -> None:
    """Single-line completion through ``run_completion``: index + shipped model + vetting."""
    import threading

    from codeward.analyzers.pipeline import Pipeline
    from codeward.server import models
    from codeward.server.completion import CompletionRequest, run_completion
    from codeward.server.engine import Engine
    from codeward.server.settings import Settings

    settings = Settings()
    settings.completion.multiline = "never"
    pipeline = Pipeline.from_settings(settings.analyzers, settings.vetting)
    pipeline.wait_fast(30)
    engine = Engine(models.resolve_model_dir("", settings.model.registry), settings.engine)
    files = sorted((REPO / "server").rglob("*.py")) + sorted((REPO / "analyzers").glob("*.py"))
    held = files[::8]
    idx = ProjectIndex(IndexSettings(cache=False))
    idx.add_documents([SourceDoc(str(f), f.read_text("utf-8")) for f in files
                       if f not in held], label="workspace")
    rng = random.Random(3)
    times: list[float] = []
    sources: dict[str, int] = {}
    for k, (path, text, offset) in enumerate(_positions(held, n + 5, rng)):
        idx.open_document("doc", text, str(path))
        req = CompletionRequest(uri="doc", path=str(path), language="python", version=k,
                                text=text, offset=offset, settings=settings)
        t0 = time.perf_counter()
        result = run_completion(engine, pipeline, req, threading.Event(), str(k), idx)
        if k >= 5:  # warm-up
            times.append((time.perf_counter() - t0) * 1000)
            src = result.candidates[0].source if result.candidates else result.reason
            sources[src] = sources.get(src, 0) + 1
    pipeline.close()
    print(f"single-line completion, index + shipped model + vetting ({n} positions in "
          f"held-out files of this repository): p50 {pct(times, .5):.1f} ms, "
          f"p95 {pct(times, .95):.1f} ms; answered by {sources}")


def bench_start() -> None:
    """Spawn ``codeward serve`` with this repository as the workspace, open a file and ask
    for an inline completion until one answers: start to first completion."""
    import json
    import subprocess
    import sys

    target = REPO / "server" / "postprocess.py"
    text = target.read_text("utf-8")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "codeward.server.cli", "serve"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None

    def send(msg: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **msg}).encode()
        proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    def read(wanted: int) -> dict:
        while True:
            length = 0
            while True:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif line in (b"\r\n", b"\n"):
                    break
            msg = json.loads(proc.stdout.read(length))  # type: ignore[union-attr]
            if msg.get("id") == wanted:
                return msg

    uri = target.as_uri()
    send({"id": 1, "method": "initialize", "params": {"capabilities": {},
                                                      "rootUri": REPO.as_uri()}})
    read(1)
    send({"method": "initialized", "params": {}})
    send({"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": text}}})
    line = text.split("\n").index("def current_line_prefix(prefix: str) -> str:") + 1
    send({"id": 2, "method": "textDocument/inlineCompletion", "params": {
        "textDocument": {"uri": uri}, "position": {"line": line, "character": 4},
        "context": {"triggerKind": 2}}})
    answer = read(2)
    first = time.perf_counter() - t0
    items = answer.get("result", {}).get("items", [])
    send({"id": 3, "method": "shutdown"})
    read(3)
    send({"method": "exit"})
    proc.wait(30)
    print(f"start to first completion ({target.name}, this repository as the workspace): "
          f"{first:.2f} s ({len(items)} items)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tokens", type=int, default=10_000_000)
    ap.add_argument("--lookups", type=int, default=500)
    ap.add_argument("--completion", action="store_true")
    args = ap.parse_args()
    idx, held = bench_build(args)
    bench_lookups(idx, held, args.lookups, "held-out files")
    seg_docs = idx._segs[0].segment.docs
    bench_lookups(idx, seg_docs[::max(1, len(seg_docs) // 200)], args.lookups // 2,
                  "indexed files (their own copy matches: the longest matches)")
    bench_didchange(idx)
    if args.completion:
        bench_completion(args.lookups)
        bench_start()


if __name__ == "__main__":
    main()
