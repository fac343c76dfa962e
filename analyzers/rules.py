"""``security-rules``: what bandit misses -- aliases and indirection -- plus the pattern
rules used when the code does not parse.

Rules (stable ids; CWE references):

- ``CW-SEC-001`` shell command built at run time through a shell-running API, however it
  is reached: ``import subprocess as sp; sp.run(cmd, shell=True)``, ``shell=1``,
  ``**{"shell": True}``, ``run = os.system``, ``getattr(os, "system")(cmd)``,
  ``__import__("os").system(cmd)`` (CWE-78).
- ``CW-SEC-002`` an argv list that runs a shell on a non-literal command:
  ``["bash", "-c", cmd]`` (CWE-78).
- ``CW-SEC-003`` dynamic lookup of a dangerous module or function (``getattr(os, name)``,
  ``__import__("subprocess")``, ``importlib.import_module("os")``) (CWE-470).
- ``CW-SEC-004`` ``eval``/``exec``/``compile`` of a non-literal (CWE-95).
- ``CW-SEC-005`` unsafe deserialization: pickle, marshal, dill, shelve, ``yaml.load``
  without a safe loader (CWE-502).
- ``CW-SEC-006`` weak hash for security: md5/sha1 (CWE-327).
- ``CW-SEC-007`` TLS verification turned off (CWE-295).
- ``CW-SEC-008`` SQL built from strings passed to ``execute`` (CWE-89).
- ``CW-SEC-009`` ``tempfile.mktemp`` race (CWE-377).

The same checks run on an AST (aliases resolved from the file's imports and
assignments) or, for code that does not parse, on a tree-sitter tree of the suggestion's
lines (aliases from the prefix's import lines).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from .contract import BaseAnalyzer, Finding, NoOptions, Severity, Verdict, VetContext, cwe
from .source import python_source, ts_parser

SHELL_APIS = {"os.system", "os.popen", "os.popen2", "os.popen3", "subprocess.getoutput",
              "subprocess.getstatusoutput", "commands.getoutput", "asyncio.create_subprocess_shell",
              "pty.spawn", "platform.popen"}
SUBPROCESS_APIS = {"subprocess.run", "subprocess.call", "subprocess.Popen",
                   "subprocess.check_output", "subprocess.check_call"}
DANGEROUS_MODULES = {"os", "subprocess", "builtins", "pty", "commands", "pickle", "marshal"}
DANGEROUS_ATTRS = {"system", "popen", "run", "call", "Popen", "check_output", "check_call",
                   "getoutput", "eval", "exec", "loads", "load", "spawn", "execv", "execl",
                   "execvp", "spawnl", "spawnv", "__import__", "compile"}
EVAL_APIS = {"eval", "exec", "compile", "builtins.eval", "builtins.exec"}
DESERIAL_APIS = {"pickle.load", "pickle.loads", "cPickle.loads", "cPickle.load",
                 "marshal.load", "marshal.loads", "dill.load", "dill.loads", "shelve.open",
                 "jsonpickle.decode", "pickle.Unpickler", "yaml.unsafe_load",
                 "pandas.read_pickle"}
WEAK_HASHES = {"hashlib.md5", "hashlib.sha1", "Crypto.Hash.MD5.new", "cryptography.hazmat."
               "primitives.hashes.MD5"}
SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "/bin/sh", "/bin/bash", "/usr/bin/bash",
          "cmd", "cmd.exe", "powershell", "pwsh", "/bin/zsh"}
SQL = re.compile(r"^\s*(select|insert|update|delete|replace|create|drop|alter|with)\b", re.I)
SQL_SINKS = {"execute", "executemany", "executescript", "raw", "text", "read_sql",
             "read_sql_query", "mogrify"}

RULES: dict[str, tuple[Severity, int]] = {
    "CW-SEC-001": ("high", 78), "CW-SEC-002": ("high", 78), "CW-SEC-003": ("high", 470),
    "CW-SEC-004": ("high", 95), "CW-SEC-005": ("high", 502), "CW-SEC-006": ("medium", 327),
    "CW-SEC-007": ("high", 295), "CW-SEC-008": ("high", 89), "CW-SEC-009": ("medium", 377),
}


@dataclass
class Call:
    """A call, whichever parser found it. Argument kinds: 'str' (literal string),
    'const' (other literal), 'expr' (anything computed)."""

    qualname: str
    line: int
    args: list[str] = field(default_factory=list)
    keywords: dict[str, tuple[str, Any]] = field(default_factory=dict)
    sql_built: bool = False


def check_call(c: Call) -> list[tuple[str, str]]:
    q = c.qualname
    out: list[tuple[str, str]] = []
    computed = bool(c.args) and c.args[0] != "str"
    shell = c.keywords.get("shell")
    if q in SHELL_APIS and (computed or "cmd" in c.keywords):
        out.append(("CW-SEC-001", f"{q}() runs a shell on a command built at run time"))
    if q in SUBPROCESS_APIS and shell is not None and not (shell[0] == "const" and
                                                           not shell[1]):
        if computed or c.keywords.get("args", ("str",))[0] != "str":
            out.append(("CW-SEC-001", f"{q}(..., shell=...) runs a shell on a computed "
                                      "command"))
    if q in EVAL_APIS and computed:
        out.append(("CW-SEC-004", f"{q}() evaluates code built at run time"))
    if q in DESERIAL_APIS:
        out.append(("CW-SEC-005", f"{q}() deserializes untrusted data unsafely"))
    if q in ("yaml.load", "yaml.load_all", "yaml.full_load"):
        loader = c.keywords.get("Loader", ("expr", ""))
        if not (len(c.args) > 1 or "safe" in str(loader[1]).lower()):
            out.append(("CW-SEC-005", f"{q}() without a safe Loader can build arbitrary "
                                      "objects"))
    if q in WEAK_HASHES or (q == "hashlib.new" and c.args[:1] == ["str:md5"]):
        if c.keywords.get("usedforsecurity", ("const", True))[1] is not False:
            out.append(("CW-SEC-006", f"{q}() is a weak hash"))
    verify = c.keywords.get("verify")
    if verify is not None and verify == ("const", False):
        out.append(("CW-SEC-007", "TLS certificate verification is turned off"))
    if q in ("ssl._create_unverified_context",):
        out.append(("CW-SEC-007", "unverified TLS context"))
    if q.rsplit(".", 1)[-1] in SQL_SINKS and c.sql_built:
        out.append(("CW-SEC-008", "SQL built from strings; pass parameters instead"))
    if q == "tempfile.mktemp":
        out.append(("CW-SEC-009", "tempfile.mktemp() is racy; use mkstemp/NamedTemporaryFile"))
    if q in ("getattr",) and len(c.args) >= 2 and c.args[0].startswith("mod:"):
        if c.args[1] == "expr" or c.args[1].split(":", 1)[-1] in DANGEROUS_ATTRS:
            out.append(("CW-SEC-003", f"dynamic lookup on module {c.args[0][4:]}"))
    if q in ("__import__", "importlib.import_module") and c.args[:1] and (
            c.args[0] == "expr" or c.args[0].split(":", 1)[-1] in DANGEROUS_MODULES):
        out.append(("CW-SEC-003", f"{q}() reaches a dangerous module indirectly"))
    return out


def argv_shell(items: list[str]) -> bool:
    """``["bash", "-c", cmd]``: item kinds as in :class:`Call` ('str:<value>')."""
    vals = [i.split(":", 1)[1] if i.startswith("str:") else None for i in items]
    return (len(vals) >= 3 and vals[0] in SHELLS and vals[1] in ("-c", "/c", "-Command")
            and any(v is None for v in vals[2:]))


# -- AST ------------------------------------------------------------------------------

class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.calls: list[Call] = []
        self.argv: list[int] = []

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                self.aliases.setdefault(a.name.split(".")[0], a.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for a in node.names:
            self.aliases[a.asname or a.name] = f"{node.module}.{a.name}" if node.module \
                else a.name

    def visit_Assign(self, node: ast.Assign) -> None:
        q = self.qual(node.value)
        if q and ("." in q or isinstance(node.value, ast.Call)):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    self.aliases[t.id] = q
        self.generic_visit(node)

    def qual(self, node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qual(node.value)
            return f"{base}.{node.attr}" if base else ""
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = self.qual(node.func)
            val = node.args[0].value
            if fn in ("__import__", "importlib.import_module") and isinstance(val, str):
                return val
            if fn == "getattr" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                return f"{self.qual(node.args[0])}.{node.args[1].value!s}"
        if isinstance(node, ast.Call) and self.qual(node.func) == "getattr" and \
                len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
            return f"{self.qual(node.args[0])}.{node.args[1].value!s}"
        return ""

    def kind(self, node: ast.AST) -> str:
        if isinstance(node, ast.Constant):
            return f"str:{node.value}" if isinstance(node.value, str) else "const"
        if isinstance(node, ast.Name) and self.aliases.get(node.id, "") in DANGEROUS_MODULES:
            return f"mod:{self.aliases[node.id]}"
        return "expr"

    def visit_Call(self, node: ast.Call) -> None:
        kw: dict[str, tuple[str, Any]] = {}
        for k in node.keywords:
            pairs = [(k.arg, k.value)] if k.arg else []
            if k.arg is None and isinstance(k.value, ast.Dict):
                pairs = [(key.value, v) for key, v in zip(k.value.keys, k.value.values,
                                                           strict=False)
                         if isinstance(key, ast.Constant) and isinstance(key.value, str)]
            elif k.arg is None and isinstance(k.value, ast.Call) and \
                    self.qual(k.value.func) == "dict":
                pairs = [(x.arg, x.value) for x in k.value.keywords if x.arg]
            for name, value in pairs:
                kw[str(name)] = ("const", value.value) if isinstance(value, ast.Constant) \
                    else ("expr", self.qual(value))
        args = [self.kind(a) for a in node.args]
        built = bool(node.args) and _sql_built(node.args[0])
        self.calls.append(Call(self.qual(node.func), node.lineno, args, kw, built))
        self.generic_visit(node)

    def visit_List(self, node: ast.List | ast.Tuple) -> None:
        if argv_shell([self.kind(e) for e in node.elts]):
            self.argv.append(node.lineno)
        self.generic_visit(node)

    visit_Tuple = visit_List


def _sql_built(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        head = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
        return bool(SQL.match(head)) and any(isinstance(v, ast.FormattedValue)
                                             for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        left = node.left
        while isinstance(left, ast.BinOp):
            left = left.left
        return isinstance(left, ast.Constant) and isinstance(left.value, str) and \
            bool(SQL.match(left.value))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr == "format" and isinstance(node.func.value, ast.Constant):
        return bool(SQL.match(str(node.func.value.value)))
    return False


def ast_findings(tree: ast.Module, ctx: VetContext, analyzer: str) -> list[Finding]:
    v = _Visitor()
    v.visit(tree)
    hits = [(c.line, r, m) for c in v.calls if ctx.covers(c.line) for r, m in check_call(c)]
    hits += [(ln, "CW-SEC-002", "argv list runs a shell on a computed command")
             for ln in v.argv if ctx.covers(ln)]
    return [_finding(r, m, ctx.to_suggestion_line(ln), analyzer) for ln, r, m in hits]


def _finding(rule: str, message: str, line: int, analyzer: str) -> Finding:
    severity, number = RULES[rule]
    return Finding(rule, severity, "high" if severity == "high" else "medium", message, line,
                   cwe(number), analyzer, "block")


# -- tree-sitter fallback -------------------------------------------------------------

_IMPORT_AS = re.compile(r"^\s*import\s+([\w.]+)\s+as\s+(\w+)", re.M)
_FROM_IMPORT = re.compile(r"^\s*from\s+([\w.]+)\s+import\s+([\w\s,]+)$", re.M)


def _prefix_aliases(prefix: str) -> dict[str, str]:
    out = {alias: mod for mod, alias in _IMPORT_AS.findall(prefix)}
    for mod, names in _FROM_IMPORT.findall(prefix):
        for part in names.split(","):
            bits = part.split()
            if bits:
                out[bits[-1]] = f"{mod}.{bits[0]}"
    return out


def _ts_kind(node: Any, aliases: dict[str, str]) -> str:
    t = node.type
    if t == "string" and not any(ch.type == "interpolation" for ch in node.children):
        body = node.text.decode("utf-8", "replace")
        return "str:" + body.strip("rbuRBU").strip("'\"")
    if t in ("integer", "float", "true", "false", "none"):
        return "const"
    if t == "identifier" and aliases.get(node.text.decode(), node.text.decode()) in \
            DANGEROUS_MODULES:
        return f"mod:{aliases.get(node.text.decode(), node.text.decode())}"
    return "expr"


def _ts_const(node: Any) -> tuple[str, Any]:
    return {"true": ("const", True), "false": ("const", False), "integer": (
        "const", int(node.text or b"0", 0) if (node.text or b"").isdigit() else 1),
        "string": ("const", node.text.decode("utf-8", "replace").strip("'\""))}.get(
        node.type, ("expr", node.text.decode("utf-8", "replace")))


def pattern_findings(ctx: VetContext, analyzer: str) -> tuple[list[Finding], bool]:
    """Rules on a tree-sitter tree of the suggestion's lines. Returns the findings and
    whether the tree had no error nodes (the code was understood)."""
    lines = ctx.suggestion_lines()
    text = "\n".join(ln.lstrip() for ln in lines)
    tree = ts_parser().parse(text.encode("utf-8"))
    aliases = _prefix_aliases(ctx.prefix)
    out: list[Finding] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        line = node.start_point[0] + 1
        if node.type == "call":
            fn = node.child_by_field_name("function")
            name = fn.text.decode("utf-8", "replace") if fn is not None else ""
            head, _, rest = name.partition(".")
            qual = aliases.get(head, head) + ("." + rest if rest else "")
            args_node = node.child_by_field_name("arguments")
            args: list[Any] = []
            kw: dict[str, Any] = {}
            built = False
            for a in (args_node.named_children if args_node is not None else []):
                if a.type == "keyword_argument":
                    k, val = a.child_by_field_name("name"), a.child_by_field_name("value")
                    if k is not None and val is not None:
                        kw[k.text.decode()] = _ts_const(val)
                elif a.type == "dictionary_splat":
                    for pair in (p for c in a.named_children for p in c.named_children
                                 if p.type == "pair"):
                        k, val = pair.child_by_field_name("key"), pair.child_by_field_name(
                            "value")
                        if k is not None and val is not None:
                            kw[k.text.decode().strip("'\"")] = _ts_const(val)
                else:
                    if not args:
                        src = a.text.decode("utf-8", "replace")
                        built = bool(SQL.match(src.lstrip("fFrb'\""))) and (
                            a.type != "string" or _ts_kind(a, aliases) == "expr")
                    args.append(_ts_kind(a, aliases))
            for rule, msg in check_call(Call(qual, line, args, kw, built)):
                out.append(_finding(rule, msg, line, analyzer))
        elif node.type in ("list", "tuple") and argv_shell(
                [_ts_kind(c, aliases) for c in node.named_children]):
            out.append(_finding("CW-SEC-002", "argv list runs a shell on a computed command",
                                line, analyzer))
    return out, not tree.root_node.has_error


class SecurityRulesAnalyzer(BaseAnalyzer):
    """Codeward's own security rules (aliases, indirection, partial code)."""

    name = "security-rules"
    category = "security"
    order = 32
    Options = NoOptions
    languages = ("python",)

    def analyze(self, ctx: VetContext, options: Any) -> Verdict:
        src = python_source(ctx)
        if src is not None:
            return Verdict.from_findings(ast_findings(src.tree, ctx, self.name))
        findings, understood = pattern_findings(ctx, self.name)
        if findings:
            return Verdict.from_findings(findings)
        return Verdict(status="ok" if understood else "unparseable",
                       detail="" if understood else "partial code: pattern rules only")
