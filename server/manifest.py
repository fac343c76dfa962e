"""The model directory's manifest (``codeward.json``): what a converted model is and how to
prompt it. Written by ``codeward model convert``, read by the engine and the registry."""

from __future__ import annotations

import hashlib
import json
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "codeward.json"
FORMAT_VERSION = 1


class ModelError(Exception):
    """A model directory that cannot be served (missing, corrupt, mismatched)."""


@dataclass
class Manifest:
    family: str
    name: str = "model"
    version: str = "0"
    model_type: str = ""
    vocab_size: int = 0
    context_length: int = 0
    """Positions the model was trained for (0 = unknown); prompts are kept within it."""
    quantization: str = "int8"
    stop_tokens: list[str] = field(default_factory=list)
    fim_template: str = ""
    source: str = ""
    source_sha256: str = ""
    files: dict[str, str] = field(default_factory=dict)
    """sha256 of each served file, checked before a model is loaded."""
    created: str = ""
    converter: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> Manifest:
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(
            f"{model_dir}: no {MANIFEST_NAME}; convert the checkpoint with "
            "'codeward model convert HF_DIR OUT_DIR'"
        )
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict) or "family" not in data:
        raise ModelError(f"{path}: manifest has no 'family'")
    return Manifest(**_typed_fields(path, data))


def _typed_fields(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The manifest's known fields, each checked against its declared type (a wrong type
    would otherwise load and then fail every completion)."""
    from codeward.analyzers.config import check

    hints = typing.get_type_hints(Manifest)
    fields: dict[str, Any] = {}
    for name in Manifest.__dataclass_fields__:
        if name not in data:
            continue
        try:
            fields[name] = check(data[name], hints[name])
        except TypeError as exc:
            raise ModelError(f"{path}: field {name!r}: {exc}, got {data[name]!r:.60}") from exc
    for name in ("vocab_size", "context_length", "format_version"):
        if fields.get(name, 0) < 0:
            raise ModelError(f"{path}: field {name!r} must not be negative")
    if not fields["family"]:
        raise ModelError(f"{path}: field 'family' is empty")
    return fields


def verify_files(model_dir: Path, manifest: Manifest) -> None:
    """Raise ModelError if a served file is missing or its checksum differs."""
    required = {"model.bin", "tokenizer.json"}
    for name in sorted(required | set(manifest.files)):
        path = model_dir / name
        if not path.is_file():
            raise ModelError(f"{model_dir}: {name} is missing")
        expected = manifest.files.get(name)
        if expected and sha256_file(path) != expected:
            raise ModelError(f"{model_dir}: {name} does not match its checksum (corrupt or altered)")
