"""tree-sitter helpers: parsers per language, the node at the cursor, and the imports and
definition signatures of a document (cross-file context).

Only single-language grammar wheels are used (``tree-sitter-python``, ...): they work
offline. A language whose grammar is not installed gets ``None`` and callers fall back to
text rules.
"""

from __future__ import annotations

import importlib
import logging
import threading
from functools import cache, lru_cache

from tree_sitter import Language, Node, Parser

logger = logging.getLogger(__name__)

GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
}

BLOCK_OPENERS = {"python": (":",), "javascript": ("{",), "typescript": ("{",), "go": ("{",),
                 "rust": ("{",)}

_local = threading.local()


@cache
def language(name: str) -> Language | None:
    spec = GRAMMARS.get(name)
    if spec is None:
        return None
    try:
        module = importlib.import_module(spec[0])
    except ImportError:
        return None
    return Language(getattr(module, spec[1])())


def parser(name: str) -> Parser | None:
    """A parser for ``name`` owned by the calling thread (parsers are not thread-safe)."""
    cache = getattr(_local, "parsers", None)
    if cache is None:
        cache = _local.parsers = {}
    if name not in cache:
        lang = language(name)
        cache[name] = Parser(lang) if lang is not None else None
    return cache[name]


def parse(text: str, lang: str):  # type: ignore[no-untyped-def]
    p = parser(lang)
    if p is None:
        return None
    return p.parse(text.encode("utf-8"))


def node_at(tree, text: str, offset: int) -> Node | None:  # type: ignore[no-untyped-def]
    byte = len(text[:offset].encode("utf-8"))
    return tree.root_node.descendant_for_byte_range(max(0, byte - 1), max(0, byte - 1))


def inside_string_or_comment(text: str, offset: int, lang: str) -> bool:
    tree = parse(text, lang)
    if tree is None:
        return False
    node = node_at(tree, text, offset)
    while node is not None:
        if node.type in ("comment", "string_content", "string", "template_string",
                         "interpreted_string_literal", "raw_string_literal"):
            if node.type == "string" and node.end_byte <= len(text[:offset].encode("utf-8")):
                return False
            return True
        node = node.parent
    return False


def _header(node: Node, source: bytes) -> str:
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None else node.end_byte
    return source[node.start_byte:end].decode("utf-8", "replace").strip()


@lru_cache(maxsize=64)
def outline(text: str, lang: str, max_items: int = 60) -> tuple[str, ...]:
    """Imports and definition signatures (classes with their method signatures) of a
    document, in source order. Empty when the grammar is missing. Cached: other open
    documents rarely change between two completions, so they are not re-parsed each time."""
    tree = parse(text, lang)
    if tree is None:
        return ()
    source = text.encode("utf-8")
    lines: list[str] = []

    def visit(node: Node, indent: str) -> None:
        for child in node.children:
            if len(lines) >= max_items:
                return
            kind = child.type
            if kind == "decorated_definition":
                inner = child.child_by_field_name("definition")
                if inner is not None:
                    child, kind = inner, inner.type
            if kind in ("import_statement", "import_from_statement", "import_declaration",
                        "use_declaration"):
                lines.append(indent + source[child.start_byte:child.end_byte].decode(
                    "utf-8", "replace").strip())
            elif kind in ("function_definition", "function_declaration", "method_definition",
                          "function_item"):
                lines.append(indent + _header(child, source) + " ...")
            elif kind in ("class_definition", "class_declaration", "struct_item", "impl_item"):
                lines.append(indent + _header(child, source))
                body = child.child_by_field_name("body")
                if body is not None:
                    visit(body, indent + "    ")

    visit(tree.root_node, "")
    return tuple(lines)
