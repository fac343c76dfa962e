"""A fine-tuning cycle without training, for registry and export tests: a LoRA adapter with
random non-zero weights on a checkpoint, kept, then merged (as ``finetune train`` does)."""

from __future__ import annotations

from pathlib import Path


def lora_cycle(base_hf: Path, out: Path, r: int, alpha: int, rslora: bool, seed: int) -> Path:
    """One 'fine-tuning cycle' without training: a LoRA adapter with random non-zero weights
    on ``base_hf``, saved, then merged into OUT/hf."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_hf), dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, use_rslora=rslora,
                                            target_modules="all-linear", init_lora_weights=False,
                                            task_type="CAUSAL_LM"))
    peft.save_pretrained(str(out / "adapter"))
    peft.merge_and_unload().save_pretrained(str(out / "hf"))
    AutoTokenizer.from_pretrained(str(base_hf)).save_pretrained(str(out / "hf"))
    return out
