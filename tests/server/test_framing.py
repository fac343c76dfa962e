"""Frame reading from an untrusted stream (``server/framing.py``), in process."""

from __future__ import annotations

import asyncio
import json

from codeward.server.framing import ByteReader, read_frames


def _frame(obj: object, length: int | None = None, sep: bytes = b"\r\n") -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d" % (len(body) if length is None else length) + sep + sep + body


def run(data: bytes, max_bytes: int = 1 << 20, chunk: int = 7) -> tuple[list, list]:
    pos = 0

    async def read(n: int) -> bytes:
        nonlocal pos
        out = data[pos:pos + min(n, chunk)]
        pos += len(out)
        return out

    problems: list = []

    async def collect() -> list:
        reader = ByteReader(read)
        return [_loads(b) async for b in read_frames(
            reader, lambda kind, detail: problems.append(kind), max_bytes)]

    return asyncio.run(collect()), problems


def _loads(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return ("invalid", body)


GOOD = {"n": "good"}


def test_well_formed_frames_pass_unchanged() -> None:
    data = _frame({"a": 1}) + b"Content-Type: application/vscode-jsonrpc\r\n" + _frame(GOOD)
    assert run(data) == ([{"a": 1}, GOOD], [])


def test_lf_only_separators_are_accepted() -> None:
    assert run(_frame({"a": 1}, sep=b"\n") + _frame(GOOD)) == ([{"a": 1}, GOOD], [])


def test_missing_non_numeric_and_negative_lengths_resynchronise() -> None:
    for head in (b"Content-Type: x\r\n\r\n", b"Content-Length: abc\r\n\r\n",
                 b"Content-Length: -5\r\n\r\n", b"garbage without colon\r\n\r\n"):
        messages, problems = run(head + json.dumps({"bad": 1}).encode() + _frame(GOOD))
        assert messages == [GOOD], head
        assert problems, head


def test_a_length_too_small_loses_only_that_frame() -> None:
    body = json.dumps({"bad": "x" * 30}).encode()
    data = b"Content-Length: 10\r\n\r\n" + body + _frame(GOOD)
    messages, problems = run(data)
    assert messages == [("invalid", body[:10]), GOOD] and problems  # -32700, then resync


def test_a_length_too_large_is_noticed_at_the_next_header() -> None:
    body = json.dumps({"bad": 1}).encode()
    data = b"Content-Length: 500\r\n\r\n" + body + _frame(GOOD) + _frame(GOOD)
    assert run(data) == ([GOOD, GOOD], ["length"])


def test_oversized_frames_are_skipped_without_being_held() -> None:
    data = _frame({"big": "x" * 5000}) + _frame(GOOD)
    assert run(data, max_bytes=1000) == ([GOOD], ["too-large"])


def test_an_absurd_declared_length_does_not_allocate() -> None:
    data = b"Content-Length: 1000000000000000\r\n\r\n{}" + _frame(GOOD)
    assert run(data, max_bytes=1 << 26) == ([GOOD], ["too-large"])


def test_overlong_header_line() -> None:
    data = b"X-Junk: " + b"y" * 50_000 + b"\r\n\r\n" + _frame(GOOD)
    messages, problems = run(data, chunk=4096)
    assert messages == [GOOD] and problems


def test_end_of_stream_mid_frame() -> None:
    assert run(b"Content-Length: 50\r\n\r\n{\"a\":")[0] == []
