"""``codeward model train-base``: pretrain Codeward's small default code model.

Recipe: a byte-level BPE tokenizer with the FIM special tokens (:mod:`.tiny`), a small
Llama causal LM, trained on the local permissive corpus (:mod:`.corpus`) with the
fill-in-the-middle objective on ``fim_rate`` of the samples (PSM and SPM forms, half each).
Runs on CUDA (bf16 autocast) when available, else CPU (fp32). The training rows come from
:mod:`.batches`.

Output folder::

    OUT/hf/          Hugging Face checkpoint + tokenizer (kept for fine-tuning)
    OUT/ct2/         CTranslate2 int8 + codeward.json (what the server loads)
    OUT/checkpoint/  periodic training state (model, optimizer, step) for --resume
    OUT/train.json   corpus sources + licenses, held-out files, losses, tokens, time
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import corpus as corpus_mod
from .batches import Sampler, make_batch
from .flags import option
from .tiny import llama_config, save_tokenizer, train_tokenizer

logger = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    out_dir: str = field(metadata={"help": "output folder (hf/, ct2/, checkpoint/, train.json)",
                                   "flag": "--out"})
    corpus_dirs: list[str] = option([], "train on this folder of .py files instead of the "
                                        "default corpus (standard library + permissively "
                                        "licensed installed packages); repeatable",
                                    flag="--corpus", metavar="DIR")
    include_packages: bool = option(True, "default corpus without installed packages",
                                    flag="--stdlib-only")
    heldout_share: float = option(0.02, "share of files held out (never trained on)")
    source_cap_mb: float = option(12.0, "a source's sampling weight is capped at this many MB "
                                        "(keeps huge packages from drowning the stdlib)")
    vocab_size: int = option(8192, "tokenizer vocabulary (256 bytes + special tokens + merges)")
    tokenizer_mb: float = option(24.0, "MB of text the tokenizer is trained on")
    hidden: int = option(256, "model width")
    layers: int = option(4, "transformer layers")
    heads: int = option(8, "attention heads (must divide --hidden)")
    kv_heads: int = option(4, "key/value heads (must divide --heads)")
    intermediate: int = option(0, "MLP width; 0 = about 2.75 x hidden (rounded to 64)")
    context: int = option(768, "tokens per training row (the model's context length)")
    batch_size: int = option(8, "rows per step")
    lr: float = option(2e-3, "peak learning rate (cosine decay after warm-up)")
    min_lr_ratio: float = option(0.1, "final learning rate as a share of --lr")
    warmup_steps: int = option(100, "linear warm-up steps")
    weight_decay: float = option(0.1, "AdamW weight decay of the matrices")
    fim_rate: float = option(0.5, "share of samples in fill-in-the-middle form")
    spm_rate: float = option(0.5, "share of FIM samples in suffix-prefix-middle order")
    max_steps: int = option(0, "stop after this many steps (0 = no limit)")
    max_tokens: int = option(0, "stop after this many tokens, e.g. 2e7 (0 = no limit)")
    time_budget_min: float = option(0.0, "stop (then save and convert) after this many minutes "
                                         "of training (0 = no limit)",
                                    flag="--time-budget", metavar="MINUTES")
    checkpoint_every_s: float = option(300.0, "seconds between checkpoints (for --resume)")
    eval_batches: int = option(4, "held-out batches per loss measurement")
    log_every: int = option(10, "print progress every N steps")
    seed: int = option(0, "seed of data order and initialisation")
    device: str = option("auto", "where to train: CUDA (bf16) when present, else CPU",
                         choices=["auto", "cpu", "cuda"])
    threads: int = option(1, "torch CPU threads (pick free cores)")
    resume: bool = option(False, "continue from OUT/checkpoint")
    convert: bool = option(True, "skip the conversion to CTranslate2 int8 (OUT/ct2)")
    prompt_order: str = option("spm", "FIM order the server prompts the model in (manifest "
                                      "fim_template): spm (suffix first: the middle "
                                      "continues the prefix, learnt far sooner) or psm",
                               choices=["spm", "psm"])
    name: str = option("codeward-base", "model name in the manifest")
    version: str = option("1", "model version in the manifest")

    def __post_init__(self) -> None:
        errors = []
        for name in ("fim_rate", "spm_rate"):
            if not 0 <= getattr(self, name) <= 1:
                errors.append(f"{name}={getattr(self, name)} must be within 0..1")
        if not 0 < self.heldout_share < 0.5:
            errors.append(f"heldout_share={self.heldout_share} must be within (0, 0.5)")
        if self.hidden % self.heads or self.heads % self.kv_heads:
            errors.append(f"hidden={self.hidden}, heads={self.heads}, kv_heads={self.kv_heads}: "
                          "hidden must divide by heads, heads by kv_heads")
        if self.vocab_size < 300:
            errors.append(f"vocab_size={self.vocab_size} must be at least 300 (256 bytes + "
                          "special tokens)")
        if self.context < 32 or self.batch_size < 1:
            errors.append(f"context={self.context}, batch_size={self.batch_size}: context must "
                          "be >= 32 and batch_size >= 1")
        if self.prompt_order not in ("spm", "psm"):
            errors.append(f"prompt_order={self.prompt_order!r}: use spm or psm")
        if self.device not in ("auto", "cpu", "cuda"):
            errors.append(f"device={self.device!r}: use auto, cpu or cuda")
        if not (self.max_steps or self.max_tokens or self.time_budget_min):
            errors.append("no budget: set max_steps, max_tokens or time_budget_min "
                          "(--max-steps, --max-tokens, --time-budget)")
        if errors:
            raise ValueError("PretrainConfig." + "; PretrainConfig.".join(errors))


SPM_TEMPLATE = "{pre}{suf}{suffix}{mid}{prefix}"


def set_prompt_order(model_dir: Path, order: str) -> None:
    """Write the FIM order into a converted model's manifest (the engine honours it)."""
    from codeward.server.fim import get_family
    from codeward.server.manifest import MANIFEST_NAME

    path = Path(model_dir) / MANIFEST_NAME
    data = json.loads(path.read_text("utf-8"))
    data["fim_template"] = SPM_TEMPLATE if order == "spm" else \
        get_family(data["family"]).template
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")


