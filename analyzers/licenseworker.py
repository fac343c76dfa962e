"""The scancode license index in its own process, queried over a pipe.

Loading the index takes 5-15 s of pure-Python work and about 1.3 GB. Done in a thread of
the server it holds the GIL and vetting latency rises tenfold meanwhile; done here, the
server's threads stay responsive and the server's memory stays small. The loading thread
runs at a lower CPU priority (``LOAD_NICE``, or ``CODEWARD_LICENSE_LOAD_NICE``) so that,
on a busy machine, completions win; the thread answering lookups keeps normal priority.

Protocol (one JSON object per line): the worker first writes ``{"ready": true, ...}``
(or ``{"ready": false, "error": ...}``), then answers each request
``{"id": N, "query": TEXT, "lines": [LINE, ...] | null}`` with
``{"id": N, "matches": [...], "copyrights": [[LINE, STATEMENT], ...]}`` (or
``{"id": N, "error": ...}``). A lookup takes about a millisecond. The worker exits when
its stdin closes or its parent process is gone.

    python -m codeward.analyzers.licenseworker
"""

from __future__ import annotations

import json
import logging
import os
import resource
import select
import subprocess
import sys
import threading
import time
from typing import IO, Any

logger = logging.getLogger(__name__)

LOAD_NICE = 10
MAX_STARTS = 3


class WorkerGone(RuntimeError):
    pass


class _Lines:
    """Lines from a pipe, read with ``os.read`` (no Python-level buffering, so the
    thread that waits for the ready line and the ones sending lookups can take turns)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def readline(self, deadline: float | None) -> bytes:
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1:]
                return line
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.fd], [], [], wait)[0]:
                raise TimeoutError
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise WorkerGone("license worker exited")
            self.buf += chunk


PYTHON = [sys.executable, "-P"]
"""The worker's interpreter. ``-P``: the current directory is not put on ``sys.path``, so a
project with its own ``scancode.py`` (or any module named like a dependency) at its root,
where the server runs, cannot shadow what the worker imports."""


class LicenseWorker:
    """Client side: starts the worker, waits for it, sends lookups (one at a time; the
    asking thread reads the answer itself: no hop through a reader thread)."""

    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or [*PYTHON, "-m", "codeward.analyzers.licenseworker"]
        self._proc: subprocess.Popen[bytes] | None = None
        self._lines: _Lines | None = None
        self._ready = threading.Event()
        self._loaded = False
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._next = 0
        self.starts = 0
        self.failed = ""
        self.info: dict[str, Any] = {}

    @property
    def ready(self) -> bool:
        return self._loaded and not self.dead()

    def start(self) -> None:
        with self._start_lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self.starts += 1
            self._loaded = False
            self._ready.clear()
            proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    bufsize=0)
            assert proc.stdout is not None
            self._proc, self._lines = proc, _Lines(proc.stdout.fileno())
            threading.Thread(target=self._wait_loaded, args=(proc, self._lines), daemon=True,
                             name="codeward-license-start").start()

    def _wait_loaded(self, proc: subprocess.Popen[bytes], lines: _Lines) -> None:
        msg: dict[str, Any] = {}
        try:
            while "ready" not in msg:
                raw = lines.readline(None)
                try:
                    msg = json.loads(raw)
                except ValueError:
                    logger.warning("license worker wrote %r", raw[:200])
        except WorkerGone:
            msg = {"ready": False, "error": f"license worker exited with status {proc.wait()}"}
        if proc is not self._proc:
            return
        if msg["ready"]:
            self.info, self._loaded = msg, True
            logger.info("license worker ready in %.1f s (%.0f MB)", msg.get("seconds", 0),
                        msg.get("rss_mb", 0))
        else:
            self.failed = str(msg.get("error") or "license worker failed")
        self._ready.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the index is loaded; raises if the worker could not load it."""
        self._ready.wait(timeout)
        if self.failed:
            raise RuntimeError(self.failed)
        return self.ready

    def dead(self) -> bool:
        return self._proc is None or self._proc.poll() is not None

    def restart(self) -> None:
        """Start a new worker in the background after one died (at most ``MAX_STARTS``)."""
        if not self.dead() or self.failed:
            return
        if self.starts >= MAX_STARTS:
            self.failed = f"license worker died {self.starts} times; not restarted"
            logger.error("%s", self.failed)
            return
        logger.warning("license worker died; starting it again")
        self.start()

    def lookup(self, query: str, lines: list[str] | None, timeout: float) -> dict[str, Any]:
        with self._lock:
            proc, reader = self._proc, self._lines
            if not self._loaded or proc is None or reader is None or proc.stdin is None \
                    or proc.poll() is not None:
                raise WorkerGone("license worker is not running")
            self._next += 1
            rid = self._next
            line = json.dumps({"id": rid, "query": query, "lines": lines}) + "\n"
            try:
                data = memoryview(line.encode("utf-8"))
                while data:  # unbuffered: a pipe may take part of a long request
                    data = data[proc.stdin.write(data) or 0:]
            except OSError as exc:
                raise WorkerGone(str(exc)) from exc
            deadline = time.monotonic() + timeout
            while True:
                try:
                    msg = json.loads(reader.readline(deadline))
                except TimeoutError:
                    raise TimeoutError(f"license worker: no answer in {timeout * 1000:.0f} ms") \
                        from None
                except WorkerGone:
                    self._loaded = False
                    _reap(proc)  # so that dead() is true and restart() starts a new one
                    raise
                if isinstance(msg, dict) and msg.get("id") == rid:
                    break  # a late answer to a request that timed out is skipped
        if "error" in msg:
            raise RuntimeError(f"license worker: {msg['error']}")
        return msg

    def close(self) -> None:
        proc = self._proc
        self.failed = self.failed or "closed"
        if proc is None or proc.poll() is not None:
            return
        if not self.ready:  # still loading: it would only notice stdin after loading
            proc.kill()
            proc.wait()
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(2)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the worker process -------------------------------------------------------------------


