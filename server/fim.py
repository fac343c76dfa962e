"""Fill-in-the-middle templates and stop tokens, one row per model family.

The family is chosen by the model directory's manifest (``codeward.json``), written by
``codeward model convert``. Templates are plain strings with ``{prefix}`` and ``{suffix}``;
the prompt always ends on the family's middle token so the tokenized prompt is a clean
prefix of prompt + completion.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class FimFamily:
    name: str
    prefix_token: str
    suffix_token: str
    middle_token: str
    stop_tokens: tuple[str, ...]
    template: str = "{pre}{prefix}{suf}{suffix}{mid}"
    """PSM order; ``{pre}``/``{suf}``/``{mid}`` are the family's special tokens."""
    comment_prefix: str = "# "
    """How the prompt writes cross-file context lines (as comments the model can read)."""

    def format(self, prefix: str, suffix: str) -> str:
        return self.template.format(
            pre=self.prefix_token, suf=self.suffix_token, mid=self.middle_token,
            prefix=prefix, suffix=suffix,
        )


FAMILIES: dict[str, FimFamily] = {
    f.name: f
    for f in (
        FimFamily(
            name="codeward",
            prefix_token="<fim_prefix>", suffix_token="<fim_suffix>", middle_token="<fim_middle>",
            stop_tokens=("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>",
                         "<file_sep>", "<fim_pad>"),
        ),
        FimFamily(
            name="qwen2.5-coder",
            prefix_token="<|fim_prefix|>", suffix_token="<|fim_suffix|>",
            middle_token="<|fim_middle|>",
            stop_tokens=("<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>",
                         "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>"),
        ),
        FimFamily(
            name="deepseek-coder",
            prefix_token="<｜fim▁begin｜>", suffix_token="<｜fim▁hole｜>",
            middle_token="<｜fim▁end｜>",
            stop_tokens=("<｜end▁of▁sentence｜>", "<|EOT|>", "<｜fim▁begin｜>"),
        ),
        FimFamily(
            name="starcoder",
            prefix_token="<fim_prefix>", suffix_token="<fim_suffix>", middle_token="<fim_middle>",
            stop_tokens=("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>",
                         "<file_sep>", "<fim_pad>"),
        ),
        FimFamily(
            name="santacoder",
            prefix_token="<fim-prefix>", suffix_token="<fim-suffix>", middle_token="<fim-middle>",
            stop_tokens=("<|endoftext|>", "<fim-prefix>", "<fim-suffix>", "<fim-middle>",
                         "<fim-pad>"),
        ),
        FimFamily(
            name="codellama",
            prefix_token="<PRE>", suffix_token="<SUF>", middle_token="<MID>",
            stop_tokens=("<EOT>", "</s>"),
            template="{pre} {prefix} {suf}{suffix} {mid}",
        ),
        FimFamily(
            name="codegemma",
            prefix_token="<|fim_prefix|>", suffix_token="<|fim_suffix|>",
            middle_token="<|fim_middle|>",
            stop_tokens=("<|file_separator|>", "<eos>", "<end_of_turn>", "<|fim_prefix|>",
                         "<|fim_suffix|>", "<|fim_middle|>"),
        ),
    )
}


def detect_family(model_type: str, tokens: set[str]) -> str | None:
    """Guess the FIM family from the config's ``model_type`` and the tokenizer's tokens."""
    if "<fim_prefix>" in tokens and "<|codeward|>" in tokens:
        return "codeward"
    if "<｜fim▁begin｜>" in tokens:
        return "deepseek-coder"
    if "<|fim_prefix|>" in tokens:
        return "codegemma" if model_type.startswith("gemma") else "qwen2.5-coder"
    if "<fim-prefix>" in tokens:
        return "santacoder"
    if "<fim_prefix>" in tokens:
        return "starcoder"
    if "<PRE>" in tokens or "▁<PRE>" in tokens:
        return "codellama"
    return None


def get_family(name: str) -> FimFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown FIM family {name!r}; known: {', '.join(sorted(FAMILIES))}"
        ) from None


def with_template(family: FimFamily, template: str) -> FimFamily:
    """The family with a model's own order of its tokens (a manifest's ``fim_template``,
    e.g. suffix first for a model trained that way)."""
    if template and template != family.template:
        return dataclasses.replace(family, template=template)
    return family
