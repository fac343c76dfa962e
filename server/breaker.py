"""A circuit breaker for a remote engine: closed, open (with exponential back-off) and
half-open (one probe request).

Closed: every request goes to the server; ``threshold`` consecutive failures open it.
Open: requests skip the server (they use the fallback at once) until the back-off has
passed. Then the next request is the probe (half-open); the others still skip. A probe
that succeeds closes the circuit and resets the back-off; one that fails opens it again
for twice as long (up to ``maximum``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

State = Literal["closed", "open", "half-open"]


class Breaker:
    def __init__(self, threshold: int, initial: float, maximum: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = max(1, threshold)
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.clock = clock
        self.state: State = "closed"
        self.failures = 0
        self.delay = initial
        self.retry_at = 0.0
        self.opened = 0
        """How many times the circuit has opened."""
        self.last_error = ""
        self._lock = threading.Lock()

    def available(self) -> bool:
        """Whether a request may try the server now (closed, or open with the back-off
        over: it would be the probe). Changes nothing."""
        with self._lock:
            return self.state == "closed" or (
                self.state == "open" and self.clock() >= self.retry_at)

    def acquire(self) -> bool:
        """Take the right to try the server: always when closed; when open and the back-off
        is over, the first caller becomes the probe (half-open); otherwise False."""
        with self._lock:
            if self.state == "closed":
                return True
            if self.state == "open" and self.clock() >= self.retry_at:
                self.state = "half-open"
                return True
            return False

    def success(self) -> bool:
        """The server answered; True if this closed an open circuit."""
        with self._lock:
            recovered = self.state != "closed"
            self.state, self.failures, self.delay, self.last_error = "closed", 0, \
                self.initial, ""
            return recovered

    def failure(self, error: str) -> bool:
        """The server failed; True if this opened a closed circuit (tell the user once)."""
        with self._lock:
            self.last_error = error
            if self.state == "half-open":
                self.delay = min(self.delay * 2, self.maximum)
                self._open()
                return False
            self.failures += 1
            if self.state == "closed" and self.failures >= self.threshold:
                self._open()
                return True
            return False

    def release(self) -> None:
        """The request ended without a verdict (cancelled): a probe's slot is given back."""
        with self._lock:
            if self.state == "half-open":
                self.state, self.retry_at = "open", self.clock()

    def _open(self) -> None:
        self.state = "open"
        self.retry_at = self.clock() + self.delay
        self.opened += 1

    def status(self) -> dict[str, Any]:
        with self._lock:
            wait = max(0.0, self.retry_at - self.clock()) if self.state == "open" else 0.0
            return {"state": self.state, "failures": self.failures, "opened": self.opened,
                    "retry_in_s": round(wait, 3), "backoff_s": self.delay,
                    "last_error": self.last_error}
