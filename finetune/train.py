"""``codeward finetune train``: preference training with TRL (DPO or KTO) and a LoRA adapter,
then merge (``merge_and_unload``) into a plain Hugging Face checkpoint ready to convert.

Runs on CPU or CUDA; for several GPUs::

    accelerate launch -m codeward.finetune.train --hf HF_DIR --dataset DS_DIR --out OUT

No outbound connection: the hub, telemetry and experiment trackers are switched off before
transformers or TRL are imported.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .dataset import read_split

logger = logging.getLogger(__name__)

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_DISABLED": "true",
               "WANDB_MODE": "disabled", "DISABLE_MLFLOW_INTEGRATION": "TRUE",
               "TOKENIZERS_PARALLELISM": "false"}


def offline() -> None:
    """No hub look-ups, no telemetry, no trackers (set before importing transformers)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


@dataclass
class TrainConfig:
    method: str = field(default="auto", metadata={
        "help": "dpo (preference pairs), kto (unpaired, survival-weighted) or auto (dpo when "
                "there are at least --min-pairs pairs, else kto)",
        "choices": ["auto", "dpo", "kto"]})
    min_pairs: int = field(default=16, metadata={"help": "pairs needed for method=auto to pick dpo"})
    epochs: float = field(default=2.0, metadata={"help": "passes over the training rows"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many steps (-1 = epochs)"})
    batch_size: int = field(default=8, metadata={"help": "rows per device per step"})
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    learning_rate: float = field(default=5e-4, metadata={"help": "LoRA learning rate"})
    beta: float = field(default=0.1, metadata={"help": "DPO/KTO beta (strength of the KL anchor)"})
    max_length: int = field(default=512, metadata={"help": "prompt + completion tokens kept"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    target_modules: str = field(default="all-linear", metadata={
        "help": "modules given a LoRA adapter: all-linear or a comma list (q_proj,v_proj)"})
    weight_repeats: int = field(default=2, metadata={
        "help": "KTO survival weights are applied by repeating a row round(weight * this / 2) "
                "times (KTOTrainer has no per-row weight); 0 = ignore weights"})
    device: str = field(default="auto", metadata={"help": "where to train",
                                                  "choices": ["auto", "cpu", "cuda"]})
    seed: int = field(default=0, metadata={"help": "seed for LoRA init and data order"})
    logging_steps: int = field(default=1, metadata={"help": "log the loss every N steps"})

    def __post_init__(self) -> None:
        if self.method not in ("auto", "dpo", "kto"):
            raise ValueError(f"TrainConfig.method={self.method!r}: use dpo, kto or auto")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"TrainConfig.device={self.device!r}: use cpu, cuda or auto")
        for name in ("batch_size", "grad_accum", "lora_r", "lora_alpha", "max_length",
                     "logging_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)}: must be at "
                                 "least 1")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"TrainConfig.learning_rate={self.learning_rate}: must be in "
                             "(0, 1), e.g. 5e-4")
        if self.beta <= 0:
            raise ValueError(f"TrainConfig.beta={self.beta}: must be > 0, e.g. 0.1")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError("TrainConfig.epochs and TrainConfig.max_steps: set epochs > 0 or "
                             "max_steps > 0")


@dataclass
class TrainResult:
    method: str
    out_dir: str
    rows: int
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NotEnoughData(Exception):
    pass


def choose_method(cfg: TrainConfig, dataset_dir: Path) -> tuple[str, list[dict[str, Any]]]:
    pairs = read_split(dataset_dir, "pairs")
    unpaired = read_split(dataset_dir, "unpaired")
    method = cfg.method
    if method == "auto":
        method = "dpo" if len(pairs) >= cfg.min_pairs else "kto"
    if method == "dpo":
        if not pairs:
            raise NotEnoughData(f"{dataset_dir}: no preference pairs for DPO")
        return method, [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in pairs]
    rows = []
    for r in unpaired:
        repeats = 1 if cfg.weight_repeats <= 0 else \
            max(1, round(float(r.get("weight", 1.0)) * cfg.weight_repeats / 2))
        rows += [{"prompt": r["prompt"], "completion": r["completion"],
                  "label": bool(r["label"])}] * repeats
    if not any(r["label"] for r in rows) or all(r["label"] for r in rows):
        raise NotEnoughData(f"{dataset_dir}: KTO needs both accepted and rejected examples")
    return "kto", rows


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _bf16(device: str) -> bool:
    """bf16 mixed precision on a CUDA GPU that has it (Ampere and later); fp32 on the CPU,
    where bf16 autocast was 5-10x slower."""
    import torch

    return device == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def train(hf_dir: Path, dataset_dir: Path, out_dir: Path, cfg: TrainConfig | None = None,
          adapter_dir: Path | None = None) -> TrainResult:
    """Train a LoRA adapter on ``hf_dir`` from ``dataset_dir``, merge it, save to ``out_dir``
    (and the adapter itself, before merging, to ``adapter_dir``: what a vLLM server loads
    on top of ``hf_dir``)."""
    offline()
    cfg = cfg or TrainConfig()
    method, rows = choose_method(cfg, Path(dataset_dir))
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    device = _device(cfg.device)
    torch.manual_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(hf_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
    targets: str | list[str] = cfg.target_modules if cfg.target_modules == "all-linear" \
        else [m.strip() for m in cfg.target_modules.split(",") if m.strip()]
    peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                             lora_dropout=cfg.lora_dropout, target_modules=targets,
                             task_type="CAUSAL_LM")
    losses: list[float] = []

    class LossLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                logger.info("step %d/%d loss %.4f", state.global_step, state.max_steps,
                            logs["loss"])

    work = Path(out_dir).with_name(Path(out_dir).name + ".work")
    common: dict[str, Any] = dict(
        output_dir=str(work), per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, beta=cfg.beta,
        max_length=cfg.max_length, logging_steps=cfg.logging_steps, save_strategy="no",
        report_to=[], seed=cfg.seed, bf16=_bf16(device), fp16=False, gradient_checkpointing=False,
        use_cpu=device == "cpu", disable_tqdm=True, dataloader_num_workers=0,
        lr_scheduler_type="constant", warmup_steps=0,
    )
    data = Dataset.from_list(rows).shuffle(seed=cfg.seed)
    t0 = time.perf_counter()
    if method == "dpo":
        from trl import DPOConfig, DPOTrainer

        trainer: Any = DPOTrainer(model=model, args=DPOConfig(**common), train_dataset=data,
                                  processing_class=tokenizer, peft_config=peft_config,
                                  callbacks=[LossLog()])
    else:
        from trl import KTOConfig, KTOTrainer

        good = sum(r["label"] for r in rows)
        # Balance desirable and undesirable losses (TRL's recommended range).
        common["desirable_weight"] = min(4.0, max(0.25, (len(rows) - good) / max(good, 1)))
        trainer = KTOTrainer(model=model, args=KTOConfig(**common), train_dataset=data,
                             processing_class=tokenizer, peft_config=peft_config,
                             callbacks=[LossLog()])
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the loss goes to the log, not to stdout
    logger.info("training %s with LoRA r=%d on %d rows (%s)", method, cfg.lora_r, len(rows),
                device)
    if len(trainer.train_dataset) == 0:  # TRL dropped every row as fully truncated
        raise NotEnoughData(f"every one of the {len(rows)} rows is longer than --max-length "
                            f"{cfg.max_length} tokens in its prompt alone: raise --max-length "
                            "or shorten the prompts (--max-prefix-chars)")
    trainer.train()
    steps = int(trainer.state.global_step)
    seconds = time.perf_counter() - t0
    if trainer.accelerator.is_main_process:
        peft_model = trainer.accelerator.unwrap_model(trainer.model)
        if adapter_dir is not None:
            peft_model.save_pretrained(str(adapter_dir))
        merged = peft_model.merge_and_unload()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        merged.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
        (out / "training.json").write_text(json.dumps(
            {"method": method, "rows": len(rows), "steps": steps, "losses": losses,
             "config": asdict(cfg), "base": str(hf_dir), "dataset": str(dataset_dir)},
            indent=2) + "\n", "utf-8")
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    if not losses or not all(math.isfinite(x) for x in losses):
        logger.warning("loss log is empty or not finite: %s", losses)
    return TrainResult(method=method, out_dir=str(out_dir), rows=len(rows), steps=steps,
                       seconds=round(seconds, 2), losses=losses, device=device)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``accelerate launch -m codeward.finetune.train``."""
    from .flags import add_config_arguments, config_from_args

    parser = argparse.ArgumentParser(prog="codeward.finetune.train")
    parser.add_argument("--hf", required=True, help="Hugging Face checkpoint to start from")
    parser.add_argument("--dataset", required=True, help="directory from 'finetune dataset'")
    parser.add_argument("--out", required=True, help="where the merged checkpoint goes")
    parser.add_argument("--adapter-out", default="", help="also save the LoRA adapter "
                                                         "(before merging) here")
    add_config_arguments(parser, TrainConfig)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    result = train(Path(args.hf), Path(args.dataset), Path(args.out),
                   config_from_args(TrainConfig, args),
                   adapter_dir=Path(args.adapter_out) if args.adapter_out else None)
    print(json.dumps(result.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
