"""The model registry: versions with manifest, checksums, metrics and lineage; promotion is an
atomic pointer switch; running servers watch the pointer and hot-swap.

Layout (default: the platformdirs user data dir, ``settings.model.registry`` overrides)::

    REGISTRY/
      versions/<version>/model/      converted CTranslate2 model (codeward.json manifest)
      versions/<version>/hf/         the Hugging Face checkpoint it was converted from
      versions/<version>/version.json  lineage (base version, dataset), metrics, checksums
      CURRENT                        {"version": ...}: written to a temp file + os.replace
      history.jsonl                  every promotion and rollback, oldest first

This module is imported by the server (``current_model_dir``, ``watch_promotions``): it must
not import torch.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codeward.server.manifest import ModelError, read_manifest, sha256_file, verify_files

logger = logging.getLogger(__name__)

CURRENT = "CURRENT"
HISTORY = "history.jsonl"


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


def default_root() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("codeward", appauthor=False)) / "registry"


def root_of(registry: str | os.PathLike[str] | None) -> Path:
    return Path(registry).expanduser() if registry else default_root()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_version(registry: str | os.PathLike[str] | None) -> str | None:
    path = root_of(registry) / CURRENT
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version else None


def version_dir(registry: str | os.PathLike[str] | None, version: str) -> Path:
    if not version or "/" in version or version.startswith("."):
        raise RegistryError(f"bad version name {version!r}")
    return root_of(registry) / "versions" / version


def current_model_dir(registry: str | None) -> Path | None:
    """The promoted model's directory, or None if there is no registry or no promotion."""
    version = current_version(registry)
    if version is None:
        return None
    model = version_dir(registry, version) / "model"
    return model if model.is_dir() else None


def load_version(registry: str | os.PathLike[str] | None, version: str) -> Version:
    path = version_dir(registry, version) / "version.json"
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistryError(f"version {version}: unreadable version.json ({exc})") from exc
    known = set(Version.__dataclass_fields__)
    return Version(**{k: v for k, v in data.items() if k in known})


def save_version(registry: str | os.PathLike[str] | None, info: Version) -> None:
    _write_atomic(version_dir(registry, info.version) / "version.json",
                  json.dumps(asdict(info), indent=2, sort_keys=True) + "\n")


def list_versions(registry: str | os.PathLike[str] | None) -> list[Version]:
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


def next_version(registry: str | os.PathLike[str] | None) -> str:
    taken = {v.version for v in list_versions(registry)}
    n = len(taken) + 1
    while f"v{n}" in taken:
        n += 1
    return f"v{n}"


def _checksums(model_dir: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(model_dir.iterdir()) if p.is_file()}


def add_version(registry: str | os.PathLike[str] | None, model_dir: Path, *,
                hf_dir: Path | None = None, version: str | None = None, base_version: str = "",
                dataset: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                move: bool = False, note: str = "") -> Version:
    """Copy (or move) a converted model (and its HF checkpoint) into the registry."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    verify_files(model_dir, manifest)
    version = version or next_version(registry)
    dest = version_dir(registry, version)
    if dest.exists():
        raise RegistryError(f"version {version} already exists in {root_of(registry)}")
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=_ensure(dest.parent)))
    try:
        place = shutil.move if move else shutil.copytree
        place(str(model_dir), str(staging / "model"))
        if hf_dir is not None and Path(hf_dir).is_dir():
            place(str(hf_dir), str(staging / "hf"))
        info = Version(version=version, created=datetime.now(UTC).isoformat(timespec="seconds"),
                       base_version=base_version, dataset=dataset or {}, metrics=metrics or {},
                       checksums=_checksums(staging / "model"),
                       manifest=json.loads(manifest.to_json()), note=note)
        (staging / "version.json").write_text(json.dumps(asdict(info), indent=2, sort_keys=True)
                                              + "\n", "utf-8")
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("registered %s in %s", version, root_of(registry))
    return info


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def verify_version(registry: str | os.PathLike[str] | None, version: str) -> Path:
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


def promote(registry: str | os.PathLike[str] | None, version: str, *, reason: str = "promote",
            verify: bool = True) -> None:
    """Make ``version`` current: one atomic replace of the CURRENT pointer."""
    if verify:
        verify_version(registry, version)
    elif not version_dir(registry, version).is_dir():
        raise RegistryError(f"no version {version}")
    root = root_of(registry)
    previous = current_version(registry)
    _write_atomic(root / CURRENT, json.dumps({"version": version}) + "\n")
    entry = {"at": time.time(), "version": version, "previous": previous, "reason": reason}
    with (root / HISTORY).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
    logger.info("promoted %s (was %s)", version, previous)


def history(registry: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    path = root_of(registry) / HISTORY
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def rollback(registry: str | os.PathLike[str] | None, to: str | None = None) -> str:
    """Promote ``to``, or the version that was current before the current one."""
    if to is None:
        current = current_version(registry)
        entries = [e for e in history(registry) if e.get("version") == current]
        previous = entries[-1].get("previous") if entries else None
        if not previous:
            raise RegistryError("nothing to roll back to (no earlier promotion)")
        to = str(previous)
    promote(registry, to, reason="rollback")
    return to


def watch_promotions(host: Any, registry: str | None, interval: float) -> threading.Thread:
    """A daemon thread that loads a newly promoted version into ``host`` (hot swap).

    ``host.load`` swaps atomically; a corrupt artifact raises ModelError and the old engine
    keeps serving. A version that failed is not retried until the pointer changes again."""
    def loop() -> None:
        seen = current_version(registry)
        while True:
            time.sleep(interval)
            try:
                version = current_version(registry)
                if version is None or version == seen:
                    continue
                seen = version
                logger.info("registry: %s promoted, loading it", version)
                host.load(verify_version(registry, version))
            except (ModelError, RegistryError) as exc:
                logger.error("registry: version %s rejected, old model keeps serving: %s",
                             seen, exc)
            except Exception:
                logger.exception("registry watch failed; will retry")

    thread = threading.Thread(target=loop, name="codeward-registry-watch", daemon=True)
    thread.start()
    return thread
