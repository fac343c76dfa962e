"""Small models built on the spot: the byte-level BPE tokenizer with Codeward's FIM tokens,
and tiny Llama checkpoints for tests and benchmarks (random, or taught a few completions).

Nothing is downloaded: the tokenizer is trained on local text, the model made from a config.
"""

from __future__ import annotations

import random
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
                  "<file_sep>", "<|codeward|>"]
EOS = "<|endoftext|>"


def stdlib_files(limit: int | None = None, seed: int = 0) -> list[Path]:
    """Python files of the standard library (sorted, optionally a seeded sample)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts
                   and "test" not in p.parts and "tests" not in p.parts)
    if limit is not None and limit < len(files):
        rng = random.Random(seed)
        files = sorted(rng.sample(files, limit))
    return files


def read_texts(files: Iterable[Path]) -> Iterator[str]:
    for path in files:
        try:
            yield path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue


def train_tokenizer(texts: Iterable[str], vocab_size: int = 16000):  # type: ignore[no-untyped-def]
    """A byte-level BPE tokenizer with the FIM special tokens (ids 0..6)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok, out_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """Save as a transformers fast tokenizer (tokenizer.json + config)."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=None, pad_token="<fim_pad>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    fast.save_pretrained(str(out_dir))


def fim_text(prefix: str, middle: str, suffix: str, spm: bool = False) -> str:
    """One training sample in prefix-suffix-middle (or suffix-prefix-middle) form."""
    if spm:
        return f"<fim_prefix><fim_suffix>{suffix}<fim_middle>{prefix}{middle}{EOS}"
    return f"<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>{middle}{EOS}"


def llama_config(vocab_size: int, hidden: int = 64, layers: int = 2, heads: int = 4,
                 kv_heads: int = 2, intermediate: int | None = None, context: int = 2048,
                 tie_embeddings: bool = False):  # type: ignore[no-untyped-def]
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate or hidden * 3,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=context, rms_norm_eps=1e-5, tie_word_embeddings=tie_embeddings,
        bos_token_id=0, eos_token_id=0, pad_token_id=4, rope_theta=10000.0,  # type: ignore[call-arg]
    )


def build_tiny_model(out_dir: Path, *, vocab_size: int = 2000, files: int = 40,
                     teach: list[tuple[str, str, str]] | None = None, steps: int = 150,
                     hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """A tiny Llama checkpoint in ``out_dir``. With ``teach`` (prefix, middle, suffix), the
    model is trained until it completes those prompts with those middles."""
    import torch
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    texts = list(read_texts(stdlib_files(files, seed)))
    if teach:
        texts += [p + m + s for p, m, s in teach] * 20
    tok = train_tokenizer(texts, vocab_size)
    save_tokenizer(tok, out_dir)
    fast = PreTrainedTokenizerFast.from_pretrained(str(out_dir))
    config = llama_config(len(fast), hidden=hidden, layers=layers)
    model = LlamaForCausalLM(config)
    if teach:
        samples = [fast(fim_text(p, m, s), return_tensors="pt").input_ids for p, m, s in teach]
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        for step in range(steps):
            ids = samples[step % len(samples)]
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
        model.eval()
    model.save_pretrained(str(out_dir))
    return out_dir