def _lr(cfg: PretrainConfig, step: int, progress: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


def _progress(cfg: PretrainConfig, step: int, tokens: int, elapsed: float) -> float:
    parts = []
    if cfg.max_steps:
        parts.append(step / cfg.max_steps)
    if cfg.max_tokens:
        parts.append(tokens / cfg.max_tokens)
    if cfg.time_budget_min:
        parts.append(elapsed / (cfg.time_budget_min * 60))
    return max(parts)


def _say(msg: str, tty: bool) -> None:
    sys.stderr.write(("\r" + msg.ljust(110)) if tty else msg + "\n")
    sys.stderr.flush()


def prepare(cfg: PretrainConfig) -> tuple[corpus_mod.Corpus, list, list, Path]:
    """Collect the corpus, split it, train + save the tokenizer (reused on resume)."""
    out = Path(cfg.out_dir)
    hf = out / "hf"
    corpus = corpus_mod.corpus_from([Path(d) for d in cfg.corpus_dirs] or None,
                                    cfg.include_packages)
    train, held = corpus.split(cfg.heldout_share)
    if not train:
        raise ValueError("the corpus has no training files")
    if not (hf / "tokenizer.json").is_file():
        rng = random.Random(cfg.seed)  # noqa: S311 - data order
        order = list(train)
        rng.shuffle(order)
        budget, texts = cfg.tokenizer_mb * 1e6, []
        for _, path in order:
            text = corpus_mod.read_text(path)
            if text:
                texts.append(text)
                budget -= len(text)
            if budget <= 0:
                break
        t0 = time.perf_counter()
        tok = train_tokenizer(texts, cfg.vocab_size)
        hf.mkdir(parents=True, exist_ok=True)
        save_tokenizer(tok, hf)
        logger.info("tokenizer: %d tokens trained on %.1f MB in %.1f s", tok.get_vocab_size(),
                    sum(map(len, texts)) / 1e6, time.perf_counter() - t0)
    return corpus, train, held, hf


def train(cfg: PretrainConfig) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer
    from transformers import LlamaForCausalLM

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus, train_items, held_items, hf = prepare(cfg)
    tok = Tokenizer.from_file(str(hf / "tokenizer.json"))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else \
        ("cpu" if cfg.device == "auto" else cfg.device)
    inter = cfg.intermediate or int(round(cfg.hidden * 2.75 / 64) * 64)
    model = LlamaForCausalLM(llama_config(vocab, hidden=cfg.hidden, layers=cfg.layers,
                                          heads=cfg.heads, kv_heads=cfg.kv_heads,
                                          intermediate=inter, context=cfg.context,
                                          tie_embeddings=True)).to(device)  # type: ignore[arg-type]
    params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.95), fused=device == "cuda")
    sampler = Sampler(train_items, cfg.source_cap_mb * 1e6)
    held_sampler = Sampler(held_items or train_items[:1], cfg.source_cap_mb * 1e6)
    ckpt = out / "checkpoint"
    state: dict[str, Any] = {"step": 0, "tokens": 0, "elapsed_s": 0.0, "history": []}
    if cfg.resume and (ckpt / "state.json").is_file():
        model.load_state_dict(torch.load(ckpt / "model.pt", map_location=device))
        opt.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location=device))
        state = json.loads((ckpt / "state.json").read_text("utf-8"))
        logger.info("resumed at step %d (%d tokens)", state["step"], state["tokens"])
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else \
        torch.autocast("cpu", enabled=False)

    def heldout_loss() -> float:
        model.eval()
        losses = []
        with torch.no_grad(), autocast:
            for i in range(cfg.eval_batches):
                ids = torch.tensor(make_batch(held_sampler, tok, cfg, i, salt=99991), device=device)
                losses.append(float(model(input_ids=ids, labels=ids).loss))
        model.train()
        return sum(losses) / max(1, len(losses))

    def save_checkpoint() -> None:
        ckpt.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), ckpt / "model.pt.tmp")
        torch.save(opt.state_dict(), ckpt / "optimizer.pt.tmp")
        (ckpt / "model.pt.tmp").replace(ckpt / "model.pt")
        (ckpt / "optimizer.pt.tmp").replace(ckpt / "optimizer.pt")
        (ckpt / "state.json").write_text(json.dumps(state), "utf-8")

    tty = sys.stderr.isatty()
    ema = None
    model.train()
    start = time.perf_counter() - state["elapsed_s"]
    last_ckpt = time.perf_counter()
    window_t, window_tokens = time.perf_counter(), 0
    logger.info("training %.2fM parameters on %s (%d training files, %d held out)",
                params / 1e6, device, len(train_items), len(held_items))
    while _progress(cfg, state["step"], state["tokens"], state["elapsed_s"]) < 1.0:
        step = state["step"]
        lr = _lr(cfg, step, _progress(cfg, step, state["tokens"], state["elapsed_s"]))
        for group in opt.param_groups:
            group["lr"] = lr
        ids = torch.tensor(make_batch(sampler, tok, cfg, step), device=device)
        with autocast:
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        value = loss.item()
        state.setdefault("first_loss", value)
        ema = value if ema is None else 0.95 * ema + 0.05 * value
        state["step"] += 1
        state["tokens"] += ids.numel()
        window_tokens += ids.numel()
        state["elapsed_s"] = time.perf_counter() - start
        if state["step"] % cfg.log_every == 0:
            now = time.perf_counter()
            rate = window_tokens / max(1e-9, now - window_t)
            window_t, window_tokens = now, 0
            prog = _progress(cfg, state["step"], state["tokens"], state["elapsed_s"])
            eta = state["elapsed_s"] * (1 - prog) / max(prog, 1e-9)
            _say(f"step {state['step']} | {state['tokens'] / 1e6:.2f}M tok | {rate:,.0f} tok/s | "
                 f"loss {ema:.3f} | lr {lr:.2e} | {prog:5.1%} | ETA {eta / 60:.1f} min", tty)
            state["history"].append([state["step"], state["tokens"], round(ema, 4)])
        if time.perf_counter() - last_ckpt >= cfg.checkpoint_every_s:
            val = heldout_loss()
            state.setdefault("val", []).append([state["step"], state["tokens"], round(val, 4)])
            _say(f"checkpoint at step {state['step']}: held-out loss {val:.3f}", False)
            save_checkpoint()
            last_ckpt = time.perf_counter()
    if tty:
        sys.stderr.write("\n")
    val = heldout_loss()
    state.setdefault("val", []).append([state["step"], state["tokens"], round(val, 4)])
    save_checkpoint()
    model.save_pretrained(str(hf))
    report = {
        "name": cfg.name, "version": cfg.version, "config": asdict(cfg), "parameters": params,
        "vocab_size": vocab, "intermediate": inter, "device": device,
        "torch_threads": cfg.threads,
        "cpu_count": os.cpu_count(), "steps": state["step"], "tokens": state["tokens"],
        "train_seconds": round(state["elapsed_s"], 1),
        "tokens_per_second": round(state["tokens"] / max(1e-9, state["elapsed_s"]), 1),
        "first_loss": state.get("first_loss"), "final_train_loss": ema, "heldout_loss": val,
        "loss_history": state["history"], "heldout_history": state.get("val", []),
        "heldout_files": [k for k, _ in held_items], "corpus": corpus.manifest(),
    }
    (out / "train.json").write_text(json.dumps(report, indent=1), "utf-8")
    if cfg.convert:
        from .convert import convert

        summary = {k: report[k] for k in ("parameters", "tokens", "steps", "train_seconds",
                                          "device", "heldout_loss")}
        summary["context_length"] = cfg.context
        convert(hf, out / "ct2", family="codeward", name=cfg.name, version=cfg.version,
                force=True, extra={"training": summary})
        set_prompt_order(out / "ct2", cfg.prompt_order)
        report["ct2_dir"] = str(out / "ct2")
    return report
