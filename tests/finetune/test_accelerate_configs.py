"""The `accelerate launch` configurations shipped for one and several GPUs: they parse as
accelerate's own config files, ask for bf16, and (slow) one real launch trains a step with
them (on the CPU here, bf16 switched off; bench/gpu_check.sh runs them on a GPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codeward.finetune.train import _bf16

from teach_data import teach_pairs, write_pairs

CONFIGS = Path(__file__).resolve().parents[2] / "finetune" / "accelerate"


def test_configs_parse_as_accelerate_configs():
    from accelerate.commands.config.config_args import load_config_from_file

    one = load_config_from_file(str(CONFIGS / "one_gpu.yaml"))
    many = load_config_from_file(str(CONFIGS / "multi_gpu.yaml"))
    assert (one.distributed_type.value, one.mixed_precision, one.num_processes) == (
        "NO", "bf16", 1)
    assert (many.distributed_type.value, many.mixed_precision) == ("MULTI_GPU", "bf16")
    assert not one.use_cpu and not many.use_cpu


def test_bf16_only_on_cuda():
    assert _bf16("cpu") is False


@pytest.mark.slow
def test_accelerate_launch_trains_one_step(tmp_path, tiny_hf_dir):
    ds = write_pairs(tmp_path / "ds", teach_pairs() * 2, teach_pairs())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(CONFIGS / "one_gpu.yaml"), "--cpu", "--mixed_precision", "no",
           "-m", "codeward.finetune.train", "--hf", str(tiny_hf_dir), "--dataset", str(ds),
           "--out", str(out / "hf"), "--adapter-out", str(out / "adapter"), "--method", "dpo",
           "--max-steps", "1", "--batch-size", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout[done.stdout.index("{"):])
    assert result["steps"] == 1 and result["losses"]
    assert (out / "hf" / "config.json").is_file()
    assert (out / "adapter" / "adapter_config.json").is_file()
