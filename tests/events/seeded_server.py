"""``codeward`` with the model's suggestions replaced by seeded secret lines (for the
secrets test): the real tiny model still generates, then its first text is swapped for the
next line from ``$CODEWARD_TEST_SEEDS`` (a JSON list), so seeded secrets travel the real
path: post-processing, vetting, the completion result, the event recorder. Vetting blocks
the secret ones (recorded as blocked candidates); a clean second candidate is always added
so that every session has a suggestion to show and accept."""

from __future__ import annotations

import json
import os
import sys

from codeward.server import engine

SEEDS: list[str] = json.loads(open(os.environ["CODEWARD_TEST_SEEDS"]).read())
_next = 0
_generate = engine.Engine.generate


def generate(self, request, cancel):  # type: ignore[no-untyped-def]
    global _next
    result = _generate(self, request, cancel)
    if SEEDS and result.texts:
        result.texts = [SEEDS[_next % len(SEEDS)] + "\n", "return len(cmd)\n"]
        _next += 1
    return result


engine.Engine.generate = generate

if __name__ == "__main__":
    from codeward.server.cli import main

    sys.exit(main(sys.argv[1:]))
