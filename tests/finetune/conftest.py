from __future__ import annotations

import pytest

from codeward.finetune import registry as reg

from lora_chain import lora_cycle
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
                                   batch_size=4), adapter_dir=root / name / "adapter")
        convert(root / name / "hf", root / name / "model", name=f"tiny-{name}", version="2")
        out[name] = (root / name / "model", root / name / "hf", result)
    out["dataset"] = write_pairs(root / "ds-eval", [], teach_pairs())
    return out


@pytest.fixture(scope="session")
def chain(tmp_path_factory, tiny_model_dir, tiny_hf_dir):
    """A registry v1 (the tiny model) <- v2 <- v3, each cycle's adapter kept."""
    root = tmp_path_factory.mktemp("chain")
    c2 = lora_cycle(tiny_hf_dir, root / "c2", r=4, alpha=8, rslora=False, seed=1)
    c3 = lora_cycle(c2 / "hf", root / "c3", r=2, alpha=6, rslora=True, seed=2)
    r = root / "reg"
    reg.add_version(r, tiny_model_dir, hf_dir=tiny_hf_dir)
    reg.add_version(r, tiny_model_dir, hf_dir=c2 / "hf", base_version="v1",
                    adapter_dir=c2 / "adapter")
    reg.add_version(r, tiny_model_dir, hf_dir=c3 / "hf", base_version="v2",
                    adapter_dir=c3 / "adapter")
    return r