def _send(out: IO[str], msg: dict[str, Any]) -> None:
    out.write(json.dumps(msg) + "\n")
    out.flush()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def _load(box: dict[str, Any]) -> None:
    try:  # Linux: niceness is per thread; the thread that answers lookups keeps priority
        if sys.platform.startswith("linux"):
            nice = int(os.environ.get("CODEWARD_LICENSE_LOAD_NICE", LOAD_NICE))
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (OSError, AttributeError, ValueError):
        pass
    try:
        from .scancode import warm_index

        box["index"] = warm_index()
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent
        box["error"] = f"{type(exc).__name__}: {exc}"


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever scancode prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s license-worker: %(message)s")
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    start = time.perf_counter()
    box: dict[str, Any] = {}
    loader = threading.Thread(target=_load, args=(box,), name="license-load")
    loader.start()
    loader.join()
    if "index" not in box:
        _send(out, {"ready": False, "error": box.get("error", "no index")})
        return 1
    from .scancode import detect_copyrights, match_query

    index = box.pop("index")
    _send(out, {"ready": True, "seconds": round(time.perf_counter() - start, 2),
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "pid": os.getpid()})
    for raw in sys.stdin.buffer:
        req: Any = None
        try:
            req = json.loads(raw)
            answer = {"id": req["id"], "matches": match_query(index, req["query"]),
                      "copyrights": detect_copyrights(req["lines"]) if req.get("lines")
                      else []}
        except Exception as exc:  # noqa: BLE001 -- one bad request must not end the worker
            answer = {"id": req.get("id") if isinstance(req, dict) else None,
                      "error": f"{type(exc).__name__}: {exc}"}
        _send(out, answer)
    os._exit(0)  # stdin closed: skip freeing a gigabyte of objects one by one


if __name__ == "__main__":
    sys.exit(main())
