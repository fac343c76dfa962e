"""Which remote engines the user has confirmed, and what a project file may not decide.

A project file arrives with ``git clone``. If it could set ``engine.url``, opening a
repository would send the developer's code to whatever host the repository names. So a
URL from a project file is used only when the user has confirmed its origin (scheme, host
and port) with ``codeward engine trust URL``; the confirmation lives in the user's own
config directory (``$XDG_CONFIG_HOME/codeward/trusted-engines.json`` on Linux), never in
a project. The URL in the user's own (editor) settings needs no confirmation.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

TRUST_FILE = "trusted-engines.json"
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (lower case, default port filled in): where code
    goes. Raises ValueError for anything but an http(s) URL with a host."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {url[:80]!r}")
    port = parts.port or DEFAULT_PORTS[scheme]
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def trust_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("codeward", appauthor=False)) / TRUST_FILE


def trusted(path: Path | None = None) -> list[str]:
    """The confirmed origins (an unreadable file counts as none, with a warning)."""
    path = path or trust_path()
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("%s unreadable (%s): no remote engine is trusted", path, exc)
        return []
    items = data.get("origins") if isinstance(data, dict) else None
    return [str(o) for o in items] if isinstance(items, list) else []


def is_trusted(url: str, path: Path | None = None) -> bool:
    try:
        return origin(url) in trusted(path)
    except ValueError:
        return False


def _write(origins: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".trust-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"origins": sorted(set(origins))}, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def trust(url: str, path: Path | None = None) -> str:
    """Confirm ``url``'s origin; returns it."""
    path = path or trust_path()
    where = origin(url)
    _write([*trusted(path), where], path)
    return where


def untrust(url: str, path: Path | None = None) -> bool:
    """Withdraw the confirmation; False if it was not there."""
    path = path or trust_path()
    where = origin(url)
    now = trusted(path)
    if where not in now:
        return False
    _write([o for o in now if o != where], path)
    return True


def version(path: Path | None = None) -> float:
    """Changes when the trust file changes (for caches of resolved settings)."""
    try:
        return (path or trust_path()).stat().st_mtime
    except OSError:
        return 0.0


def guard_project(data: dict[str, Any], project: Path, user_url: str,
                  user_only: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    """``data`` (a project file's codeward table) without what a project may not set: the
    user-only engine settings, and an ``engine.url`` whose origin is neither the user's own
    URL nor confirmed (then its ``backend`` goes too, so the local engine serves)."""
    engine = data.get("engine")
    if not isinstance(engine, dict):
        return data, []
    engine = dict(engine)
    messages = []
    for key in list(engine):
        if str(key).replace("-", "_") in user_only:
            engine.pop(key)
            messages.append(f"{project}: engine.{key} can only be set in your own (editor) "
                            "settings, not in a project file; ignored")
    url = engine.get("url")
    if isinstance(url, str) and url and not _same_origin(url, user_url) \
            and not is_trusted(url):
        engine.pop("url")
        if not user_url:
            engine.pop("backend", None)
        shown = _safe_origin(url)
        messages.append(
            f"{project} sets engine.url = {shown}: completions would send your code to a "
            f"host you have not confirmed, so it is not used (the local engine serves). To "
            f"allow it: codeward engine trust {shown} , then restart the language server")
    return {**data, "engine": engine}, messages


def _same_origin(a: str, b: str) -> bool:
    try:
        return bool(b) and origin(a) == origin(b)
    except ValueError:
        return False


def _safe_origin(url: str) -> str:
    try:
        return origin(url)
    except ValueError:
        return repr(url[:80])
