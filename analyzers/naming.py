"""``naming``: the team's naming conventions, checked with tree-sitter.

Only names the suggestion defines or uses on its own lines count. tree-sitter tolerates
partial code, so this works mid-statement.

- ``CW-NAME-FUNCTION``: a function name not in the configured style (snake_case).
- ``CW-NAME-CLASS``: a class name not in the configured style (PascalCase).
- ``CW-NAME-FORBIDDEN``: a name the team forbids (``forbidden_names``).
- ``CW-IMPORT-FORBIDDEN``: an import the team forbids (``forbidden_imports``; a module and
  its submodules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .contract import BaseAnalyzer, Finding, Policy, Verdict, VetContext
from .source import ts_parser

STYLES = {
    "snake_case": re.compile(r"^_{0,2}[a-z][a-z0-9_]*_{0,2}$"),
    "camelCase": re.compile(r"^_?[a-z][a-zA-Z0-9]*$"),
    "PascalCase": re.compile(r"^_?[A-Z][a-zA-Z0-9]*$"),
    "any": re.compile(r".*"),
}
PEP8 = "https://peps.python.org/pep-0008/#naming-conventions"


@dataclass
class NamingOptions:
    functions: str = "snake_case"
    """snake_case, camelCase, PascalCase or any."""
    classes: str = "PascalCase"
    forbidden_names: list[str] = field(default_factory=list)
    forbidden_imports: list[str] = field(default_factory=list)
    style_action: Policy = "annotate"
    forbidden_action: Policy = "block"

    def validate(self) -> list[str]:
        errors = [f"naming.{k}: expected one of {', '.join(STYLES)}"
                  for k in ("functions", "classes") if getattr(self, k) not in STYLES]
        return errors


class NamingAnalyzer(BaseAnalyzer):
    """Team naming conventions, forbidden names and imports."""

    name = "naming"
    category = "style"
    order = 20
    Options = NamingOptions
    languages = ("python",)

    def analyze(self, ctx: VetContext, options: NamingOptions) -> Verdict:
        lines = ctx.suggestion_lines()
        indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
        text = "\n".join(x[indent:] if x[:indent].isspace() else x.lstrip() for x in lines)
        tree = ts_parser().parse(text.encode("utf-8"))
        findings: list[Finding] = []
        forbidden = set(options.forbidden_names)
        stack = [tree.root_node]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            line = node.start_point[0] + 1
            kind = {"function_definition": ("functions", "CW-NAME-FUNCTION"),
                    "class_definition": ("classes", "CW-NAME-CLASS")}.get(node.type)
            if kind is not None:
                name_node = node.child_by_field_name("name")
                name = _text(name_node)
                style = getattr(options, kind[0])
                if name and not STYLES[style].match(name) and not _dunder(name):
                    findings.append(self.finding(
                        kind[1], "low", "high", f"{kind[0][:-1]} name {name!r} is not "
                        f"{style}", line, PEP8, options.style_action))
            elif node.type == "identifier" and forbidden and _text(node) in forbidden:
                findings.append(self.finding(
                    "CW-NAME-FORBIDDEN", "medium", "high", f"name {_text(node)!r} is "
                    "forbidden by the team's naming rules", line, PEP8,
                    options.forbidden_action))
            elif node.type in ("import_statement", "import_from_statement") and \
                    options.forbidden_imports:
                for module in _modules(node):
                    bad = [m for m in options.forbidden_imports
                           if module == m or module.startswith(m + ".")]
                    if bad:
                        findings.append(self.finding(
                            "CW-IMPORT-FORBIDDEN", "medium", "high",
                            f"import of {module!r} is forbidden by the team", line,
                            PEP8, options.forbidden_action))
        return Verdict.from_findings(findings)


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text else ""


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _modules(node: Any) -> list[str]:
    if node.type == "import_from_statement":
        mod = node.child_by_field_name("module_name")
        return [_text(mod)] if mod is not None else []
    out = []
    for child in node.named_children:
        target = child.child_by_field_name("name") if child.type == "aliased_import" \
            else child
        out.append(_text(target))
    return out
