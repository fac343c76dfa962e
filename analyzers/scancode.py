"""scancode's half of the license analyzer: the index, exact matching and copyright
detection, as plain data. Imported by the analyzer (in-process mode, ``license``) and by the
worker process (``licenseworker``); it imports neither. Needs the ``license`` extra.
"""

from __future__ import annotations

import warnings
from typing import Any


def load_index() -> Any:
    """scancode's license index (cached by scancode per process)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from licensedcode import cache

        return cache.get_index()


def license_info(expression: str) -> tuple[list[str], list[str]]:
    """SPDX ids and scancode categories of the licenses in a scancode expression."""
    from licensedcode import cache

    db = cache.get_licenses_db()
    keys = cache.get_licensing().license_keys(expression)
    spdx = [getattr(db.get(k), "spdx_license_key", None) or f"LicenseRef-scancode-{k}"
            for k in keys]
    cats = [getattr(db.get(k), "category", None) or "Unstated License" for k in keys]
    return spdx, cats


def match_query(index: Any, query: str) -> list[dict[str, Any]]:
    """Exact matches of ``query`` as plain data (what the worker sends back)."""
    out = []
    for m in index.match(query_string=query, approximate=False):
        spdx, cats = license_info(m.rule.license_expression)
        out.append({"start_line": m.start_line, "end_line": m.end_line, "score": m.score(),
                    "len": m.len(), "matcher": m.matcher, "identifier": m.rule.identifier,
                    "spdx": spdx, "categories": cats})
    return out


def detect_copyrights(lines: list[str]) -> list[tuple[int, str]]:
    """(1-based line, copyright statement) for each statement in ``lines``."""
    from cluecode import copyrights

    return [(d.start_line, d.copyright) for d in copyrights.detect_copyrights_from_lines(
        list(enumerate(lines, 1)), include_copyrights=True, include_holders=False,
        include_authors=False)]


def warm_index() -> Any:
    """Load the index and pay every first-use cost (licenses db, copyright detector)."""
    index = load_index()
    match_query(index, "# SPDX-License-Identifier: MIT\n")
    detect_copyrights(["Copyright 2020 A B"])
    return index
