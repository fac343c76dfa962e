"""The model registry, read side: which version is promoted, is its artifact intact, and a
watcher that hot-swaps a newly promoted version into the running server.

The write side (register, promote, roll back, lineage) is ``codeward.finetune.registry``;
both share this layout (default: the platformdirs user data dir, ``settings.model.registry``
overrides)::

    REGISTRY/
      versions/<version>/model/      converted CTranslate2 model (codeward.json manifest)
      versions/<version>/hf/         the Hugging Face checkpoint it was converted from
      versions/<version>/adapter/    the LoRA adapter (on the base version's checkpoint), if any
      versions/<version>/version.json  lineage (base version, dataset), metrics, checksums
      CURRENT                        {"version": ...}: written to a temp file + os.replace
      history.jsonl                  every promotion and rollback, oldest first
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .manifest import ModelError, read_manifest, sha256_file, verify_files

logger = logging.getLogger(__name__)

CURRENT = "CURRENT"
HISTORY = "history.jsonl"

RegistryPath = str | os.PathLike[str] | None


class RegistryError(Exception):
    pass


@dataclass
class Version:
    version: str
    created: str = ""
    base_version: str = ""
    dataset: dict[str, Any] = field(default_factory=dict)
    """Lineage: dataset id, path, source of events."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """The gate's report (candidate and baseline metrics, passed, reasons)."""
    checksums: dict[str, str] = field(default_factory=dict)
    """sha256 of every file of ``model/``, checked again at promotion."""
    manifest: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    adapter: dict[str, str] = field(default_factory=dict)
    """sha256 of every file of ``adapter/`` (the LoRA adapter trained on the base version's
    checkpoint, before it was merged); empty when the version keeps none."""


def default_root() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("codeward", appauthor=False)) / "registry"


def root_of(registry: RegistryPath) -> Path:
    return Path(registry).expanduser() if registry else default_root()


def read_pointer(registry: RegistryPath, name: str) -> str | None:
    """The version a pointer file (``CURRENT``, ``POLICY``) names; None if unset or unreadable."""
    try:
        data = json.loads((root_of(registry) / name).read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version else None


def current_version(registry: RegistryPath) -> str | None:
    return read_pointer(registry, CURRENT)


def entry_dir(registry: RegistryPath, folder: str, version: str, what: str = "version") -> Path:
    """``<registry>/<folder>/<version>``, refusing names that would leave the folder."""
    if not version or "/" in version or version.startswith("."):
        raise RegistryError(f"bad {what} name {version!r}")
    return root_of(registry) / folder / version


def version_dir(registry: RegistryPath, version: str) -> Path:
    return entry_dir(registry, "versions", version)


def current_model_dir(registry: RegistryPath) -> Path | None:
    """The promoted model's directory, or None if there is no registry or no promotion."""
    version = current_version(registry)
    if version is None:
        return None
    model = version_dir(registry, version) / "model"
    return model if model.is_dir() else None


def read_entry(path: Path, what: str) -> Any:
    """The JSON of a registry entry's file (``version.json``, ``policy.json``); a
    ``RegistryError`` naming ``what`` when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{what}: unreadable {path.name} ({exc})") from exc


def load_version(registry: RegistryPath, version: str) -> Version:
    data = read_entry(version_dir(registry, version) / "version.json", f"version {version}")
    known = set(Version.__dataclass_fields__)
    return Version(**{k: v for k, v in data.items() if k in known})


def list_versions(registry: RegistryPath) -> list[Version]:
    folder = root_of(registry) / "versions"
    if not folder.is_dir():
        return []
    out = []
    for child in sorted(folder.iterdir()):
        if child.is_dir() and (child / "version.json").is_file():
            try:
                out.append(load_version(registry, child.name))
            except RegistryError as exc:
                logger.warning("%s", exc)
    return sorted(out, key=lambda v: (v.created, v.version))


def history(registry: RegistryPath) -> list[dict[str, Any]]:
    path = root_of(registry) / HISTORY
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def verify_version(registry: RegistryPath, version: str) -> Path:
    """Check a version's files against its manifest and recorded checksums."""
    info = load_version(registry, version)
    model = version_dir(registry, version) / "model"
    try:
        verify_files(model, read_manifest(model))
    except ModelError as exc:
        raise RegistryError(f"version {version} is corrupt: {exc}") from exc
    for name, digest in info.checksums.items():
        path = model / name
        if not path.is_file() or sha256_file(path) != digest:
            raise RegistryError(f"version {version} is corrupt: {name} is missing or altered")
    return model


class ModelHost(Protocol):
    def load(self, model_dir: Path) -> Any: ...


def watch_pointer(what: str, read: Callable[[], str | None], install: Callable[[str], None],
                  rejected: tuple[type[Exception], ...], interval: float, name: str,
                  keeps: str) -> threading.Thread:
    """A daemon thread that calls ``install(version)`` each time ``read()`` names a new
    version (hot swap). ``rejected`` errors are logged (``keeps``: who serves instead);
    a version that failed is not retried until the pointer changes again."""
    def loop() -> None:
        seen = read()
        while True:
            time.sleep(interval)
            try:
                version = read()
                if version is None or version == seen:
                    continue
                seen = version
                logger.info("registry: %s %s promoted, loading it", what, version)
                install(version)
            except rejected as exc:
                logger.error("registry: %s %s rejected, %s: %s", what, seen, keeps, exc)
            except Exception:
                logger.exception("registry watch (%s) failed; will retry", what)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def watch_promotions(host: ModelHost, registry: RegistryPath,
                     interval: float) -> threading.Thread:
    """Load each newly promoted version into ``host``: ``host.load`` swaps atomically; a
    corrupt artifact raises ModelError and the old engine keeps serving."""
    return watch_pointer("model", lambda: current_version(registry),
                         lambda v: host.load(verify_version(registry, v)),
                         (ModelError, RegistryError), interval, "codeward-registry-watch",
                         "old model keeps serving")
