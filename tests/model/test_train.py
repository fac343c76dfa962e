from __future__ import annotations

import json
import threading

from codeward.finetune.batches import fim_split
from codeward.finetune.train_base import PretrainConfig, train

TINY = dict(vocab_size=600, tokenizer_mb=1.0, hidden=64, layers=2, heads=4, kv_heads=2,
            context=96, batch_size=4, lr=3e-3, warmup_steps=5, log_every=5, heldout_share=0.1,
            eval_batches=2)


def test_fim_split_covers_the_text():
    import random

    rng = random.Random(0)
    text = "def f(x):\n    y = x + 1\n    return y\n" * 5
    for _ in range(200):
        pre, mid, suf = fim_split(text, rng)
        assert pre + mid + suf == text


def test_seconds_long_training_lowers_loss_converts_and_serves(small_corpus, tmp_path):
    from codeward.analyzers.pipeline import Pipeline
    from codeward.server.completion import CompletionRequest, run_completion
    from codeward.server.engine import Engine
    from codeward.server.manifest import read_manifest
    from codeward.server.settings import Settings

    out = tmp_path / "run"
    report = train(PretrainConfig(out_dir=str(out), corpus_dirs=[str(small_corpus)], max_steps=60,
                               **TINY))
    assert report["final_train_loss"] < report["first_loss"] - 0.5
    assert (out / "checkpoint" / "model.pt").is_file()
    assert (out / "hf" / "config.json").is_file() and (out / "hf" / "tokenizer.json").is_file()
    saved = json.loads((out / "train.json").read_text())
    assert saved["corpus"]["sources"][0]["license"] == "user-supplied"
    assert saved["heldout_files"], "a held-out split must exist"
    manifest = read_manifest(out / "ct2")
    assert manifest.family == "codeward" and manifest.name == "codeward-base"
    assert manifest.extra["training"]["tokens"] == report["tokens"]

    settings = Settings()
    engine = Engine(out / "ct2", settings.engine)
    text = "import os\n\ndef main():\n    "
    req = CompletionRequest(uri="file:///x.py", path="", language="python", version=0,
                            text=text, offset=len(text), settings=settings)
    result = run_completion(engine, Pipeline.from_settings({}, {}), req, threading.Event(), "t")
    assert result.reason != "cancelled" and result.steps > 0


def test_resume_continues_from_the_checkpoint(small_corpus, tmp_path):
    out = tmp_path / "run"
    base = dict(out_dir=str(out), corpus_dirs=[str(small_corpus)], convert=False, **TINY)
    first = train(PretrainConfig(max_steps=10, **base))
    assert first["steps"] == 10
    again = train(PretrainConfig(max_steps=15, resume=True, **base))
    assert again["steps"] == 15 and again["tokens"] == 15 * 4 * 96
    assert again["first_loss"] == first["first_loss"]


def test_fim_samples_fit_their_row_and_match_the_prompt_format(small_corpus):
    import random

    from codeward.finetune.batches import fim_ids
    from codeward.finetune.tiny import fim_text, read_texts, train_tokenizer

    texts = list(read_texts(sorted(small_corpus.glob("*.py"))))
    tok = train_tokenizer(texts, vocab_size=600)
    mid_id = tok.token_to_id("<fim_middle>")
    rng = random.Random(1)
    for i in range(100):
        pre, mid, suf = fim_split(texts[i % len(texts)][:3000], rng)
        spm = i % 2 == 0
        # untrimmed: the same tokens as the whole sample (and the server's prompt) encoded
        assert fim_ids(tok, pre, mid, suf, spm, 10**6) == tok.encode(
            fim_text(pre, mid, suf, spm)).ids
        small = fim_ids(tok, pre, mid, suf, spm, 120)
        assert len(small) <= 120 and mid_id in small
        assert small[-1] == tok.token_to_id("<|endoftext|>")
