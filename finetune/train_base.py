"""``codeward model train-base``: pretrain Codeward's small default code model.

Recipe: a byte-level BPE tokenizer with the FIM special tokens (:mod:`.tiny`), a small
Llama causal LM, trained on the local permissive corpus (:mod:`.corpus`) with the
fill-in-the-middle objective on ``fim_rate`` of the samples (PSM and SPM forms, half each).
Runs on CUDA (bf16 autocast) when available, else CPU (fp32). Every batch is a pure
function of (seed, step), so a resumed run sees exactly the batches it would have seen.

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
from .tiny import EOS, llama_config, save_tokenizer, train_tokenizer

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    out_dir: str
    corpus_dirs: list[str] = field(default_factory=list)
    """Empty: the standard library + permissively licensed installed packages."""
    include_packages: bool = True
    heldout_share: float = 0.02
    source_cap_mb: float = 12.0
    """A source's sampling weight is capped at this many MB (keeps huge packages from
    drowning the standard library)."""
    vocab_size: int = 8192
    tokenizer_mb: float = 24.0
    hidden: int = 256
    layers: int = 4
    heads: int = 8
    kv_heads: int = 4
    intermediate: int = 0
    """0 = about 2.75 x hidden (rounded to 64)."""
    context: int = 768
    batch_size: int = 8
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    fim_rate: float = 0.5
    spm_rate: float = 0.5
    max_steps: int = 0
    max_tokens: int = 0
    time_budget_s: float = 0.0
    """Stop (and finish: save, convert) after this much training time. 0 = no limit."""
    checkpoint_every_s: float = 300.0
    eval_batches: int = 4
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    threads: int = 1
    resume: bool = False
    convert: bool = True
    prompt_order: str = "spm"
    """FIM order the server prompts the model in (written to the manifest's fim_template):
    ``spm`` (suffix first: the middle continues the prefix directly, which a small model
    learns far sooner) or ``psm`` (the family's default order)."""
    name: str = "codeward-base"
    version: str = "1"

    def validate(self) -> None:
        errors = []
        if not 0 <= self.fim_rate <= 1 or not 0 <= self.spm_rate <= 1:
            errors.append("fim_rate and spm_rate must be within 0..1")
        if not 0 < self.heldout_share < 0.5:
            errors.append("heldout_share must be within (0, 0.5)")
        if self.hidden % self.heads or self.heads % self.kv_heads:
            errors.append("hidden must divide by heads, heads by kv_heads")
        if self.vocab_size < 300:
            errors.append("vocab_size must be at least 300 (256 bytes + special tokens)")
        if self.context < 32 or self.batch_size < 1:
            errors.append("context must be >= 32 and batch_size >= 1")
        if self.prompt_order not in ("spm", "psm"):
            errors.append("prompt_order must be spm or psm")
        if self.device not in ("auto", "cpu", "cuda"):
            errors.append("device must be auto, cpu or cuda")
        if not (self.max_steps or self.max_tokens or self.time_budget_s):
            errors.append("give a budget: max_steps, max_tokens or time_budget_s")
        if errors:
            raise ValueError("; ".join(errors))


class Sampler:
    """Draws training text windows: a source (weight = min(bytes, cap)), a file in it
    (weight = bytes), a window starting at a line start."""

    def __init__(self, items: list[tuple[str, Path]], cap_bytes: float) -> None:
        by_source: dict[str, list[tuple[Path, int]]] = {}
        for key, path in items:
            try:
                size = path.stat().st_size
            except OSError:
                continue
            by_source.setdefault(key.split("/", 1)[0], []).append((path, size))
        self.sources = sorted(by_source)
        self.files = [by_source[s] for s in self.sources]
        self.source_weights = [min(sum(sz for _, sz in f), cap_bytes) for f in self.files]
        self.file_weights = [[sz for _, sz in f] for f in self.files]
        self._cache: dict[Path, str] = {}

    def text(self, path: Path) -> str:
        if path not in self._cache:
            if len(self._cache) > 4000:
                self._cache.clear()
            self._cache[path] = corpus_mod.read_text(path) or ""
        return self._cache[path]

    def window(self, rng: random.Random, chars: int) -> tuple[str, bool]:
        """(text, reaches_end_of_file)."""
        for _ in range(20):
            s = rng.choices(range(len(self.files)), self.source_weights)[0]
            path, _ = rng.choices(self.files[s], self.file_weights[s])[0]
            text = self.text(path)
            if len(text) < 40:
                continue
            start = 0
            if len(text) > chars:
                start = rng.randrange(0, len(text) - chars // 2)
                start = text.rfind("\n", 0, start) + 1
            piece = text[start:start + chars]
            return piece, start + chars >= len(text)
        return "", True


def fim_split(text: str, rng: random.Random) -> tuple[str, str, str]:
    """Prefix, middle, suffix at character positions. Half the middles end at a line end
    (what an editor's single/multi-line completion looks like), half are random spans."""
    start = rng.randrange(0, len(text) + 1)
    if rng.random() < 0.5:
        end = start
        for _ in range(min(int(rng.expovariate(0.7)), 12) + 1):
            nl = text.find("\n", end)
            end = len(text) if nl < 0 else nl + 1
            if rng.random() < 0.5:
                break
    else:
        end = rng.randrange(start, min(len(text), start + max(1, len(text) // 3)) + 1)
    return text[:start], text[start:end], text[end:]


def fim_ids(tok: Any, pre: str, mid: str, suf: str, spm: bool, room: int) -> list[int]:
    """One FIM sample as token ids, trimmed to ``room`` tokens at its outer edges (start of
    the prefix, end of the suffix, end of the middle) so that the middle is never lost to
    packing. Special tokens split the text, so encoding the parts separately gives the same
    tokens as encoding the whole sample (prefix + middle are one part in SPM form)."""
    ids = {n: tok.token_to_id(t) for n, t in (("pre", "<fim_prefix>"), ("suf", "<fim_suffix>"),
                                              ("mid", "<fim_middle>"), ("eos", EOS))}
    body = room - 4
    s = tok.encode(suf).ids
    if spm:
        pm = tok.encode(pre + mid).ids
        s = s[: max(body // 4, body - len(pm))]
        pm = pm[max(0, len(pm) - (body - len(s))):]
        return [ids["pre"], ids["suf"], *s, ids["mid"], *pm, ids["eos"]]
    m = tok.encode(mid).ids[: max(1, body // 3)]
    p = tok.encode(pre).ids
    s = s[: max(body // 4, body - len(m) - len(p))]
    p = p[max(0, len(p) - (body - len(m) - len(s))):]
    return [ids["pre"], *p, ids["suf"], *s, ids["mid"], *m, ids["eos"]]


def make_batch(sampler: Sampler, tok: Any, cfg: TrainConfig, step: int,
               salt: int = 0) -> list[list[int]]:
    """Rows of exactly ``cfg.context`` token ids, packed from samples; a pure function of
    (seed, step, salt). A FIM sample is sized to the room left in its row (never cut off
    before its middle); plain text fills the rest."""
    rng = random.Random(cfg.seed * 1_000_003 + step * 7919 + salt)  # noqa: S311 - data order
    eos = tok.token_to_id(EOS)
    rows = []
    for _ in range(cfg.batch_size):
        row: list[int] = []
        while len(row) < cfg.context:
            room = cfg.context - len(row)
            if room >= 48 and rng.random() < cfg.fim_rate:
                size = rng.randint(min(room, 96), room)
                text, _ = sampler.window(rng, int(size * 3.2))
                pre, mid, suf = fim_split(text, rng)
                row.extend(fim_ids(tok, pre, mid, suf, rng.random() < cfg.spm_rate, size))
            else:
                text, at_end = sampler.window(rng, int(cfg.context * 3.2))
                row.extend(tok.encode(text).ids + ([eos] if at_end else []))
        rows.append(row[: cfg.context])
    return rows


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


def _lr(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


def _progress(cfg: TrainConfig, step: int, tokens: int, elapsed: float) -> float:
    parts = []
    if cfg.max_steps:
        parts.append(step / cfg.max_steps)
    if cfg.max_tokens:
        parts.append(tokens / cfg.max_tokens)
    if cfg.time_budget_s:
        parts.append(elapsed / cfg.time_budget_s)
    return max(parts)


def _say(msg: str, tty: bool) -> None:
    sys.stderr.write(("\r" + msg.ljust(110)) if tty else msg + "\n")
    sys.stderr.flush()


def prepare(cfg: TrainConfig) -> tuple[corpus_mod.Corpus, list, list, Path]:
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


def train(cfg: TrainConfig) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer
    from transformers import LlamaForCausalLM

    cfg.validate()
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

    def evaluate() -> float:
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
            val = evaluate()
            state.setdefault("val", []).append([state["step"], state["tokens"], round(val, 4)])
            _say(f"checkpoint at step {state['step']}: held-out loss {val:.3f}", False)
            save_checkpoint()
            last_ckpt = time.perf_counter()
    if tty:
        sys.stderr.write("\n")
    val = evaluate()
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
