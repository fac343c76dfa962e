"""The team's license policy applied to a copy from the index.

A copy from the developer's own project (``Provenance.own``) is never a license question.
A copy from anything else (the standard library, a package, a vendored file that declares
its own license) gets a finding ``CW-INDEX-COPIED`` that says where it came from, with the
action the license policy (``vetting.license_policy``) gives that file's license.
"""

from __future__ import annotations

import re
from typing import Any

from codeward.analyzers.contract import Finding, VettingConfig

from ..settings import merge
from .model import Provenance

_CATEGORIES = (
    (re.compile(r"^(A?GPL|GPL)-", re.I), "Copyleft"),
    (re.compile(r"^(LGPL|MPL|EPL|CDDL|EUPL|OSL|CPL)-", re.I), "Copyleft Limited"),
    (re.compile(r"^(CC0|Unlicense$|WTFPL)", re.I), "Public Domain"),
    (re.compile(r"^(MIT|BSD|Apache|ISC|PSF|Python|Zlib|0BSD|HPND|BSL|NCSA|X11|Unicode)", re.I),
     "Permissive"),
)


def categories(spdx_ids: list[str]) -> list[str]:
    """scancode-style categories of SPDX ids (a short table; "Unstated License" else)."""
    out = []
    for spdx in spdx_ids:
        for rx, cat in _CATEGORIES:
            if rx.search(spdx):
                out.append(cat)
                break
        else:
            out.append("Unstated License")
    return out


def spdx_ids(expression: str) -> list[str]:
    return [t for t in re.split(r"\s+(?:AND|OR|WITH)\s+|[()]", expression) if t.strip()]


def vetting_config(vetting: dict[str, Any]) -> VettingConfig:
    cfg, _ = merge(VettingConfig(), vetting)  # type: ignore[arg-type]
    return cfg  # type: ignore[return-value]


def license_finding(prov: Provenance, vetting: dict[str, Any]) -> Finding | None:
    """The provenance finding of a copy, or None for a copy from the project itself."""
    if prov.own:
        return None
    lic = prov.license or "LicenseRef-unknown"
    ids = spdx_ids(lic)
    action = vetting_config(vetting).license_policy.action_for(ids, categories(ids))
    return Finding(
        rule_id="CW-INDEX-COPIED", severity="medium" if action == "block" else "low",
        confidence="high", line=1, analyzer="index", action=action,
        message=f"copied from {prov.path}:{prov.line} ({lic}, {prov.source})",
        reference=ids[0] if ids else "", extra={"provenance": prov.as_dict()})
