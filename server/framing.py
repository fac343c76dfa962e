"""Reading ``Content-Length`` frames from an untrusted byte stream. No protocol types here.

pygls 2 reads frames with an exact-match header regex and ``readexactly(length)``: a
declared length of 10^15 raises MemoryError, and one malformed frame (LF-only separators,
a missing, non-numeric or negative length, a length too small or too large) silences all
later traffic. :func:`read_frames` instead

- caps a frame at ``max_bytes`` (an oversized body is skipped in chunks, never held);
- accepts ``\\n`` as well as ``\\r\\n`` line ends in headers;
- resynchronises after a malformed header on the next ``Content-Length`` header line;
- notices a declared length larger than the message when the next frame's header shows up
  inside the body (``Content-Length: N`` followed by a raw line break cannot occur in valid
  JSON), drops the broken frame and goes on with the next one;
- reports each kind of problem through ``on_problem`` (the server logs it once).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_HEADER_LINE = 8192
CHUNK = 65536
HEADER_NAME = re.compile(rb"[A-Za-z0-9-]+")
LENGTH_LINE = re.compile(rb"content-length:[ \t]*(\d{1,20})[ \t]*\r?\n", re.IGNORECASE)
"""A Content-Length header line ending in a raw line break; valid JSON never contains one."""

Problem = Callable[[str, str], None]


class ByteReader:
    """Buffered line and block reads over ``read(n)`` (returns b"" at end of stream)."""

    def __init__(self, read: Callable[[int], Awaitable[bytes]]) -> None:
        self._read = read
        self._buf = bytearray()
        self.eof = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        data = await self._read(CHUNK)
        if not data:
            self.eof = True
            return False
        self._buf += data
        return True

    def unread(self, data: bytes) -> None:
        self._buf[:0] = data

    async def readline(self, limit: int = MAX_HEADER_LINE) -> tuple[bytes, bool]:
        """A line with its ``\\n``, or ``limit`` bytes and True when the line is longer;
        at the end of the stream what is left (b"" when nothing)."""
        start = 0
        while True:
            end = self._buf.find(b"\n", start)
            if 0 <= end < limit:
                line = bytes(self._buf[:end + 1])
                del self._buf[:end + 1]
                return line, False
            if len(self._buf) >= limit:
                line = bytes(self._buf[:limit])
                del self._buf[:limit]
                return line, True
            start = len(self._buf)
            if not await self._fill():
                line = bytes(self._buf)
                self._buf.clear()
                return line, False

    async def read_some(self, most: int) -> bytes:
        """Up to ``most`` bytes (at least one unless the stream ended)."""
        if not self._buf and not await self._fill():
            return b""
        data = bytes(self._buf[:most])
        del self._buf[:most]
        return data


async def read_frames(reader: ByteReader, on_problem: Problem,
                      max_bytes: int = DEFAULT_MAX_BYTES) -> AsyncIterator[bytes]:
    """The bodies of the well-formed frames, in order; malformed ones are reported and
    skipped."""
    resync = False
    while True:
        if resync:
            if not await _resync(reader):
                return
            resync = False
        length, problem = await _read_headers(reader)
        if problem == "eof":
            return
        if problem:
            on_problem("header", problem)
            resync = True
            continue
        assert length is not None
        if length > max_bytes:
            on_problem("too-large", f"a frame of {length} bytes exceeds the limit of "
                       f"{max_bytes} bytes (max_message_bytes); skipped")
            if not await _skip(reader, length):
                return
            continue
        body = await _read_body(reader, length)
        if body is None:
            return
        if isinstance(body, tuple):
            on_problem("length", f"declared Content-Length {length} is larger than the "
                       "message; the frame was dropped")
            continue
        yield body


async def _read_headers(reader: ByteReader) -> tuple[int | None, str]:
    """The Content-Length of the next header block, or a problem ("eof" at the end)."""
    length: int | None = None
    seen_any = False
    while True:
        line, truncated = await reader.readline()
        if not line:
            return None, "eof"
        if truncated:
            reader.unread(line[-64:])
            return None, "header line too long"
        stripped = line.rstrip(b"\r\n")
        if not stripped:
            if not seen_any:
                continue  # a stray blank line between frames
            if length is None:
                return None, "header block without Content-Length"
            return length, ""
        seen_any = True
        embedded = LENGTH_LINE.search(line)
        if embedded and embedded.start() > 0:  # the tail of a broken frame, then a header
            reader.unread(line)
            return None, f"garbage before a header ({embedded.start()} bytes)"
        name, sep, value = stripped.partition(b":")
        if not sep or not HEADER_NAME.fullmatch(name.strip()):
            reader.unread(line)
            return None, f"not a header line ({len(line)} bytes)"
        if name.strip().lower() == b"content-length":
            text = value.strip()
            if not text.isdigit() or len(text) > 20:
                return None, f"bad Content-Length {text[:30]!r}"
            length = int(text)


async def _resync(reader: ByteReader) -> bool:
    """Skip to the next Content-Length header line and push it back; False at the end."""
    while True:
        line, truncated = await reader.readline()
        if not line:
            return False
        found = list(LENGTH_LINE.finditer(line))
        if found:
            reader.unread(line[found[-1].start():])
            return True
        if truncated:
            reader.unread(line[-64:])


async def _skip(reader: ByteReader, length: int) -> bool:
    """Discard ``length`` bytes without holding them, unless a frame header shows up
    first (the declared length was a lie); False at the end of the stream."""
    left, tail = length, b""
    while left > 0:
        data = await reader.read_some(min(left, CHUNK))
        if not data:
            return False
        window = tail + data
        match = LENGTH_LINE.search(window)
        if match:
            reader.unread(window[match.start():])
            return True
        left -= len(data)
        tail = window[-64:]
    return True


async def _read_body(reader: ByteReader, length: int) -> bytes | tuple[()] | None:
    """The body, () when the next frame's header shows up inside it, None at the end."""
    body = bytearray()
    while len(body) < length:
        data = await reader.read_some(length - len(body))
        if not data:
            return None
        scan_from = max(0, len(body) - 64)
        body += data
        match = LENGTH_LINE.search(body, scan_from)
        if match:
            reader.unread(bytes(body[match.start():]))
            return ()
    return bytes(body)
