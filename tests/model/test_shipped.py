"""The model shipped in the package (server/default_model): loads, is small, completes."""

from __future__ import annotations

import ast
import json
import threading

import pytest

from codeward.server import models

SHIPPED = models.DEFAULT_MODEL_DIR

pytestmark = pytest.mark.skipif(models.default_model_dir() is None,
                                reason="no default model shipped in server/default_model")


def _complete(text: str, offset: int | None = None) -> str:
    from codeward.finetune.evaluate import PassThrough
    from codeward.server.completion import CompletionRequest, run_completion
    from codeward.server.engine import Engine
    from codeward.server.settings import Settings

    settings = Settings()
    # the model's own text: the default gate withholds most of it (the shipped model's mean
    # token log-probability is rarely above index.model_min_logprob = -0.25)
    settings.index.policy = "ungated"
    engine = Engine(models.resolve_model_dir(""), settings.engine)
    assert engine.model_dir == SHIPPED or engine.manifest.name == "codeward-base"
    req = CompletionRequest(uri="file:///point.py", path="", language="python", version=0,
                            text=text, offset=len(text) if offset is None else offset,
                            settings=settings)
    result = run_completion(engine, PassThrough(), req, threading.Event(), "t")
    return result.candidates[0].text if result.candidates else ""


def test_shipped_model_manifest_size_and_card():
    from codeward.server.manifest import read_manifest, verify_files

    manifest = read_manifest(SHIPPED)
    verify_files(SHIPPED, manifest)
    assert manifest.family == "codeward" and manifest.name == "codeward-base"
    assert manifest.quantization == "int8" and manifest.version
    total = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert total <= 26 * 1024 * 1024, f"default model is {total / 1e6:.1f} MB"
    card = (SHIPPED / "MODEL.md").read_text("utf-8")
    for needed in ("Tokens seen", "Hardware", "license", "exact match", "random"):
        assert needed in card, needed
    hf = SHIPPED / "hf"
    assert json.loads((hf / "config.json").read_text())["model_type"] == "llama"
    assert (hf / "model.safetensors").is_file() and (hf / "tokenizer.json").is_file()


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"], ids=["no-newline", "lf", "crlf"])
def test_shipped_model_completes_init_with_plausible_python(ending: str):
    """The first README demo, saved as editors save it (a final newline, LF or CRLF)."""
    prefix = "class Point:\n    def __init__(self"
    text = _complete(prefix.replace("\n", ending or "\n") + ending,
                     len(prefix.replace("\n", ending or "\n")))
    text = text.replace("\r\n", "\n")
    assert text.strip(), "the shipped model gave no completion"
    line = text.split("\n", 1)[0]
    # the signature the model wrote, closed with a body, must parse as Python
    candidates = [prefix + line + "\n        pass\n", prefix + line + ":\n        pass\n",
                  prefix + line + "):\n        pass\n"]
    errors = []
    for code in candidates:
        try:
            ast.parse(code)
            return
        except SyntaxError as exc:
            errors.append(str(exc))
    pytest.fail(f"completion {line!r} does not make a function signature: {errors}")


def test_shipped_hf_checkpoint_loads_for_fine_tuning():
    pytest.importorskip("torch")
    from transformers import AutoTokenizer, LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(str(SHIPPED / "hf"))
    tok = AutoTokenizer.from_pretrained(str(SHIPPED / "hf"))
    assert model.config.vocab_size == len(tok)
    assert tok.convert_tokens_to_ids("<fim_middle>") == 2
