"""Load: N concurrent clients at a fixed request rate for a fixed time, on loopback only.

``--mode tcp``: one ``codeward serve --tcp 127.0.0.1:PORT`` and N connections to it (a
session each). ``--mode stdio``: N ``codeward serve`` processes, one client each. Every
client types into its own document (a line above the cursor changes before each request,
so every request is a real generation) and sends inline completions at ``--rate`` per
second; a request that would start before the previous answer came back starts when it
does. Request ids are unique per client, so an answer carrying another client's id is
counted as misrouted. The server processes' RSS is sampled every second.

    python bench/load.py --clients 8 --rate 2 --seconds 60            # TCP sessions
    python bench/load.py --clients 1 --rate 2 --seconds 60            # the single-client base
    python bench/load.py --mode stdio --clients 8 --no-license        # N processes
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "server"))

from raw_client import RawClient, inline_params, texts  # noqa: E402

DOC = "x = 0\nclass Point:\n    def __init__(self"
CURSOR = (2, 21)
HOST = "127.0.0.1"


def rss_mb(pid: int, with_children: bool) -> float:
    pids = [pid]
    if with_children:
        for task in Path(f"/proc/{pid}/task").glob("*"):  # children of every thread
            try:
                pids += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def server_cmd(model: str | None, tcp_port: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "codeward.server.cli", "serve", "--log-level", "WARNING"]
    if model:
        cmd += ["--model", model]
    if tcp_port is not None:
        cmd += ["--tcp", f"{HOST}:{tcp_port}"]
    return cmd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Client(threading.Thread):
    def __init__(self, n: int, conn: RawClient, options: dict[str, Any], rate: float,
                 seconds: float, start_at: float) -> None:
        super().__init__(daemon=True)
        self.n, self.c, self.options = n, conn, options
        self.period, self.seconds, self.start_at = 1.0 / rate, seconds, start_at
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.misrouted = 0
        self.empty = 0

    def run(self) -> None:
        uri = f"file:///load/client{self.n}.py"
        self.c.open(uri, DOC)
        k = 0
        while True:
            due = self.start_at + k * self.period
            if due - self.start_at >= self.seconds:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            k += 1
            self.c.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": k + 1},
                "contentChanges": [{"range": {"start": {"line": 0, "character": 0},
                                              "end": {"line": 0, "character": 99}},
                                    "text": f"x = {self.n * 100000 + k}"}]})
            msg_id = f"c{self.n}-{k}"
            t0 = time.perf_counter()
            self.c.send({"jsonrpc": "2.0", "id": msg_id,
                         "method": "textDocument/inlineCompletion",
                         "params": inline_params(uri, *CURSOR)})
            try:
                answer = self.c.wait(msg_id, timeout=30)
            except (TimeoutError, ConnectionError) as exc:
                self.errors.append(str(exc))
                continue
            self.latencies.append((time.perf_counter() - t0) * 1000)
            if "error" in answer:
                self.errors.append(str(answer["error"]))
            elif not texts(answer):
                self.empty += 1
            self.misrouted += sum(1 for key in self.c.pending
                                  if not key.startswith(f'"c{self.n}-'))
            self.c.pending.clear()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.no_license:
        options["analyzers"] = {"license": {"enabled": False, "acknowledge_disabled": True}}
    log = open(Path(tempfile.gettempdir()) / "codeward-load-server.log", "w")
    procs: list[subprocess.Popen[bytes]] = []
    conns: list[RawClient] = []
    if args.mode == "tcp":
        port = free_port()
        procs.append(subprocess.Popen(server_cmd(args.model, port), stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=log))
        for _ in range(args.clients):
            conns.append(RawClient.tcp(HOST, port, timeout=60))
    else:
        for _ in range(args.clients):
            conns.append(_stdio(args.model, log))
            procs.append(conns[-1].proc)  # type: ignore[attr-defined]
    try:
        for c in conns:
            c.initialize(options)
        for c in conns if args.mode == "stdio" else conns[:1]:  # warm up each backend
            c.open("file:///load/warm.py", DOC)
            for _ in range(3):
                c.inline("file:///load/warm.py", *CURSOR, timeout=120)
            c.notify("textDocument/didClose", {"textDocument": {"uri": "file:///load/warm.py"}})
        samples: list[tuple[float, float, float]] = []
        start_at = time.monotonic() + 0.5
        clients = [Client(n, c, options, args.rate, args.seconds, start_at)
                   for n, c in enumerate(conns)]
        for cl in clients:
            cl.start()
        while any(cl.is_alive() for cl in clients):
            samples.append((round(time.monotonic() - start_at, 1),
                            sum(rss_mb(p.pid, False) for p in procs),
                            sum(rss_mb(p.pid, True) for p in procs)))
            time.sleep(1.0)
        for cl in clients:
            cl.join()
    finally:
        for c in conns:
            c.shutdown()
        for p in procs:
            try:
                p.terminate()
                p.wait(20)
            except Exception:
                p.kill()
        log.close()
    latencies = [x for cl in clients for x in cl.latencies]
    after_warm = [s for s in samples if s[0] >= min(10.0, args.seconds / 3)]
    return {
        "mode": args.mode, "clients": args.clients, "rate_per_client": args.rate,
        "seconds": args.seconds, "requests": len(latencies),
        "errors": sum(len(cl.errors) for cl in clients),
        "misrouted": sum(cl.misrouted for cl in clients),
        "empty_answers": sum(cl.empty for cl in clients),
        "p50_ms": round(pct(latencies, 50), 1), "p95_ms": round(pct(latencies, 95), 1),
        "p99_ms": round(pct(latencies, 99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "rss_server_mb": {"after_warmup": round(after_warm[0][1], 1) if after_warm else None,
                          "end": round(samples[-1][1], 1) if samples else None,
                          "max": round(max(s[1] for s in samples), 1) if samples else None},
        "rss_with_children_mb": {"after_warmup": round(after_warm[0][2], 1)
                                 if after_warm else None,
                                 "end": round(samples[-1][2], 1) if samples else None},
        "rss_samples": samples if args.samples else len(samples),
        "first_errors": [e for cl in clients for e in cl.errors][:5],
    }


def _stdio(model: str | None, log: Any) -> RawClient:
    """A client over its own ``codeward serve`` process."""
    proc = subprocess.Popen(server_cmd(model, None), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log)
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def write(data: bytes) -> None:
        stdin.write(data)
        stdin.flush()

    def close() -> None:
        try:
            stdin.close()
        except OSError:
            pass
        proc.wait(20)

    client = RawClient(write, proc.stdout.read1, close)  # type: ignore[attr-defined]
    client.proc = proc  # type: ignore[attr-defined]
    return client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["tcp", "stdio"], default="tcp")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=float, default=2.0, help="requests/s per client")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--model", help="converted model directory (default: the shipped one)")
    parser.add_argument("--no-license", action="store_true",
                        help="turn the license analyzer off (each stdio server would load "
                             "its own 1.4 GB index)")
    parser.add_argument("--samples", action="store_true", help="print every RSS sample")
    args = parser.parse_args()
    if not 1 <= args.clients <= 64 or not 0 < args.rate <= 50 or not 0 < args.seconds <= 3600:
        parser.error("clients 1-64, rate 0-50/s, seconds 0-3600")
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
