"""``codeward model export VERSION --to DIR``: what a remote engine (vLLM, TGI, llama.cpp
after conversion) loads for a registered version.

    DIR/merged/                the merged Hugging Face checkpoint (``vllm serve DIR/merged``)
    DIR/adapter/               the LoRA adapter (PEFT format) that turns the checkpoint of
                               the base version ``against`` into this version
    DIR/codeward-export.json   the manifest: version, lineage, FIM family, template and stop
                               tokens (what the language servers build prompts with), sha256
                               of every exported file

Each fine-tuning cycle trains a LoRA adapter on the checkpoint of the version before it, so
version v4's own adapter applies on top of v3's merged checkpoint. A vLLM server keeps one
base model loaded; to reach v4 from the v1 it serves, the adapters of v2, v3 and v4 are
joined into one adapter of their summed rank. That is exact, not an approximation:
``W1 + s2 B2 A2 + s3 B3 A3 + s4 B4 A4 = W1 + [s2 B2 | s3 B3 | s4 B4] [A2; A3; A4]``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codeward.server.manifest import sha256_file

from . import registry as reg
from .convert import TRAINING_LOGS, checkpoint_checksum

logger = logging.getLogger(__name__)

EXPORT_MANIFEST = "codeward-export.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


class ExportError(reg.RegistryError):
    pass


def lineage(registry: reg.RegistryPath, version: str, against: str) -> list[str]:
    """The versions whose adapters lead from ``against``'s checkpoint to ``version``'s,
    oldest first (empty when ``version == against``)."""
    chain: list[str] = []
    current = version
    while current != against:
        if current in chain or len(chain) > 1000:
            raise ExportError(f"version {version}: its lineage loops at {current}")
        info = reg.load_version(registry, current)
        if not info.base_version:
            raise ExportError(f"version {against} is not an ancestor of {version} (lineage: "
                              f"{' <- '.join([version, *chain[::-1][1:], current])})")
        chain.append(current)
        current = info.base_version
    return chain[::-1]


def _scale(config: dict[str, Any]) -> float:
    r, alpha = int(config["r"]), float(config.get("lora_alpha", config["r"]))
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def _read_adapter(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors.numpy import load_file

    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text("utf-8"))
        tensors = load_file(str(folder / ADAPTER_WEIGHTS))
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"{folder}: not a PEFT LoRA adapter ({exc})") from exc
    other = sorted(k for k in tensors if ".lora_A." not in k and ".lora_B." not in k)
    if config.get("peft_type", "LORA") != "LORA" or other or config.get("rank_pattern") \
            or config.get("alpha_pattern") or config.get("use_dora"):
        raise ExportError(f"{folder}: only plain LoRA adapters (one rank, no extra trained "
                          f"modules, no DoRA) can be joined; found {other[:3] or config}")
    return config, tensors


def combine_adapters(folders: list[Path], out: Path) -> dict[str, Any]:
    """Join LoRA adapters applied one after the other into one adapter (rank = the sum)."""
    import numpy as np
    from safetensors.numpy import save_file

    if not folders:
        raise ExportError("no adapters to join")
    read = [_read_adapter(f) for f in folders]
    keys = set(read[0][1])
    for folder, (_, tensors) in zip(folders[1:], read[1:], strict=True):
        if set(tensors) != keys:
            raise ExportError(f"{folder} adapts other modules than {folders[0]}; cannot join")
    joined: dict[str, Any] = {}
    for key in sorted(keys):
        parts = [t[key].astype(np.float32) for _, t in read]
        if ".lora_A." in key:
            joined[key] = np.ascontiguousarray(np.concatenate(parts, axis=0))
        else:
            scaled = [p * _scale(c) for p, (c, _) in zip(parts, read, strict=True)]
            joined[key] = np.ascontiguousarray(np.concatenate(scaled, axis=1))
    rank = sum(int(c["r"]) for c, _ in read)
    config = {**read[-1][0], "r": rank, "lora_alpha": rank, "use_rslora": False,
              "lora_dropout": 0.0}
    out.mkdir(parents=True, exist_ok=True)
    save_file(joined, str(out / ADAPTER_WEIGHTS))
    (out / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n",
                                      "utf-8")
    return config


def _files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}


def export(registry: reg.RegistryPath, version: str, to: Path, *, against: str | None = None,
           merged: bool = True, adapter: bool = True) -> dict[str, Any]:
    """Write ``version``'s merged checkpoint and/or its adapter on ``against``'s checkpoint
    (default: its own base version) into ``to`` (atomically: staged, then renamed)."""
    reg.verify_version(registry, version)
    info = reg.load_version(registry, version)
    vdir = reg.version_dir(registry, version)
    to = Path(to)
    if to.exists() and any(to.iterdir()):
        raise ExportError(f"{to} exists and is not empty; export into a new folder")
    against = against or info.base_version
    data: dict[str, Any] = {
        "version": version, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_version": info.base_version, "manifest": info.manifest, "files": {}}
    to.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{to.name}-", dir=to.parent))
    try:
        if merged:
            if not (vdir / "hf" / "config.json").is_file():
                raise ExportError(f"version {version} keeps no Hugging Face checkpoint")
            shutil.copytree(vdir / "hf", staging / "merged",
                            ignore=shutil.ignore_patterns(*TRAINING_LOGS))
            data["merged"] = {"sha256": checkpoint_checksum(staging / "merged")}
            data["files"]["merged"] = _files(staging / "merged")
        if adapter:
            data["adapter"] = _export_adapter(registry, version, against, staging / "adapter")
            data["files"]["adapter"] = _files(staging / "adapter")
        (staging / EXPORT_MANIFEST).write_text(json.dumps(data, indent=2, sort_keys=True)
                                               + "\n", "utf-8")
        if to.exists():
            to.rmdir()
        staging.rename(to)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("exported %s to %s", version, to)
    return data


def _export_adapter(registry: reg.RegistryPath, version: str, against: str | None,
                    out: Path) -> dict[str, Any]:
    if not against:
        raise ExportError(f"version {version} is a base version: it has no adapter (export "
                          "its merged checkpoint and serve that)")
    chain = lineage(registry, version, against)
    if not chain:
        raise ExportError(f"version {version} is {against} itself: no adapter between them")
    folders = []
    for v in chain:
        folder = reg.version_dir(registry, v) / "adapter"
        recorded = reg.load_version(registry, v).adapter
        if not recorded or not folder.is_dir():
            raise ExportError(f"version {v} keeps no LoRA adapter (registered before "
                              "adapters were kept, or from a model of your own): export its "
                              "merged checkpoint instead")
        if _files(folder) != recorded:
            raise ExportError(f"version {v}: its adapter is corrupt (checksums differ)")
        folders.append(folder)
    if len(folders) == 1:
        shutil.copytree(folders[0], out)
        config = json.loads((out / ADAPTER_CONFIG).read_text("utf-8"))
    else:
        config = combine_adapters(folders, out)
    base_hf = reg.version_dir(registry, against) / "hf"
    return {"against": against, "lineage": chain, "rank": int(config["r"]),
            "base_sha256": checkpoint_checksum(base_hf) if base_hf.is_dir() else ""}
