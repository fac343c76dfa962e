"""Helpers for the report tests: the tables of a report page, and the expected numbers
computed from the seeded ground truth (never from the code under test)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from html.parser import HTMLParser

from seeded_events import Truth


class Tables(HTMLParser):
    """Every ``<table id=...>`` of a page as a list of rows of cell texts."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.ids: set[str] = set()
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "table":
            self._table = self.tables.setdefault(str(a.get("id")), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def rows(self, table_id: str) -> dict[str, list[str]]:
        """Body rows keyed by their first cell."""
        return {r[0]: r[1:] for r in self.tables[table_id][1:]}


def final_kept(t: Truth) -> int:
    measured = [k for k in t.kept.values() if k is not None]
    return measured[-1] if measured else 0


def expected_rates(truth: list[Truth], key: Callable[[Truth], str]) -> dict[str, list[str]]:
    """Per group: shown, accepted, acceptance, accepted chars, kept chars (as the table
    prints them)."""
    groups: dict[str, list[Truth]] = defaultdict(list)
    for t in truth:
        if t.shown:
            groups[key(t)].append(t)
    out = {}
    for name, ts in groups.items():
        acc = [t for t in ts if t.accepted]
        out[name] = [str(len(ts)), str(len(acc)), f"{len(acc) / len(ts):.1%}",
                     str(sum(t.accepted_len for t in acc)), str(sum(final_kept(t) for t in acc))]
    return out


def picked(row: list[str]) -> list[str]:
    """shown, accepted, acceptance, accepted chars, kept chars of a rate table row."""
    return [row[0], row[1], row[2], row[4], row[5]]
