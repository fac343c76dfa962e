from __future__ import annotations

import pytest

from teach_data import teach_pairs, teach_snippets, write_pairs  # noqa: F401


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
