from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory, tiny_hf_dir):
    """A better candidate (DPO on the right pairs) and a worse one (pairs swapped, harder)."""
    from codeward.finetune.convert import convert
    from codeward.finetune.train import TrainConfig, train

    root = tmp_path_factory.mktemp("trained")
    out = {}
    for name, swap, steps, lr in (("better", False, 8, 5e-4), ("worse", True, 16, 5e-3)):
        ds = write_pairs(root / f"ds-{name}", teach_pairs(swap) * 4, teach_pairs())
        result = train(tiny_hf_dir, ds, root / name / "hf",
                       TrainConfig(method="dpo", max_steps=steps, learning_rate=lr,
                                   batch_size=4))
        convert(root / name / "hf", root / name / "model", name=f"tiny-{name}", version="2")
        out[name] = (root / name / "model", root / name / "hf", result)
    out["dataset"] = write_pairs(root / "ds-eval", [], teach_pairs())
    return out
