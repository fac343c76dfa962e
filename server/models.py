"""Which model directory to serve: an explicit path, else the registry's promoted model,
else the default model shipped in the package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .manifest import MANIFEST_NAME, ModelError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"


def default_model_dir() -> Path | None:
    return DEFAULT_MODEL_DIR if (DEFAULT_MODEL_DIR / MANIFEST_NAME).is_file() else None


def promoted_model_dir(registry: str) -> Path | None:
    """The registry's promoted model, if a registry is configured and has one."""
    try:
        from codeward.finetune import registry as reg
    except ImportError:
        return None
    try:
        return reg.current_model_dir(registry or None)
    except (AttributeError, OSError, ValueError):
        return None


def resolve_model_dir(path: str, registry: str = "") -> Path:
    if path:
        model_dir = Path(path).expanduser()
        if not model_dir.is_dir():
            raise ModelError(f"model directory {model_dir} does not exist")
        return model_dir
    promoted = promoted_model_dir(registry)
    if promoted is not None:
        return promoted
    default = default_model_dir()
    if default is not None:
        return default
    raise ModelError(
        "no model configured and no default model shipped; set model.path to a directory "
        "made by 'codeward model convert'"
    )


def start_watch(server: Any, settings: Any) -> None:
    """Watch the registry for a newly promoted model (hot swap); see codeward.finetune."""
    try:
        from codeward.finetune import registry as reg
    except ImportError:
        return
    watch = getattr(reg, "watch_promotions", None)
    if watch is not None and settings.model.watch_interval > 0 and not settings.model.path \
            and not server.model_override:
        watch(server.host, settings.model.registry or None, settings.model.watch_interval)
