"""What a remote engine loads: a version's merged checkpoint and its LoRA adapter. The adapter
of a version two cycles from the server's base is the join of both cycles' adapters, and
applied to the base it must give the same logits as the merged checkpoint."""

from __future__ import annotations

import json

import pytest

from codeward.finetune import registry as reg
from codeward.finetune.export import EXPORT_MANIFEST, ExportError, combine_adapters, export, lineage
from codeward.server.cli import main

PROBE = "def add(a, b):\n    return"


def _logits(model, tokenizer):  # type: ignore[no-untyped-def]
    import torch

    with torch.no_grad():
        return model(**tokenizer(PROBE, return_tensors="pt")).logits


def test_lineage(chain):
    assert lineage(chain, "v3", "v1") == ["v2", "v3"]
    assert lineage(chain, "v3", "v2") == ["v3"]
    assert lineage(chain, "v2", "v2") == []
    with pytest.raises(ExportError, match="not an ancestor"):
        lineage(chain, "v2", "v3")


def test_joined_adapter_on_the_base_equals_the_merged_checkpoint(chain, tmp_path, tiny_hf_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "export"
    data = export(chain, "v3", out, against="v1")
    assert data["adapter"]["lineage"] == ["v2", "v3"] and data["adapter"]["rank"] == 6
    written = json.loads((out / EXPORT_MANIFEST).read_text())
    assert written["manifest"]["family"] and written["files"]["adapter"]
    assert set(written["files"]["merged"]) >= {"config.json", "tokenizer.json"}
    tok = AutoTokenizer.from_pretrained(str(out / "merged"))
    merged = AutoModelForCausalLM.from_pretrained(str(out / "merged"), dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_hf_dir), dtype=torch.float32)
    plain = _logits(base, tok)
    adapted = PeftModel.from_pretrained(base, str(out / "adapter"))
    want = _logits(merged, tok)
    assert not torch.allclose(plain, want, atol=1e-3)  # the cycles did change the model
    assert torch.allclose(_logits(adapted, tok), want, atol=1e-4)


def test_export_refusals(chain, tmp_path):
    with pytest.raises(ExportError, match="base version: it has no adapter"):
        export(chain, "v1", tmp_path / "a")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ExportError, match="not empty"):
        export(chain, "v2", tmp_path / "full")
    adapter = reg.version_dir(chain, "v2") / "adapter" / "adapter_model.safetensors"
    saved = adapter.read_bytes()
    try:
        adapter.write_bytes(saved[:-8] + b"\0" * 8)
        with pytest.raises(ExportError, match="v2: its adapter is corrupt"):
            export(chain, "v3", tmp_path / "b", against="v1")
    finally:
        adapter.write_bytes(saved)
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b-*"))


def test_join_refuses_mismatched_modules(chain, tmp_path):
    import numpy as np
    from safetensors.numpy import load_file, save_file

    other = tmp_path / "other"
    other.mkdir()
    src = reg.version_dir(chain, "v2") / "adapter"
    (other / "adapter_config.json").write_text((src / "adapter_config.json").read_text())
    tensors = load_file(str(src / "adapter_model.safetensors"))
    tensors.pop(sorted(tensors)[0])
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
              str(other / "adapter_model.safetensors"))
    with pytest.raises(ExportError, match="other modules"):
        combine_adapters([src, other], tmp_path / "out")


def test_cli_export_adapter_only(chain, tmp_path, capsys):
    assert main(["model", "export", "v2", "--to", str(tmp_path / "e"), "--adapter-only",
                 "--registry", str(chain)]) == 0
    assert json.loads(capsys.readouterr().out)["adapter"]["against"] == "v1"
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["adapter", EXPORT_MANIFEST]
    assert main(["model", "export", "v9", "--to", str(tmp_path / "f"),
                 "--registry", str(chain)]) == 2


def test_training_keeps_the_adapter_it_merged(trained_models, tiny_hf_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, hf, _ = trained_models["better"]
    tok = AutoTokenizer.from_pretrained(str(hf))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_hf_dir), dtype=torch.float32)
    merged = AutoModelForCausalLM.from_pretrained(str(hf), dtype=torch.float32)
    adapted = PeftModel.from_pretrained(base, str(hf.parent / "adapter"))
    assert torch.allclose(_logits(adapted, tok), _logits(merged, tok), atol=1e-4)
