"""Preference data on what the tiny test model was taught (shared by the finetune tests)."""

from __future__ import annotations

from pathlib import Path

from codeward.finetune.dataset import DatasetConfig, DatasetReport, write
from codeward.server.fim import get_family

from models import TEACH

FAM = get_family("codeward")
WRONG = {"def add(a, b):\n    ": "return a * b\n",
         "class Point:\n    def __init__(self, x, y):\n        ": "pass\n",
         "names = ['a', 'b']\nfor name in ": "range(10):\n    pass\n"}


def teach_pairs(swap: bool = False) -> list[dict]:
    """Preference pairs on what the tiny model was taught: the taught middle is chosen."""
    rows = []
    for prefix, middle, suffix in TEACH[1:]:
        chosen, rejected = middle, WRONG[prefix]
        if swap:
            chosen, rejected = rejected, chosen
        rows.append({"prompt": FAM.format(prefix, suffix), "chosen": chosen,
                     "rejected": rejected})
    return rows


def teach_snippets() -> list[tuple[str, str]]:
    return [(FAM.format(p, s), m.split("\n", 1)[0].strip()) for p, m, s in TEACH[1:]]


def write_pairs(out: Path, pairs: list[dict], heldout: list[dict]) -> Path:
    splits = {"pairs": pairs, "unpaired": [], "heldout_pairs": heldout, "heldout_unpaired": []}
    return write(out, splits, DatasetReport(), DatasetConfig(), "test", 0, 0.0)
