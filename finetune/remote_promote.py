"""``codeward model promote VERSION --to URL`` and ``codeward model rollback --to URL``: load
a version's LoRA adapter into a running vLLM server through its dynamic LoRA endpoints, under
a stable name the language servers ask for (``[tool.codeward.engine] model``).

vLLM keeps one base model loaded (started with ``--enable-lora`` and the environment
variable ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``). A promotion:

1. ``GET /v1/models``: the server answers and lists what it serves;
2. exports the version's adapter against the version the server serves as its base
   (:mod:`.export`; adapters of the versions in between are joined exactly);
3. ``POST /v1/load_lora_adapter`` under the version's own name (``codeward-v4``), then under
   the stable name (``codeward``) with ``load_inplace``, which swaps the weights of the name
   the language servers already ask for; a vLLM without in-place loading gets an unload and
   a load of the stable name instead (requests in that moment fall back to the local engine);
4. records the promotion in ``REGISTRY/remote.json``, so that a rollback loads the previous
   version the same way.

vLLM reads ``lora_path`` on its own machine: by default the export's local path (a server on
this machine or a shared file system); ``--server-path`` names where the server sees it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import registry as reg
from .export import export

logger = logging.getLogger(__name__)

STATE = "remote.json"
LOAD = "/v1/load_lora_adapter"
UNLOAD = "/v1/unload_lora_adapter"
MODELS = "/v1/models"


class RemoteError(reg.RegistryError):
    pass


@dataclass
class Target:
    url: str
    """The server's base URL (``https://gpu.example:8000``; ``/v1`` is added)."""
    name: str = "codeward"
    """The stable adapter name the language servers ask for."""
    base: str = ""
    """The registry version whose merged checkpoint the server serves as its base model
    (default: what the last promotion to this URL recorded, else the version's base)."""
    server_path: str = ""
    """Where the server sees the export folder; ``{version}`` is replaced (default: the
    local export path)."""
    api_key_env: str = "CODEWARD_ENGINE_API_KEY"
    timeout: float = 60.0
    verify_tls: bool = True

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise RemoteError(f"--to {self.url!r}: expected an http:// or https:// URL")
        self.url = self.url.rstrip("/").removesuffix("/v1")
        if not self.name or "/" in self.name:
            raise RemoteError(f"--name {self.name!r}: expected a plain adapter name")


def _state_path(registry: reg.RegistryPath) -> Path:
    return reg.root_of(registry) / STATE


def load_state(registry: reg.RegistryPath) -> dict[str, Any]:
    try:
        data = json.loads(_state_path(registry).read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(registry: reg.RegistryPath, state: dict[str, Any]) -> None:
    reg._write_atomic(_state_path(registry), json.dumps(state, indent=2, sort_keys=True) + "\n")


def _client(target: Target):  # type: ignore[no-untyped-def]
    import httpx

    headers = {}
    key = os.environ.get(target.api_key_env, "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.Client(base_url=target.url, headers=headers, timeout=target.timeout,
                        verify=target.verify_tls, follow_redirects=False)


def _message(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return str(err.get("message", err))
        return str(data.get("message") or err or data.get("detail") or data)
    return str(data)[:300]


def _call(client: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import httpx

    try:
        response = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        raise RemoteError(f"{client.base_url}{path}: {type(exc).__name__}: {exc}") from exc
    if response.status_code in (401, 403):
        raise RemoteError(f"{client.base_url}{path}: refused ({response.status_code}); set "
                          "the server's API key in the environment variable named by "
                          "--api-key-env")
    if response.status_code == 404 and path in (LOAD, UNLOAD) and _message(response) in (
            "Not Found", "{'detail': 'Not Found'}"):
        raise RemoteError(f"{client.base_url}{path}: not found; start vLLM with --enable-lora "
                          "and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True")
    return response


def served_models(client: Any) -> dict[str, dict[str, Any]]:
    response = _call(client, "GET", MODELS)
    if response.status_code != 200:
        raise RemoteError(f"{client.base_url}{MODELS}: {response.status_code} "
                          f"{_message(response)}")
    return {str(m.get("id")): m for m in response.json().get("data", []) if isinstance(m, dict)}


def _load(client: Any, name: str, path: str, loaded: bool) -> str:
    """Load ``path`` under ``name``; replace it in place when ``name`` is loaded already."""
    body: dict[str, Any] = {"lora_name": name, "lora_path": path}
    if loaded:
        body["load_inplace"] = True
    response = _call(client, "POST", LOAD, body)
    if response.status_code == 200:
        return "replaced in place" if loaded else "loaded"
    if loaded and response.status_code == 400:
        # a vLLM without load_inplace refuses a name that is loaded: unload, then load
        logger.warning("%s: in-place reload refused (%s); unloading %s and loading it again",
                       client.base_url, _message(response), name)
        unloaded = _call(client, "POST", UNLOAD, {"lora_name": name})
        if unloaded.status_code != 200:
            raise RemoteError(f"unloading {name}: {unloaded.status_code} {_message(unloaded)}")
        response = _call(client, "POST", LOAD, {"lora_name": name, "lora_path": path})
        if response.status_code == 200:
            return "unloaded and loaded"
    raise RemoteError(f"loading {name} from {path}: {response.status_code} {_message(response)}")


def promote_remote(registry: reg.RegistryPath, version: str, target: Target, *,
                   reason: str = "promote", export_root: Path | None = None) -> dict[str, Any]:
    """Load ``version``'s adapter into the vLLM server at ``target.url`` under
    ``target.name``. Returns what was done; raises RemoteError and changes nothing
    recorded when the server refuses."""
    state = load_state(registry)
    entry = state.get(target.url, {})
    info = reg.load_version(registry, version)
    base = target.base or entry.get("base") or info.base_version
    if not base:
        raise RemoteError(f"version {version} is a base version; serve its merged checkpoint "
                          f"(codeward model export {version} --to DIR --merged-only)")
    if base == version:
        raise RemoteError(f"the server's base model is {version} itself; nothing to load")
    with _client(target) as client:
        models = served_models(client)
        root = Path(export_root) if export_root else reg.root_of(registry) / "exports"
        out = root / f"{version}-on-{base}"
        if not (out / "adapter").is_dir():
            export(registry, version, out, against=base, merged=False)
        path = (target.server_path.replace("{version}", version) if target.server_path
                else str((out / "adapter").resolve()))
        own = f"{target.name}-{version}"
        actions = {own: _load(client, own, path, own in models),
                   target.name: _load(client, target.name, path, target.name in models)}
    record = {"at": time.time(), "version": version, "previous": entry.get("version"),
              "reason": reason, "path": path}
    state[target.url] = {"name": target.name, "base": base, "version": version,
                         "history": [*entry.get("history", []), record]}
    _save_state(registry, state)
    logger.info("%s: %s now serves %s (on base %s)", target.url, target.name, version, base)
    return {"url": target.url, "name": target.name, "version": version, "base": base,
            "path": path, "actions": actions}


def rollback_remote(registry: reg.RegistryPath, target: Target,
                    to: str | None = None) -> dict[str, Any]:
    """Load the version promoted to ``target.url`` before the current one (or ``to``)."""
    entry = load_state(registry).get(target.url)
    if not entry:
        raise RemoteError(f"nothing was promoted to {target.url} from this registry")
    if to is None:
        to = entry.get("history", [{}])[-1].get("previous")
        if not to:
            raise RemoteError(f"{target.url}: nothing to roll back to (one promotion only)")
    return promote_remote(registry, str(to), Target(**{**target.__dict__, "name":
                                                       entry.get("name", target.name)}),
                          reason="rollback")
