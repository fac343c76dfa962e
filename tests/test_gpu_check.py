"""bench/gpu_check.sh on a machine without a GPU: every part that needs one says why it
was skipped instead of failing, and (slow) the training part runs on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_check.sh"


def _run(tmp_path: Path, *parts: str, cpu: bool = False) -> list[dict]:
    env = {**os.environ, "OUT": str(tmp_path), "GPU_CHECK_ALLOW_CPU": "1" if cpu else "0"}
    done = subprocess.run(["bash", str(SCRIPT), *parts], capture_output=True, text=True,
                          timeout=900, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    lines = [json.loads(x) for x in (tmp_path / "gpu_check.jsonl").read_text().splitlines()]
    assert lines == [json.loads(x) for x in done.stdout.splitlines()]
    return lines


def test_syntax():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_gpu_parts_skip_with_a_reason_without_gpu(tmp_path):
    from codeward.server.cuda_libs import cuda_problem

    if cuda_problem() is None:
        pytest.skip("this machine has a usable GPU")
    env, ct2, vllm = _run(tmp_path, "ct2", "vllm")
    assert env["part"] == "env" and "gpus" in env
    assert ct2["status"] == "skipped" and "no CUDA GPU" in ct2["why"]
    assert vllm["status"] in ("skipped", "failed")  # vllm needs CUDA too
    assert vllm.get("why")


@pytest.mark.slow
def test_train_part_on_cpu(tmp_path):
    train = _run(tmp_path, "train", cpu=True)[1]
    assert train["status"] == "ok" and train["steps"] == 1 and train["adapter_saved"]
    assert train["device"] == "cpu" and train["bf16"] is False
