"""A protocol fuzzer for ``codeward serve``: framing, JSON-RPC, lifecycle, params, custom
methods and concurrency cases thrown at the real server over stdio, each followed by a
sanity completion that must still be exactly right.

Run it long: ``python tests/server/fuzz.py --cases 2000 --seed 7`` (the default test suite
runs a short seeded run, ``test_fuzz.py``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from raw_client import RawClient, frame, inline_params, texts  # noqa: E402

SANE_URI = "file:///fuzz/sane.py"
SANE_TEXT = "def add(a, b):\n    \n"
SANE_ANSWER = ["return a + b"]
HOSTILE = ["\ud800", "\udfff", "\x00", "\u2028", "\x0c", "\r", "\r\n", "😋", "é", "\ufeff",
           "\u202e", "(", "]", "{", '"', "'''", "#", "\\", "Content-Length: 5\r\n\r\n"]

Expect = tuple[Any, set[int] | None]
"""(request id, the error codes allowed; None = a result is expected, set() = any answer)."""
Case = Callable[[RawClient, random.Random], list[Expect]]


def hostile_text(rng: random.Random, size: int = 200) -> str:
    parts = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice(HOSTILE) if rng.random() < 0.3
                     else rng.choice(["x = 1", "def f(", "    ", "\n", "import os", "a"]))
    return "".join(parts)


def _raw(c: RawClient, data: bytes) -> list[Expect]:
    c.send_bytes(data)
    return []


def _req(c: RawClient, method: str, params: Any, codes: set[int] | None) -> list[Expect]:
    return [(c.request_async(method, params), codes)]


def _payload(c: RawClient, payload: Any, codes: set[int] | None, msg_id: Any) -> list[Expect]:
    c.send(payload)
    return [(msg_id, codes)]


# -- framing ---------------------------------------------------------------------------------

def framing_cases() -> list[Case]:
    body = json.dumps({"jsonrpc": "2.0", "method": "$/noop"}).encode()
    return [
        lambda c, r: _raw(c, b"Content-Length: 1000000000000000\r\n\r\n{}"),
        lambda c, r: _raw(c, b"Content-Length: %d\n\n" % len(body) + body),
        lambda c, r: _raw(c, b"Content-Type: x\r\n\r\n" + body),
        lambda c, r: _raw(c, b"Content-Length: abc\r\n\r\n" + body),
        lambda c, r: _raw(c, b"Content-Length: -5\r\n\r\n" + body),
        lambda c, r: _raw(c, b"Content-Length: 3\r\n\r\n" + body),
        lambda c, r: _raw(c, b"Content-Length: %d\r\n\r\n" % (len(body) + r.randint(1, 500))
                          + body),
        lambda c, r: _raw(c, bytes(r.getrandbits(8) for _ in range(r.randint(1, 300)))),
        lambda c, r: _raw(c, b"X-Junk: " + b"y" * r.randint(9000, 70000) + b"\r\n\r\n"),
        lambda c, r: _raw(c, b"\r\n\r\n\n"),
        lambda c, r: _payload(c, b'{"jsonrpc":"2.0","id":"u8","method":"x","params":"\xff\xfe"}',
                              {-32700}, None),
    ]


# -- JSON-RPC --------------------------------------------------------------------------------

def jsonrpc_cases() -> list[Case]:
    def sent(payload: Any, codes: set[int], msg_id: Any) -> Case:
        return lambda c, r: _payload(c, payload, codes, msg_id)

    return [
        sent('{"jsonrpc": "2.0", "id": 1,', {-32700}, None),
        sent("[]", {-32600}, None),
        sent([{"jsonrpc": "2.0", "id": 99, "method": "codeward/status"}], {-32600}, None),
        sent("5", {-32600}, None),
        sent('"text"', {-32600}, None),
        sent("null", {-32600}, None),
        sent({"id": "nojr", "method": "codeward/status"}, {-32600}, "nojr"),
        sent({"jsonrpc": "1.0", "id": "v1", "method": "codeward/status",
              "params": {"text": "AKIAIOSFODNN7EXAMPLE"}}, {-32600}, "v1"),
        sent({"jsonrpc": "2.0", "id": {"a": 1}, "method": "codeward/status"}, {-32600}, None),
        sent({"jsonrpc": "2.0", "id": [1], "method": "codeward/status"}, {-32600}, None),
        sent({"jsonrpc": "2.0", "id": "m5", "method": 5}, {-32600}, "m5"),
        sent({"jsonrpc": "2.0", "id": "nm"}, {-32600}, "nm"),
        sent({"jsonrpc": "2.0", "id": "unk", "method": "no/such"}, {-32601}, "unk"),
        lambda c, r: _raw(c, frame({"jsonrpc": "2.0", "id": 10**9, "result": None})),
    ]


# -- lifecycle, params, custom methods -------------------------------------------------------

def _position_case(value: Any) -> Case:
    return lambda c, r: _req(c, "textDocument/inlineCompletion", {
        "textDocument": {"uri": SANE_URI}, "position": {"line": value, "character": 0},
        "context": {"triggerKind": 1}}, {-32602})


def _hostile_doc(c: RawClient, r: random.Random) -> list[Expect]:
    uri = f"file:///fuzz/h{r.randint(0, 9)}.py"
    c.open(uri, hostile_text(r, r.choice([0, 10, 300, 5000])), version=r.randint(0, 5))
    for _ in range(r.randint(0, 4)):
        start = (r.randint(0, 30), r.randint(0, 90))
        end = (r.randint(0, 30), r.randint(0, 90))
        c.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": r.randint(-3, 50)},
            "contentChanges": [{"range": {"start": dict(zip(("line", "character"), start,
                                                            strict=True)),
                                          "end": dict(zip(("line", "character"), end,
                                                          strict=True))},
                                "text": hostile_text(r, r.randint(0, 40))}]})
    expects = _req(c, "textDocument/inlineCompletion",
                   inline_params(uri, r.randint(0, 40), r.randint(0, 200)), set())
    expects += _req(c, "textDocument/completion", {"textDocument": {"uri": uri}, "position": {
        "line": r.randint(0, 3), "character": r.randint(0, 9)}}, set())
    # the sane document must still complete while the hostile one is open
    expects += _req(c, "textDocument/inlineCompletion", inline_params(SANE_URI, 1, 4), None)
    return expects


def params_cases() -> list[Case]:
    return [
        _position_case("1"), _position_case(1.5), _position_case(True), _position_case(-1),
        _position_case(2**40), _position_case(None),
        lambda c, r: _req(c, "textDocument/inlineCompletion", inline_params(
            SANE_URI, r.randint(0, 2), r.randint(0, 10**6)), None),
        lambda c, r: _req(c, "textDocument/inlineCompletion", inline_params(
            SANE_URI, r.randint(3, 10**6), r.randint(0, 10**6)), {-32602}),
        lambda c, r: _req(c, "textDocument/inlineCompletion", inline_params(
            "file:///" + "a" * 100_000 + ".py", 0, 0), {-32602}),
        lambda c, r: _req(c, "textDocument/inlineCompletion", inline_params(
            "file:///fuzz/never-opened.py", 0, 0), {-32602}),
        lambda c, r: _req(c, "textDocument/completion", r.choice(["x", [], 5, None]), {-32602}),
        lambda c, r: _req(c, "textDocument/inlineCompletion", {"textDocument": {}}, {-32602}),
        lambda c, r: _req(c, "initialize", {"capabilities": {}}, {-32600}),
        lambda c, r: _raw(c, frame({"jsonrpc": "2.0", "method": "$/cancelRequest",
                                    "params": {"id": r.randint(0, 10**6)}})),
        lambda c, r: _raw(c, frame({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration",
                                    "params": {"settings": r.choice([5, "x", [1], None])}})),
        _hostile_doc, _hostile_doc, _hostile_doc,
    ]


def custom_cases() -> list[Case]:
    return [
        lambda c, r: _req(c, "codeward/explain", r.choice([[1, 2], "id", 5, None, {"id": 5},
                                                           {"id": "nope"}, {}]), set()),
        lambda c, r: _req(c, "codeward/status", r.choice([[1], "x", None, {"a": 1}]), set()),
        lambda c, r: _raw(c, frame({"jsonrpc": "2.0", "method": r.choice([
            "codeward/didShowCompletion", "codeward/didAcceptCompletion",
            "codeward/didDismissCompletion"]), "params": r.choice([
                {"id": "x", "index": "AKIAIOSFODNN7EXAMPLE"}, [], "x", {"id": 5},
                {"id": "x", "index": 0, "acceptedLength": -5}])})),
        lambda c, r: _req(c, "workspace/executeCommand", {
            "command": "codeward.acceptCompletion",
            "arguments": r.choice([[], [5], ["x"], [{"id": None}], None])}, set()),
        lambda c, r: _req(c, "workspace/executeCommand", {"command": "no.such"}, set()),
    ]


def concurrency_case(c: RawClient, r: random.Random) -> list[Expect]:
    ids = [c.request_async("textDocument/inlineCompletion", inline_params(SANE_URI, 1, 4))
           for _ in range(r.randint(5, 20))]
    for msg_id in ids:
        if r.random() < 0.5:
            c.notify("$/cancelRequest", {"id": msg_id})
    return [(msg_id, None) for msg_id in ids]  # a result, or -32800 when cancelled in time


CATEGORIES: dict[str, list[Case]] = {
    "framing": framing_cases(), "jsonrpc": jsonrpc_cases(), "params": params_cases(),
    "custom": custom_cases(), "concurrency": [concurrency_case],
}


class Failure(AssertionError):
    pass


def check(c: RawClient, expects: list[Expect], label: str) -> None:
    for msg_id, codes in expects:
        answer = c.wait(msg_id, timeout=60)
        error = answer.get("error")
        if codes is None and error is not None and error["code"] != -32800:
            raise Failure(f"{label}: request {msg_id!r} failed: {error}")
        if codes and (error is None or error["code"] not in codes):
            if not (error is None and -32800 in codes):  # cancelled too late is fine
                raise Failure(f"{label}: request {msg_id!r}: expected {codes}, got {answer}")
        if error is not None and "traceback" in json.dumps(error):
            raise Failure(f"{label}: an error answer carries a traceback: {error}")


def sanity(c: RawClient, label: str) -> None:
    answer = c.inline(SANE_URI, 1, 4, timeout=60)
    if texts(answer) != SANE_ANSWER:
        raise Failure(f"after {label}: the sanity completion is {answer}")


def run(model_dir: Path, cases: int, seed: int, log: Any = None) -> dict[str, Any]:
    """Throw ``cases`` seeded cases at one server; raise Failure on the first wrong answer."""
    rng = random.Random(seed)
    stderr = log if log is not None else sys.stderr
    c = RawClient.stdio(model_dir, stderr=stderr)
    counts: dict[str, int] = {}
    start = time.monotonic()
    try:
        c.initialize()
        c.open(SANE_URI, SANE_TEXT)
        sanity(c, "start")
        names = sorted(CATEGORIES)
        for n in range(cases):
            name = rng.choice(names)
            index = rng.randrange(len(CATEGORIES[name]))
            label = f"case {n} ({name}[{index}], seed {seed})"
            expects = CATEGORIES[name][index](c, rng)
            check(c, expects, label)
            for i in range(10):
                c.notify("textDocument/didClose", {"textDocument": {"uri": f"file:///fuzz/h{i}.py"}})
            sanity(c, label)
            c.pending.pop("null", None)  # id-null answers to the case's broken frames
            if c.proc.poll() is not None:  # type: ignore[attr-defined]
                raise Failure(f"{label}: the server exited ({c.proc.returncode})")  # type: ignore[attr-defined]
            counts[name] = counts.get(name, 0) + 1
    finally:
        c.shutdown()
    return {"cases": cases, "seed": seed, "by_category": counts,
            "seconds": round(time.monotonic() - start, 1)}


def main() -> int:
    from models import tiny_model

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(tiny_model("taught"), args.cases, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
