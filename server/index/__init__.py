"""The project index: completions copied from the developer's own code.

A token index (code lexer tokens as int32 ids) over the open documents, the workspace
files, optionally the standard library and permissively licensed installed packages, and
text the developer accepted or wrote. A lookup finds the longest run of tokens before the
cursor that occurs in the index (an unbounded-order n-gram, via suffix arrays built by
``pydivsufsort``) and returns the continuations of its occurrences with their votes,
nearest and most frequent first, each with its provenance (file, line, license).

Public API (everything else in this package is internal):

``ProjectIndex(settings: IndexSettings, cache_dir: Path | None = None)``
    The live index. Thread-safe; lookups use whatever part is ready.

    - ``add_documents(docs: Iterable[SourceDoc]) -> None``: index these files as one
      immutable suffix-array segment (what ``build_workspace`` does; eval uses it directly
      to index "the rest of the repository").
    - ``build_workspace(root: Path, exclude: list[str]) -> BuildReport``: walk the
      workspace (.gitignore via pathspec, ``exclude`` globs, size caps, secrets filtered),
      load the cached segment keyed by content hash or build and persist it; then the
      optional stdlib / package sources. Blocking; ``start_background(root, exclude)``
      runs it in a daemon thread.
    - ``open_document(key: str, text: str, path: str = "") -> None``,
      ``update_document(key: str, text: str) -> None`` (incremental: only the changed
      lines are re-lexed), ``close_document(key: str) -> None``. An open document shadows
      (tombstones) the workspace copy of the same path.
    - ``file_changed(path: Path) -> None`` / ``file_deleted(path: Path) -> None``: a
      workspace file changed on disk: its old tokens are tombstoned, the new version goes
      to the overlay; the overlay is merged into a new segment in the background. A
      deleted folder drops every file under it. (The server calls them for
      ``workspace/didChangeWatchedFiles``; ``sources.skip_reason`` applies the walk's rules.)
    - ``add_accepted(text: str, path: str = "") -> None``: accepted/written text, found by
      the next lookup.
    - ``suggest(key: str, prefix: str, suffix: str, *, multiline: bool = False,
      max_candidates: int = 3) -> list[IndexCandidate]``: candidates at a cursor of the
      open document ``key`` (or of an unindexed text when ``key`` is not open).
      The current line of the current document is never a source (it is what the user is
      typing); the continuation agrees with what follows the cursor on its line.
      After the verbatim copies come up to two *renamed* copies (``index.abstract``,
      ``abstract.py``): a line the project has in the same shape, the context matched
      with its identifiers abstracted (a second suffix array over the same stream) and
      aligned by one consistent renaming, its names re-filled from the cursor's context
      (``IndexCandidate.abstracted``, ``renamed``, ``unbound``, ``cut``).
    - ``lookup(prefix: str, key: str = "", abstract: bool = False) -> Lookup``: the raw
      longest-suffix match of lexer tokens, or of their shape (tests and eval).
    - ``status() -> dict``: tokens, documents, segments, ready, build times.
    - ``close()``.

``lex(text: str) -> Tokens``
    Code lexer: identifiers, numbers, operators/punctuation, ``"\\n" + indentation``;
    spaces and tabs inside a line are skipped (so ``a=b`` matches ``a = b``), every token
    is an exact substring of the text (``Tokens.strings``, ``Tokens.starts``).

``Gate`` / ``gate_index(candidate, settings) -> GateDecision`` /
``gate_model(logprobs, settings) -> GateDecision`` / ``combine(index, model, settings)``
    One confidence gate for every source: an index suggestion is shown when its vote
    share >= ``index.min_vote_share`` and its match length >= ``index.min_match_tokens``
    (``agreed_min_match_tokens`` when two or more occurrences agree on it,
    ``same_file_min_match_tokens`` for a copy from the document itself);
    a renamed copy only where no verbatim copy shows, on its own thresholds
    (``abstract_min_match_tokens``, ``abstract_min_vote_share``, ``abstract_max_unbound``,
    ``abstract_cut``);
    a model suggestion when its mean token log-probability >= ``index.model_min_logprob``.
    ``combine`` applies ``index.policy`` (``index-first``: index when confident, else the
    model when confident, else nothing; ``model-first``; ``rank``; ``index-only``;
    ``model-only``; ``ungated``). ``GateDecision.inputs`` is what the completion event
    records (source, match length, vote share, log-probs; never document text).

Data: ``SourceDoc(path, text, source, license, own)``, ``Provenance(path, line, license,
source, own)``, ``IndexCandidate(text, match_tokens, votes, vote_share, occurrences,
provenance, multiline, abstracted, renamed, unbound, cut)``,
``Lookup(match_tokens, occurrences)``.

Sources (``SourceDoc.source``): ``document`` (open), ``workspace``, ``accepted``,
``stdlib``, ``package``. Weights for "nearest first": current document 4, other open
documents and accepted text 2, workspace 1, stdlib/packages 0.5.
"""

from __future__ import annotations

from .gate import GateDecision, combine, gate_index, gate_model
from .lexer import Tokens, Vocabulary, lex
from .live import ProjectIndex
from .model import BuildReport, IndexCandidate, Lookup, Occurrence, Provenance, SourceDoc

__all__ = [
    "BuildReport", "GateDecision", "IndexCandidate", "Lookup", "Occurrence", "ProjectIndex",
    "Provenance", "SourceDoc", "Tokens", "Vocabulary", "combine", "gate_index", "gate_model",
    "lex",
]
