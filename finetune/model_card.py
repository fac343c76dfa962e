"""The model card (``MODEL.md``) of a model trained by ``codeward model train-base``, and
shipping it as the package's default model.

Everything in the card comes from the training report (``train.json``) and the evaluation
reports (``codeward eval --json``), so the card cannot drift from what was measured.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from .evaluate import format_table

HF_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json", "train.json")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def render(train: dict[str, Any], evals: list[tuple[str, dict[str, Any]]],
           hardware: str, notes: str = "") -> str:
    cfg = train["config"]
    corpus = train["corpus"]
    mb = sum(s["bytes"] for s in corpus["sources"]) / 1e6
    out = [f"# {train['name']} {train['version']} — Codeward's default code model", ""]
    if notes:
        out += [notes.strip(), ""]
    out += [
        "## Model", "",
        f"- Architecture: Llama causal LM (`LlamaForCausalLM`), {train['parameters'] / 1e6:.2f}M "
        f"parameters, hidden size {cfg['hidden']}, {cfg['layers']} layers, {cfg['heads']} "
        f"attention heads ({cfg['kv_heads']} key/value heads), MLP {train['intermediate']}, "
        f"tied input/output embeddings, RoPE, trained context {cfg['context']} tokens.",
        f"- Tokenizer: byte-level BPE, {train['vocab_size']} tokens, trained on "
        f"{cfg['tokenizer_mb']:.0f} MB of the training split; special tokens `<|endoftext|>`, "
        "`<fim_prefix>`, `<fim_middle>`, `<fim_suffix>`, `<fim_pad>`, `<file_sep>`, "
        "`<|codeward|>` (ids 0-6).",
        "- Objective: next-token prediction; "
        f"{cfg['fim_rate']:.0%} of the samples are fill-in-the-middle, of which "
        f"{cfg['spm_rate']:.0%} in suffix-prefix-middle and the rest in prefix-suffix-middle "
        "form (split at character positions; half of the middles end at a line end).",
        "- Served as CTranslate2 int8 (`model.bin`, FIM family `codeward`); the Hugging Face "
        "checkpoint it was converted from is in `hf/` (for fine-tuning).", "",
        "## Training", "",
        f"- Tokens seen: {train['tokens']:,} ({train['steps']:,} steps of "
        f"{cfg['batch_size']} x {cfg['context']} tokens), "
        f"{train['tokens'] / max(1, mb * 1e6 / 3.5):.2f} passes over the corpus (estimated).",
        f"- Hardware: {hardware}; device `{train['device']}`, {train['torch_threads']} torch "
        f"thread(s); {train['train_seconds'] / 60:.1f} min of training, "
        f"{train['tokens_per_second']:,.0f} tokens/s.",
        f"- Optimizer: AdamW (betas 0.9/0.95, weight decay {cfg['weight_decay']}), peak "
        f"learning rate {cfg['lr']}, {cfg['warmup_steps']} warm-up steps, cosine decay to "
        f"{cfg['min_lr_ratio']:.0%}; gradient clipping 1.0; seed {cfg['seed']}.",
        f"- Loss: {train['first_loss']:.3f} at the first step, {train['final_train_loss']:.3f} "
        f"(training, smoothed) and {train['heldout_loss']:.3f} (held-out files) at the end.",
        "", "## Corpus and licenses", "",
        f"{len(corpus['sources'])} sources, {mb:.1f} MB of Python, "
        f"{sum(s['files'] for s in corpus['sources']):,} files; "
        f"{len(train['heldout_files'])} files ({cfg['heldout_share']:.0%} by a hash of "
        "`source/path`) were held out and never trained on (they are listed in "
        "`hf/train.json`). A source is included only when its package metadata "
        "(`License-Expression`, `License` or `License ::` classifiers) is a permissive "
        "license; copyleft and unknown licenses are excluded. Sampling weight per source is "
        f"capped at {cfg['source_cap_mb']:.0f} MB.", "",
        "| source | version | license | files | MB |", "|---|---|---|---:|---:|",
    ]
    for s in sorted(corpus["sources"], key=lambda s: -s["bytes"]):
        lic = s["license"].replace("|", "/")
        out.append(f"| {s['name']} | {s['version']} | {lic} | {s['files']} | "
                   f"{s['bytes'] / 1e6:.2f} |")
    if corpus["excluded"]:
        out += ["", "Excluded:", "", "| package | license | reason |", "|---|---|---|"]
        for e in corpus["excluded"]:
            out.append(f"| {e['name']} | {e['license'].replace('|', '/')} | {e['reason']} |")
    out += ["", "## Evaluation", "",
            "`codeward eval` on held-out files: seeded cursor positions at the end of a line "
            "being typed (right after its indentation = `new-line`, or inside it = "
            "`mid-line`), the server's real prompt and post-processing, greedy decoding, "
            "vetting off. Latency is the whole `run_completion` call on the machine named "
            "above, one intra-op thread, while other jobs shared its cores.", ""]
    for title, report in evals:
        out += [f"### {title}", "", format_table(report), ""]
    out += ["## Reproduce", "", "```sh",
            "codeward model train-base --out OUT " + " ".join(
                f"--{k.replace('_', '-')} {cfg[k]}" for k in (
                    "vocab_size", "hidden", "layers", "heads", "kv_heads", "context",
                    "batch_size", "lr", "warmup_steps", "seed", "threads"))
            + "".join(f" --{flag} {value:g}" for flag, value in (
                ("time-budget", cfg["time_budget_s"] / 60), ("max-tokens", cfg["max_tokens"]),
                ("max-steps", cfg["max_steps"])) if value),
            "codeward eval --model OUT/ct2 --json eval.json", "```", ""]
    return "\n".join(out)


def ship(run_dir: Path, dest: Path, evals: list[tuple[str, dict[str, Any]]],
         notes: str = "", include_hf: bool = True) -> Path:
    """Copy OUT/ct2 (+ OUT/hf) into ``dest`` and write ``dest/MODEL.md``."""
    run_dir, dest = Path(run_dir), Path(dest)
    train = json.loads((run_dir / "train.json").read_text("utf-8"))
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(run_dir / "ct2", dest)
    if include_hf:
        (dest / "hf").mkdir()
        for name in HF_FILES:
            src = run_dir / ("train.json" if name == "train.json" else f"hf/{name}")
            if src.is_file():
                shutil.copy2(src, dest / "hf" / name)
    cores = train.get("cpu_count") or os.cpu_count()
    hardware = f"{cpu_name()}, {cores} cores shared with other jobs" \
        if train["device"] == "cpu" else train["device"]
    (dest / "MODEL.md").write_text(render(train, evals, hardware, notes), "utf-8")
    return dest


def main(argv: list[str] | None = None) -> int:
    """``python -m codeward.finetune.model_card RUN_DIR DEST TITLE=EVAL.json ...``"""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("run_dir")
    p.add_argument("dest")
    p.add_argument("evals", nargs="*", metavar="TITLE=EVAL.json")
    p.add_argument("--notes", default="", help="a file whose text opens the card")
    p.add_argument("--no-hf", action="store_true", help="do not ship the HF checkpoint")
    args = p.parse_args(argv)
    evals = []
    for item in args.evals:
        title, _, path = item.partition("=")
        evals.append((title, json.loads(Path(path).read_text("utf-8"))))
    notes = Path(args.notes).read_text("utf-8") if args.notes else ""
    ship(Path(args.run_dir), Path(args.dest), evals, notes, include_hf=not args.no_hf)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
