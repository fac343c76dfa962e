"""Promoting a version to a vLLM server: its adapter (joined against the server's base) is
loaded under the version's name and under the stable name the language servers ask for;
rollback loads the previous one the same way; a refusing or absent server changes nothing.
The server is a local fake speaking vLLM's endpoints (tests/finetune/fake_vllm.py)."""

from __future__ import annotations

import json
import shutil
import socket

import pytest

from codeward.finetune import registry as reg
from codeward.finetune.remote_promote import (
    RemoteError,
    Target,
    load_state,
    promote_remote,
    rollback_remote,
)
from codeward.server.cli import main

from fake_vllm import FakeVllm


@pytest.fixture
def registry(chain, tmp_path):
    copy = tmp_path / "reg"
    shutil.copytree(chain, copy)
    return copy


def test_promote_then_rollback(registry, monkeypatch):
    monkeypatch.setenv("CODEWARD_ENGINE_API_KEY", "k-123")
    with FakeVllm() as server:
        first = promote_remote(registry, "v2", Target(url=server.url + "/v1/"))
        assert first["base"] == "v1" and first["actions"] == {"codeward-v2": "loaded",
                                                              "codeward": "loaded"}
        second = promote_remote(registry, "v3", Target(url=server.url))
        assert second["base"] == "v1"  # recorded at the first promotion, not v3's own base
        assert second["actions"]["codeward"] == "replaced in place"
        assert server.adapters["codeward"] == second["path"] == server.adapters["codeward-v3"]
        assert second["path"].endswith("v3-on-v1/adapter")
        assert json.loads((registry / "exports" / "v3-on-v1" / "codeward-export.json")
                          .read_text())["adapter"]["lineage"] == ["v2", "v3"]
        back = rollback_remote(registry, Target(url=server.url))
        assert back["version"] == "v2" and server.adapters["codeward"] == first["path"]
        assert back["actions"] == {"codeward-v2": "replaced in place",
                                   "codeward": "replaced in place"}
    assert {r[3] for r in server.requests} == {"Bearer k-123"}
    entry = load_state(registry)[server.url]
    assert entry["version"] == "v2"
    assert [(h["version"], h["reason"]) for h in entry["history"]] == [
        ("v2", "promote"), ("v3", "promote"), ("v2", "rollback")]


def test_vllm_without_inplace_reload_gets_unload_and_load(registry):
    with FakeVllm(inplace=False) as server:
        promote_remote(registry, "v2", Target(url=server.url))
        done = promote_remote(registry, "v3", Target(url=server.url, name="team"))
        assert done["actions"]["team"] == "loaded"  # a new name: plain load
        done = promote_remote(registry, "v3", Target(url=server.url, name="team"))
        assert done["actions"] == {"team-v3": "unloaded and loaded",
                                   "team": "unloaded and loaded"}
        assert server.adapters["team"].endswith("v3-on-v1/adapter")


def test_server_down_or_without_lora_changes_nothing(registry):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RemoteError, match="ConnectError"):
        promote_remote(registry, "v2", Target(url=f"http://127.0.0.1:{port}"))
    with FakeVllm(lora=False) as server, pytest.raises(RemoteError, match="--enable-lora"):
        promote_remote(registry, "v2", Target(url=server.url))
    assert load_state(registry) == {}
    with pytest.raises(RemoteError, match="http:// or https://"):
        Target(url="gpu-box:8000")
    with pytest.raises(RemoteError, match="base version"):
        promote_remote(registry, "v1", Target(url="http://127.0.0.1:9"))
    with pytest.raises(RemoteError, match="nothing was promoted"):
        rollback_remote(registry, Target(url="http://127.0.0.1:9"))


def test_cli_promote_to_url_and_gate_refusal(registry, capsys):
    info = reg.load_version(registry, "v3")
    info.metrics = {"passed": False}
    reg.save_version(registry, info)
    with FakeVllm(check_paths=False) as server:
        args = ["model", "promote", "v3", "--to", server.url, "--registry", str(registry),
                "--server-path", "/srv/codeward/{version}/adapter"]
        assert main(args) == 2
        assert "gate refused v3" in capsys.readouterr().err
        assert main([*args, "--force"]) == 0
        assert json.loads(capsys.readouterr().out)["path"] == "/srv/codeward/v3/adapter"
    assert reg.current_version(registry) is None  # the local pointer is another matter
