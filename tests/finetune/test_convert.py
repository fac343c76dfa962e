"""``codeward model convert``: checks before converting, manifest, and fidelity."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codeward.finetune.convert import ConversionError, check_checkpoint, convert
from codeward.server.engine import Engine, GenerationRequest
from codeward.server.manifest import ModelError, read_manifest, verify_files
from codeward.server.settings import EngineSettings


def _copy_with_config(src: Path, dst: Path, **changes: object) -> Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(changes)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize("model_type", ["starcoder2", "mixtral", "qwen2_moe"])
def test_unsupported_architectures_named(tiny_hf_dir: Path, tmp_path: Path,
                                         model_type: str) -> None:
    hf = _copy_with_config(tiny_hf_dir, tmp_path / "hf", model_type=model_type)
    with pytest.raises(ConversionError) as err:
        check_checkpoint(hf)
    assert model_type in str(err.value) and "llama" in str(err.value)


def test_vocab_larger_than_embedding(tiny_hf_dir: Path, tmp_path: Path) -> None:
    hf = _copy_with_config(tiny_hf_dir, tmp_path / "hf", vocab_size=100)
    with pytest.raises(ConversionError, match="vocab_size=100"):
        check_checkpoint(hf)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="config.json"):
        check_checkpoint(tmp_path)


def test_cli_reports_clear_error(tiny_hf_dir: Path, tmp_path: Path) -> None:
    hf = _copy_with_config(tiny_hf_dir, tmp_path / "hf", model_type="starcoder2")
    proc = subprocess.run([sys.executable, "-m", "codeward.server.cli", "model", "convert",
                           str(hf), str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Starcoder2" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_refuses_to_overwrite(tiny_hf_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ConversionError, match="--force"):
        convert(tiny_hf_dir, out)
    assert (out / "keep.txt").exists()


def test_manifest_and_checksums(tiny_model_dir: Path, tmp_path: Path) -> None:
    manifest = read_manifest(tiny_model_dir)
    assert manifest.family == "codeward"
    assert manifest.quantization == "int8"
    assert "<|endoftext|>" in manifest.stop_tokens
    assert set(manifest.files) >= {"model.bin", "tokenizer.json"}
    assert len(manifest.source_sha256) == 64
    verify_files(tiny_model_dir, manifest)
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    with (bad / "model.bin").open("r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelError, match="checksum"):
        Engine(bad, EngineSettings())
    (bad / "model.bin").unlink()
    with pytest.raises(ModelError, match="missing"):
        Engine(bad, EngineSettings())


def test_info_command(tiny_model_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "codeward.server.cli", "model", "info",
                           str(tiny_model_dir)], capture_output=True, text=True, check=True)
    info = json.loads(proc.stdout)
    assert info["family"] == "codeward" and info["size_bytes"] > 0


def test_greedy_output_matches_transformers(tiny_hf_dir: Path, tmp_path: Path) -> None:
    """float32 conversion: CTranslate2's greedy tokens equal transformers' generate."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    out = tmp_path / "f32"
    convert(tiny_hf_dir, out, quantization="float32")
    engine = Engine(out, EngineSettings(compute_type="float32"))
    prompt = "<fim_prefix>def add(a, b):\n    <fim_suffix>\n<fim_middle>"
    res = engine.generate(GenerationRequest(prompt=prompt, max_new_tokens=12))
    engine.close()
    tok = AutoTokenizer.from_pretrained(str(tiny_hf_dir))
    model = LlamaForCausalLM.from_pretrained(str(tiny_hf_dir)).eval()
    ids = tok(prompt, return_tensors="pt", add_special_tokens=True).input_ids
    with torch.no_grad():
        gen = model.generate(ids, max_new_tokens=12, do_sample=False,
                             eos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"))
    expected = tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True)
    assert res.texts[0] == expected
    assert "return a + b" in expected
    # The confidence gate's input: each generated token's log-probability, as transformers
    # computes it (log-softmax of the logits at that step).
    with torch.no_grad():
        logits = model(gen).logits[0, ids.shape[1] - 1:-1]
    want = torch.log_softmax(logits.float(), -1).gather(1, gen[0, ids.shape[1]:, None])[:, 0]
    assert len(res.logprobs[0]) == len(want) > 0
    assert max(abs(a - b) for a, b in zip(res.logprobs[0], want.tolist(), strict=True)) < 1e-3
