"""Hashed identities: users, repositories and files are stored only as keyed hashes.

HMAC-SHA256 with a secret salt, so a hash cannot be reversed by trying likely names. The
salt is ``events.salt`` when set (teams share one so hashes match across machines), else a
random one created once in the user's data directory (mode 0600).
"""

from __future__ import annotations

import configparser
import getpass
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from .config import EventSettings, data_dir


def install_salt() -> str:
    path = data_dir() / "salt"
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    value = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_text("ascii").strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


class Hasher:
    def __init__(self, salt: str) -> None:
        self._key = salt.encode()

    @classmethod
    def from_settings(cls, cfg: EventSettings) -> Hasher:
        return cls(cfg.salt or install_salt())

    def __call__(self, value: str | None) -> str | None:
        if not value:
            return None
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:24]

    def user(self, cfg: EventSettings) -> str | None:
        return self(cfg.user or _login())

    def repo(self, path: str) -> str | None:
        return self(repo_identity(path))


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): fall back to the uid
        return f"uid:{os.getuid()}"


@lru_cache(maxsize=256)
def repo_identity(path: str) -> str | None:
    """A stable repository id for a file: the git ``origin`` URL if there is one (the same
    on every clone), else the repository (or project) root directory."""
    if not path:
        return None
    start = Path(path)
    for folder in [start, *start.parents] if start.is_dir() else start.parents:
        git = folder / ".git"
        if git.is_dir():
            url = _origin_url(git / "config")
            return url or str(folder)
        if git.is_file() or (folder / "pyproject.toml").is_file():
            return str(folder)
    return None


def _origin_url(config: Path) -> str | None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read(config, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    section = 'remote "origin"'
    if parser.has_option(section, "url"):
        url = parser.get(section, "url").strip()
        # drop credentials embedded in https remotes
        if "@" in url and "://" in url:
            scheme, rest = url.split("://", 1)
            url = f"{scheme}://{rest.rsplit('@', 1)[1]}"
        return url.removesuffix(".git")
    return None
