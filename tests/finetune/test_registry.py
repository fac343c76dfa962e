"""Registry: versions, atomic promotion, rollback; hot swap in a running server under
concurrent LSP requests; a corrupt artifact is rejected while the old model keeps serving."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from codeward.finetune import registry as reg
from codeward.finetune.simulate import wait_ready
from codeward.server.manifest import read_manifest


def test_add_promote_rollback(tmp_path, tiny_model_dir, random_model_dir):
    r = tmp_path / "reg"
    assert reg.current_model_dir(str(r)) is None
    v1 = reg.add_version(r, tiny_model_dir, note="base")
    v2 = reg.add_version(r, random_model_dir, base_version=v1.version,
                         dataset={"id": "abc"}, metrics={"passed": True})
    assert (v1.version, v2.version) == ("v1", "v2")
    assert v2.checksums["model.bin"] and v2.manifest["name"] == "tiny-random"
    reg.promote(r, "v1")
    assert reg.current_model_dir(str(r)) == r / "versions" / "v1" / "model"
    reg.promote(r, "v2")
    assert read_manifest(reg.current_model_dir(str(r))).name == "tiny-random"
    assert reg.rollback(r) == "v1" and reg.current_version(r) == "v1"
    assert [e["reason"] for e in reg.history(r)] == ["promote", "promote", "rollback"]
    assert [v.version for v in reg.list_versions(r)] == ["v1", "v2"]
    assert reg.load_version(r, "v2").dataset == {"id": "abc"}
    # no temp files left behind by the atomic pointer switch
    assert sorted(p.name for p in r.iterdir()) == ["CURRENT", "history.jsonl", "versions"]


def test_corrupt_version_refused_at_promotion(tmp_path, tiny_model_dir):
    r = tmp_path / "reg"
    reg.add_version(r, tiny_model_dir)
    reg.add_version(r, tiny_model_dir)
    reg.promote(r, "v1")
    model_bin = r / "versions" / "v2" / "model" / "model.bin"
    model_bin.write_bytes(model_bin.read_bytes()[: 1000])
    with pytest.raises(reg.RegistryError, match="corrupt"):
        reg.promote(r, "v2")
    assert reg.current_version(r) == "v1"
    with pytest.raises(reg.RegistryError, match="bad version"):
        reg.version_dir(r, "../x")


async def _status(client):
    result = await client.protocol.send_request_async("codeward/status", {})
    return result if isinstance(result, dict) else {k: getattr(result, k, None) for k in (
        "model", "model_version", "model_error")}


async def test_hot_swap_under_load_and_corrupt_rejected(tmp_path, tiny_model_dir,
                                                        random_model_dir):
    r = tmp_path / "reg"
    reg.add_version(r, tiny_model_dir)
    reg.add_version(r, random_model_dir)
    reg.add_version(r, tiny_model_dir, note="will be corrupted")
    reg.promote(r, "v1")
    doc = tmp_path / "a.py"
    text = "def add(a, b):\n    "
    doc.write_text(text)
    client = LanguageClient("test", "1")
    await client.start_io(sys.executable, "-m", "codeward.server.cli", "serve",
                          "--log-file", str(tmp_path / "server.log"))
    try:
        await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), initialization_options={
                "model": {"registry": str(r), "watch_interval": 0.2},
                "events": {"enabled": False},
                "analyzers": {"license": {"enabled": False, "acknowledge_disabled": True}}}))
        client.initialized(types.InitializedParams())
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=doc.as_uri(), language_id="python",
                                                 version=1, text=text)))
        failures, served = [], []
        stop = asyncio.Event()

        async def hammer():
            while not stop.is_set():
                try:
                    res = await asyncio.wait_for(client.text_document_inline_completion_async(
                        types.InlineCompletionParams(
                            text_document=types.TextDocumentIdentifier(uri=doc.as_uri()),
                            position=types.Position(line=1, character=4),
                            context=types.InlineCompletionContext(
                                trigger_kind=types.InlineCompletionTriggerKind.Invoked))), 20)
                    served.append(res)
                except Exception as exc:  # any error or timeout is a failed request
                    failures.append(repr(exc))

        await wait_ready(client, 60)
        first = await _status(client)
        assert first["model"] == "tiny-taught"
        workers = [asyncio.create_task(hammer()) for _ in range(4)]
        await asyncio.sleep(0.5)
        before = len(served)
        reg.promote(r, "v2")
        for _ in range(100):
            await asyncio.sleep(0.1)
            if (await _status(client))["model"] == "tiny-random":
                break
        assert (await _status(client))["model"] == "tiny-random"
        await asyncio.sleep(0.5)
        # a corrupt artifact: promoted without verification, rejected by the server
        model_bin = r / "versions" / "v3" / "model" / "model.bin"
        model_bin.write_bytes(model_bin.read_bytes()[:5000])
        reg.promote(r, "v3", verify=False)
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.gather(*workers)
        after = await _status(client)
        assert after["model"] == "tiny-random", after
        assert failures == []
        assert len(served) > before + 8
        assert any(res is not None and res.items for res in served)  # real completions
        # still serving after the rejected swap
        res = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=doc.as_uri()),
            position=types.Position(line=1, character=4),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
        assert res is not None
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        server = getattr(client, "_server", None)
        if server is not None and server.returncode is None:
            server.terminate()  # a failed assertion left it running
        await client.stop()
    log = (tmp_path / "server.log").read_text()
    assert "rejected, old model keeps serving" in log
    assert json.loads((r / "CURRENT").read_text())["version"] == "v3"


def test_server_reads_the_registry_and_survives_a_bad_pointer(tmp_path, tiny_model_dir,
                                                             caplog):
    from codeward.server import models

    r = tmp_path / "reg"
    reg.add_version(r, tiny_model_dir)
    reg.promote(r, "v1")
    assert models.resolve_model_dir("", str(r)) == r / "versions" / "v1" / "model"
    (r / "CURRENT").write_text(json.dumps({"version": "../elsewhere"}))
    assert models.resolve_model_dir("", str(r)) == models.default_model_dir()
    assert "unreadable" in caplog.text


def test_registry_starts_from_the_shipped_model(tmp_path):
    from codeward.server.models import default_model_dir

    r = tmp_path / "reg"
    assert reg.ensure_base(str(r)) == "v1" and reg.current_version(str(r)) == "v1"
    info = reg.load_version(str(r), "v1")
    assert info.note == "shipped base model" and info.manifest["name"] == "codeward-base"
    model = reg.verify_version(str(r), "v1")  # manifest and recorded checksums hold
    assert not (model / "hf").exists()  # the checkpoint is kept once, next to the model
    assert (r / "versions" / "v1" / "hf" / "model.safetensors").is_file()
    assert read_manifest(model).files == read_manifest(default_model_dir()).files
    assert reg.ensure_base(str(r)) == "v1" and len(reg.list_versions(str(r))) == 1


def test_a_damaged_shipped_checkpoint_is_refused(tmp_path, monkeypatch):
    import shutil

    from codeward.server.models import default_model_dir

    shipped = tmp_path / "shipped"
    shutil.copytree(default_model_dir(), shipped)
    (shipped / "hf" / "config.json").write_text("{}")
    monkeypatch.setattr(reg, "default_model_dir", lambda: shipped)
    with pytest.raises(reg.RegistryError, match="shipped model is damaged"):
        reg.ensure_base(str(tmp_path / "reg"))
    assert reg.current_version(str(tmp_path / "reg")) is None
