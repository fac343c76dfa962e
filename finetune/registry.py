"""The model registry, write side: register a converted model as a version (manifest,
checksums, metrics, lineage), promote it with one atomic pointer switch, roll back.

The layout and the read side (current version, verify, the server's hot-swap watcher) are
:mod:`codeward.server.registry`; its read functions are re-exported here so that finetune
code has one registry module to import.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codeward.server.manifest import read_manifest, sha256_file, verify_files
from codeward.server.models import default_model_dir
from codeward.server.registry import (
    CURRENT,
    HISTORY,
    RegistryError,
    RegistryPath,
    Version,
    current_model_dir,
    current_version,
    default_root,
    history,
    list_versions,
    load_version,
    root_of,
    verify_version,
    version_dir,
)
from codeward.server.showpolicy import (
    HISTORY as POLICY_HISTORY,
)
from codeward.server.showpolicy import (
    POINTER as POLICY_POINTER,
)
from codeward.server.showpolicy import (
    current_policy_version,
    load_policy,
    policy_dir,
    policy_from_dict,
)

from .convert import checkpoint_checksum

__all__ = ["CURRENT", "HISTORY", "RegistryError", "Version", "add_version", "current_model_dir",
           "current_version", "default_root", "ensure_base", "history", "list_versions", "load_version",
           "next_version", "promote", "rollback", "root_of", "save_version", "verify_version",
           "version_dir", "add_policy", "current_policy_version", "list_policies", "load_policy",
           "promote_policy", "rollback_policy"]

logger = logging.getLogger(__name__)


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


def save_version(registry: RegistryPath, info: Version) -> None:
    _write_atomic(version_dir(registry, info.version) / "version.json",
                  json.dumps(asdict(info), indent=2, sort_keys=True) + "\n")


def next_version(registry: RegistryPath) -> str:
    taken = {v.version for v in list_versions(registry)}
    n = len(taken) + 1
    while f"v{n}" in taken:
        n += 1
    return f"v{n}"


def _checksums(model_dir: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(model_dir.iterdir()) if p.is_file()}


def add_version(registry: RegistryPath, model_dir: Path, *,
                hf_dir: Path | None = None, version: str | None = None, base_version: str = "",
                dataset: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                move: bool = False, note: str = "", adapter_dir: Path | None = None) -> Version:
    """Copy (or move) a converted model (and its HF checkpoint, and the LoRA adapter it was
    merged from: ``adapter_dir``, trained on ``base_version``'s checkpoint) into the
    registry."""
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    verify_files(model_dir, manifest)
    version = version or next_version(registry)
    dest = version_dir(registry, version)
    if dest.exists():
        raise RegistryError(f"version {version} already exists in {root_of(registry)}")
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=_ensure(dest.parent)))
    try:
        # a checkpoint kept inside the model folder (the shipped model) is not copied twice
        inside = hf_dir is not None and Path(hf_dir).parent.resolve() == model_dir.resolve()
        skip = shutil.ignore_patterns(Path(hf_dir).name) if hf_dir is not None and inside \
            else None
        if move:
            shutil.move(str(model_dir), str(staging / "model"))
        else:
            shutil.copytree(model_dir, staging / "model", ignore=skip)
        place = shutil.move if move else shutil.copytree
        if hf_dir is not None and Path(hf_dir).is_dir():
            place(str(hf_dir), str(staging / "hf"))
        adapter: dict[str, str] = {}
        if adapter_dir is not None and Path(adapter_dir).is_dir():
            if not base_version:
                raise RegistryError(f"{adapter_dir}: a LoRA adapter needs the base version it "
                                    "was trained on (base_version)")
            place(str(adapter_dir), str(staging / "adapter"))
            adapter = _checksums(staging / "adapter")
        info = Version(version=version, created=datetime.now(UTC).isoformat(timespec="seconds"),
                       base_version=base_version, dataset=dataset or {}, metrics=metrics or {},
                       checksums=_checksums(staging / "model"),
                       manifest=json.loads(manifest.to_json()), note=note, adapter=adapter)
        (staging / "version.json").write_text(json.dumps(asdict(info), indent=2, sort_keys=True)
                                              + "\n", "utf-8")
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("registered %s in %s", version, root_of(registry))
    return info


def ensure_base(registry: RegistryPath, model_dir: Path | None = None,
                hf_dir: Path | None = None) -> str:
    """The current version. A registry without one starts from ``model_dir`` (default: the
    model shipped in the package): registered and promoted as its base version, after its
    manifest, the checksums of its files and its Hugging Face checkpoint (``hf_dir``,
    default: next to it or the manifest's ``source``) were verified."""
    current = current_version(registry)
    if current is not None:
        return current
    shipped = model_dir is None
    model = Path(model_dir) if model_dir is not None else default_model_dir()
    if model is None:
        raise RegistryError(f"registry {root_of(registry)} has no promoted model and no model "
                            "is shipped; pass --base-model (a converted model whose Hugging "
                            "Face checkpoint is at hand)")
    manifest = read_manifest(model)
    hf = Path(hf_dir) if hf_dir else next(
        (d for d in (model / "hf", Path(manifest.source or "-")) if d.is_dir()), model / "hf")
    if not (hf / "config.json").is_file():
        raise RegistryError(f"no Hugging Face checkpoint for {model} (looked in {hf}); pass "
                            "--base-hf")
    if manifest.source_sha256 and checkpoint_checksum(hf) != manifest.source_sha256:
        what = f"{hf} is not the checkpoint {model} was converted from (checksum differs)"
        if shipped:
            raise RegistryError(f"the shipped model is damaged: {what}; reinstall codeward")
        logger.warning("%s: fine-tuning starts from other weights than the ones served", what)
    info = add_version(registry, model, hf_dir=hf, note="shipped base model" if shipped
                       else "base model")
    promote(registry, info.version, reason="initial")
    logger.info("registry %s starts from %s (%s)", root_of(registry), info.version, model)
    return info.version


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def promote(registry: RegistryPath, version: str, *, reason: str = "promote",
            verify: bool = True) -> None:
    """Make ``version`` current: one atomic replace of the CURRENT pointer."""
    if verify:
        verify_version(registry, version)
    elif not version_dir(registry, version).is_dir():
        raise RegistryError(f"no version {version}")
    previous = current_version(registry)
    _move_pointer(root_of(registry), CURRENT, HISTORY, version, previous, reason)
    logger.info("promoted %s (was %s)", version, previous)


def _move_pointer(root: Path, pointer: str, history_file: str, version: str,
                  previous: str | None, reason: str) -> None:
    """Point ``pointer`` at ``version`` (one atomic replace) and log the move in
    ``history_file``, which rollback reads."""
    _write_atomic(root / pointer, json.dumps({"version": version}) + "\n")
    entry = {"at": time.time(), "version": version, "previous": previous, "reason": reason}
    with (root / history_file).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def rollback(registry: RegistryPath, to: str | None = None) -> str:
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


# -- show/rank policies, versioned beside the models (p1, p2, ...) ---------------------------
def list_policies(registry: RegistryPath) -> list[dict[str, Any]]:
    """Every registered policy's metadata (version, created, metrics, dataset), oldest first."""
    folder = root_of(registry) / "policies"
    out = []
    for child in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            data = json.loads((child / "version.json").read_text("utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        out.append(data)
    return sorted(out, key=lambda d: (str(d.get("created")), str(d.get("version"))))


def add_policy(registry: RegistryPath, policy: dict[str, Any], *, metrics: dict[str, Any],
               dataset: dict[str, Any], model_version: str = "") -> str:
    """Register a trained policy as the next ``pN``; its JSON is checked as the server
    will read it before anything is written."""
    taken = {str(d.get("version")) for d in list_policies(registry)}
    n = len(taken) + 1
    while f"p{n}" in taken or policy_dir(registry, f"p{n}").exists():
        n += 1
    version = f"p{n}"
    policy = {**policy, "version": version}
    policy_from_dict(policy, version)
    folder = policy_dir(registry, version)
    _write_atomic(folder / "policy.json", json.dumps(policy, indent=1, sort_keys=True) + "\n")
    meta = {"version": version, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "metrics": metrics, "dataset": dataset, "model_version": model_version,
            "sha256": sha256_file(folder / "policy.json")}
    _write_atomic(folder / "version.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return version


def promote_policy(registry: RegistryPath, version: str, *, reason: str = "promote") -> None:
    """Make ``version`` the served policy (checked, then one atomic pointer replace)."""
    load_policy(registry, version)
    previous = current_policy_version(registry)
    _move_pointer(root_of(registry), POLICY_POINTER, POLICY_HISTORY, version, previous, reason)
    logger.info("promoted policy %s (was %s)", version, previous)


def rollback_policy(registry: RegistryPath) -> str:
    """Promote the policy that was served before the current one."""
    path = root_of(registry) / POLICY_HISTORY
    current = current_policy_version(registry)
    entries = [json.loads(line) for line in path.read_text("utf-8").splitlines()
               if line.strip()] if path.is_file() else []
    previous = next((e.get("previous") for e in reversed(entries)
                     if e.get("version") == current), None)
    if not previous:
        raise RegistryError("no earlier policy to roll back to")
    promote_policy(registry, str(previous), reason="rollback")
    return str(previous)
