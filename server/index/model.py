"""Plain data of the index: what goes in (``SourceDoc``) and what comes out."""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE_WEIGHTS = {"current": 4.0, "document": 2.0, "accepted": 2.0, "workspace": 1.0,
                  "stdlib": 0.5, "package": 0.5}
"""Votes per occurrence by source, so the nearest occurrences come first."""


@dataclass(frozen=True)
class SourceDoc:
    """One file or text to index."""

    path: str
    text: str
    source: str = "workspace"
    """``document``, ``workspace``, ``accepted``, ``stdlib`` or ``package``."""
    license: str = ""
    """SPDX id (or expression) of the text's license; "" when it is the project's own."""
    own: bool = True
    """The developer's own project: the license policy does not apply to copies from it."""


@dataclass(frozen=True)
class Provenance:
    """Where a copied suggestion comes from."""

    path: str
    line: int
    """1-based line of the first copied character."""
    license: str
    source: str
    own: bool

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "license": self.license,
                "source": self.source, "own": self.own}


@dataclass(frozen=True)
class Occurrence:
    """One place in the index where the matched tokens occur."""

    path: str
    """The document's path (or key)."""
    token: int
    """Index (in the document) of the first token after the match."""


@dataclass
class Lookup:
    """The longest suffix match of a context: its length and where it occurs."""

    match_tokens: int = 0
    occurrences: list[Occurrence] = field(default_factory=list)
    total: int = 0
    """Occurrences in the index (``occurrences`` may be a capped sample of them)."""


@dataclass
class IndexCandidate:
    """A continuation copied from the index."""

    text: str
    match_tokens: int
    votes: float
    vote_share: float
    occurrences: int
    provenance: Provenance
    multiline: bool = False
    abstracted: bool = False
    """Copied by shape: the context matched with its identifiers abstracted and the
    continuation's names re-filled from the cursor's context (``abstract.py``)."""
    renamed: int = 0
    """Identifiers of the copy rewritten to the cursor context's names."""
    unbound: int = 0
    """Names of the copy the renaming did not bind, kept because the document has them."""
    cut: bool = False
    """The copy stops before a name that is neither bound nor in the document."""
    names: int = 0
    """Distinct identifiers of the matched context the renaming aligns."""
    renames: int = 0
    """How many of them it renames (the rest are spelled alike on both sides)."""

    def gate_inputs(self) -> dict[str, object]:
        return {"source": "index", "match_tokens": self.match_tokens,
                "vote_share": round(self.vote_share, 4), "occurrences": self.occurrences,
                "abstracted": self.abstracted, "renamed": self.renamed,
                "unbound": self.unbound, "cut": self.cut, "names": self.names,
                "renames": self.renames}


@dataclass
class BuildReport:
    """What a workspace build indexed and skipped."""

    root: str = ""
    files: int = 0
    tokens: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    """Reason -> files: ignored, excluded, too-large, binary, secret, over-cap, error."""
    cached: bool = False
    seconds: float = 0.0
    key: str = ""
