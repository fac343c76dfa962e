"""``codeward model convert``: a Hugging Face causal-LM checkpoint -> CTranslate2 + manifest.

Checks before converting (architecture supported, vocabulary fits ``vocab_size``) so that a
user gets a clear message instead of a converter traceback.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from codeward.server.fim import FAMILIES, detect_family, get_family
from codeward.server.manifest import MANIFEST_NAME, Manifest, sha256_file

logger = logging.getLogger(__name__)

UNSUPPORTED = {
    "starcoder2": "CTranslate2 has no Starcoder2 converter",
    "mixtral": "mixture-of-experts models are not supported by CTranslate2",
    "qwen2_moe": "mixture-of-experts models are not supported by CTranslate2",
    "qwen3_moe": "mixture-of-experts models are not supported by CTranslate2",
    "deepseek_v2": "mixture-of-experts models are not supported by CTranslate2",
    "deepseek_v3": "mixture-of-experts models are not supported by CTranslate2",
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "generation_config.json")


class ConversionError(Exception):
    pass


def supported_model_types() -> list[str]:
    """model_type values CTranslate2's Transformers converter handles (from its registry)."""
    from ctranslate2.converters import transformers as ct2t

    names = set()
    for config_name in getattr(ct2t, "_MODEL_LOADERS", {}):
        name = config_name.removesuffix("Config").lower()
        names.add(name)
    return sorted(names)


TRAINING_LOGS = ("train.json", "training.json")
"""Written next to a checkpoint by train-base / finetune train; not part of the weights."""


def checkpoint_checksum(hf_dir: Path) -> str:
    """sha256 over a checkpoint's files (names and contents), training logs excluded: the
    manifest's ``source_sha256``, which ties a served model to the checkpoint it came from."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in hf_dir.iterdir() if p.is_file() and
                       p.name not in TRAINING_LOGS):
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def check_checkpoint(hf_dir: Path) -> tuple[dict, list[str]]:
    """Read config.json and the tokenizer; raise ConversionError with a fix if they cannot
    be converted. Returns the config and the tokenizer's tokens."""
    config_path = hf_dir / "config.json"
    if not config_path.is_file():
        raise ConversionError(f"{hf_dir}: no config.json; expected a Hugging Face checkpoint")
    config = json.loads(config_path.read_text("utf-8"))
    model_type = str(config.get("model_type", ""))
    if model_type in UNSUPPORTED:
        raise ConversionError(
            f"model_type {model_type!r} cannot be converted: {UNSUPPORTED[model_type]}. "
            f"Supported model types include: {', '.join(_nice_supported())}"
        )
    if config.get("num_local_experts") or config.get("num_experts"):
        raise ConversionError(
            f"{model_type!r} is a mixture-of-experts model, which CTranslate2 does not "
            f"support. Supported model types include: {', '.join(_nice_supported())}")
    tok_path = hf_dir / "tokenizer.json"
    if not tok_path.is_file():
        raise ConversionError(
            f"{hf_dir}: no tokenizer.json (a fast tokenizer is needed for serving); save the "
            "tokenizer with transformers' save_pretrained first")
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_path))
    vocab = tok.get_vocab(with_added_tokens=True)
    vocab_size = int(config.get("vocab_size") or 0)
    if vocab_size and max(vocab.values()) >= vocab_size:
        raise ConversionError(
            f"the tokenizer has token ids up to {max(vocab.values())} but config.json says "
            f"vocab_size={vocab_size}: the embedding matrix has no row for them. Resize the "
            "model's embeddings (model.resize_token_embeddings) or fix the tokenizer")
    return config, sorted(vocab, key=vocab.__getitem__)


def _nice_supported() -> list[str]:
    preferred = ["llama", "qwen2", "mistral", "gemma", "gpt_bigcode", "codegen", "gpt2",
                 "gptneox", "phi", "phi3", "falcon", "mpt"]
    names = set(supported_model_types())
    return [n for n in preferred if n.replace("_", "") in {x.replace("_", "") for x in names}] \
        or preferred


def convert(hf_dir: Path, out_dir: Path, *, quantization: str = "int8", family: str | None = None,
            name: str | None = None, version: str | None = None, force: bool = False,
            progress: Callable[[str], None] | None = None, extra: dict | None = None) -> Manifest:
    """Convert ``hf_dir`` into ``out_dir`` (written atomically: a temporary folder is renamed
    into place when everything succeeded)."""
    say = progress or (lambda msg: logger.info("%s", msg))
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ConversionError(f"{out_dir} exists and is not empty; pass --force to replace it")
    t0 = time.perf_counter()
    say(f"[1/4] checking {hf_dir}")
    config, tokens = check_checkpoint(hf_dir)
    model_type = str(config.get("model_type", ""))
    fam = family or detect_family(model_type, set(tokens))
    if fam is None:
        raise ConversionError(
            "cannot tell the model's fill-in-the-middle format from its tokenizer; pass "
            f"--family (one of: {', '.join(sorted(FAMILIES))})")
    fim = get_family(fam)

    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir.parent))
    try:
        say(f"[2/4] converting {model_type} ({fam} FIM) with CTranslate2 {ctranslate2.__version__}"
            f", quantization {quantization}")
        copy = [f for f in TOKENIZER_FILES if (hf_dir / f).is_file()]
        try:
            TransformersConverter(str(hf_dir), copy_files=copy, low_cpu_mem_usage=True).convert(
                str(tmp / "model"), quantization=quantization, force=True)
        except ValueError as exc:
            raise ConversionError(f"CTranslate2 could not convert {hf_dir}: {exc}. Supported "
                                  f"model types include: {', '.join(_nice_supported())}") from exc
        staged = tmp / "model"
        say("[3/4] writing manifest and checksums")
        files = {p.name: sha256_file(p) for p in sorted(staged.iterdir())
                 if p.is_file() and p.name in ("model.bin", "tokenizer.json",
                                               "vocabulary.json", "config.json")}
        manifest = Manifest(
            family=fam, name=name or hf_dir.name, version=version or "1",
            model_type=model_type, vocab_size=int(config.get("vocab_size") or len(tokens)),
            context_length=int(config.get("max_position_embeddings") or config.get("n_positions")
                               or config.get("seq_length") or 0),
            quantization=quantization, stop_tokens=[t for t in fim.stop_tokens if t in tokens],
            fim_template=fim.template, source=str(hf_dir.resolve()),
            source_sha256=checkpoint_checksum(hf_dir), files=files,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            converter=f"ctranslate2 {ctranslate2.__version__}", extra=extra or {},
        )
        (staged / MANIFEST_NAME).write_text(manifest.to_json(), "utf-8")
        say(f"[4/4] moving into {out_dir}")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staged.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"done in {time.perf_counter() - t0:.1f} s: {out_dir}")
    return manifest
