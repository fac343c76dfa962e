"""Which model directory to serve: an explicit path, else the registry's promoted model,
else the default model shipped in the package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import registry as reg
from .manifest import MANIFEST_NAME, ModelError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"


def default_model_dir() -> Path | None:
    return DEFAULT_MODEL_DIR if (DEFAULT_MODEL_DIR / MANIFEST_NAME).is_file() else None


def promoted_model_dir(registry: str) -> Path | None:
    """The registry's promoted model, if the registry has one (an unreadable registry counts
    as none: the server then falls back to the shipped model)."""
    try:
        return reg.current_model_dir(registry or None)
    except (OSError, reg.RegistryError) as exc:
        logger.warning("model registry %s unreadable (%s); not using it", registry, exc)
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
    """Watch the registry for a newly promoted model (hot swap) unless a model is pinned."""
    if settings.model.watch_interval > 0 and not settings.model.path \
            and not server.model_override:
        reg.watch_promotions(server.host, settings.model.registry or None,
                             settings.model.watch_interval)
