"""The parts of bench/gpu_check.sh (one JSON object per part on stdout):

    ct2     CTranslate2 on CUDA (the cuda extra's cuBLAS): single-line latency of the
            shipped model and of a ~0.5B-parameter Llama shape with random weights
    vllm    vLLM serving the tiny test model; a LoRA adapter promoted into it with
            `codeward model promote --to URL`, asked for by name, rolled back
    train   one `accelerate launch` training step (finetune/accelerate/one_gpu.yaml, bf16)

A part that cannot run here says why ({"status": "skipped", "why": ...}); with
``--allow-cpu`` the train part runs on the CPU (bf16 off), which is how it is tested.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "finetune")]
PROMPT = "import os\n\ndef run(cmd):\n    "
QWEN05_SHAPE = dict(hidden=896, layers=24, heads=14, kv_heads=2, intermediate=4864,
                    vocab=151936, tie=True)
"""Qwen2.5-Coder-0.5B's shape as a Llama (494M parameters with tied embeddings)."""


def _latency(model_dir: Path, n: int, compute_type: str) -> dict[str, Any]:
    from codeward.server.engine import Engine, GenerationRequest
    from codeward.server.settings import EngineSettings

    engine = Engine(model_dir, EngineSettings(device="cuda", compute_type=compute_type),
                    verify=False)
    try:
        request = GenerationRequest(PROMPT * 20, max_new_tokens=32, single_line=False)
        engine.generate(request)
        ms = []
        for _ in range(n):
            t0 = time.perf_counter()
            engine.generate(request)
            ms.append((time.perf_counter() - t0) * 1000)
        ms.sort()
        return {"p50_ms": round(statistics.median(ms), 2),
                "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
                "prompt_tokens": engine.count_tokens(request.prompt), "new_tokens": 32,
                "compute_type": compute_type}
    finally:
        engine.close()


def _random_llama(out: Path) -> Path:
    import torch
    from transformers import LlamaForCausalLM

    from codeward.finetune.convert import convert
    from codeward.finetune.tiny import llama_config

    from models import tiny_hf

    hf = out / "hf05b"
    if not (hf / "config.json").is_file():
        shape = QWEN05_SHAPE
        config = llama_config(int(shape["vocab"]), hidden=int(shape["hidden"]),
                              layers=int(shape["layers"]), heads=int(shape["heads"]),
                              kv_heads=int(shape["kv_heads"]),
                              intermediate=int(shape["intermediate"]), tie_embeddings=True)
        torch.manual_seed(0)
        model = LlamaForCausalLM(config).to(torch.float16)
        model.save_pretrained(str(hf))
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(tiny_hf() / name, hf / name)
    ct2 = out / "ct2-05b"
    if not (ct2 / "codeward.json").is_file():
        convert(hf, ct2, quantization="int8_float16", name="random-0.5b", force=True)
    return ct2


def part_ct2(args: argparse.Namespace) -> dict[str, Any]:
    from codeward.server.cuda_libs import cuda_problem, preload_cublas
    from codeward.server.models import default_model_dir

    why = cuda_problem()
    if why is not None:
        return {"status": "skipped", "why": why}
    shipped = default_model_dir()
    assert shipped is not None
    out: dict[str, Any] = {"status": "ok", "cublas": preload_cublas()}
    for compute_type in ("int8_float16", "float16"):
        out[f"shipped_{compute_type}"] = _latency(shipped, args.repeats, compute_type)
    big = _random_llama(Path(args.out))
    out["random_0.5b_int8_float16"] = _latency(big, args.repeats, "int8_float16")
    return out


def _wait(url: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vllm exited with {proc.returncode}")
        try:
            if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"vllm did not answer within {seconds:.0f} s")


def part_vllm(args: argparse.Namespace) -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return {"status": "skipped", "why": "vllm is not installed (pip install vllm)"}
    import httpx

    from codeward.finetune import registry as reg
    from codeward.finetune.llamacpp import free_port
    from codeward.finetune.remote_promote import Target, promote_remote, rollback_remote

    from lora_chain import lora_cycle
    from models import tiny_hf, tiny_model

    work = Path(args.out) / "vllm"
    shutil.rmtree(work, ignore_errors=True)
    r = work / "reg"
    reg.add_version(r, tiny_model(), hf_dir=tiny_hf())
    c2 = lora_cycle(tiny_hf(), work / "c2", r=8, alpha=16, rslora=False, seed=1)
    reg.add_version(r, tiny_model(), hf_dir=c2 / "hf", base_version="v1",
                    adapter_dir=c2 / "adapter")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
    log = open(work / "vllm.log", "wb")  # noqa: SIM115 - the child writes it
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
         str(reg.version_dir(r, "v1") / "hf"), "--served-model-name", "codeward-base",
         "--port", str(port), "--host", "127.0.0.1", "--enable-lora", "--max-lora-rank", "64",
         "--max-model-len", "2048", "--gpu-memory-utilization", "0.3", "--dtype", "bfloat16",
         "--enforce-eager"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait(url, proc, 420)
        started = time.perf_counter() - t0
        done = promote_remote(r, "v2", Target(url=url))

        def ask(model: str) -> str:
            body = {"model": model, "prompt": "<fim_prefix>def add(a, b):\n    <fim_suffix>"
                    "<fim_middle>", "max_tokens": 8, "temperature": 0}
            answer = httpx.post(url + "/v1/completions", json=body, timeout=60)
            answer.raise_for_status()
            return str(answer.json()["choices"][0]["text"])

        base, adapted = ask("codeward-base"), ask("codeward")
        back = rollback_remote(r, Target(url=url), to="v2")
        return {"status": "ok", "start_s": round(started, 1), "promote": done["actions"],
                "base_text": base, "adapter_text": adapted, "rollback": back["actions"],
                "adapter_changes_output": base != adapted}
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def part_train(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from models import tiny_hf
    from teach_data import teach_pairs, write_pairs

    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        return {"status": "skipped", "why": "torch sees no CUDA GPU"}
    work = Path(args.out) / "train"
    shutil.rmtree(work, ignore_errors=True)
    ds = write_pairs(work / "ds", teach_pairs() * 4, teach_pairs())
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "finetune" / "accelerate" / "one_gpu.yaml")]
    if not cuda:
        cmd += ["--cpu", "--mixed_precision", "no"]
    cmd += ["-m", "codeward.finetune.train", "--hf", str(tiny_hf()), "--dataset", str(ds),
            "--out", str(work / "hf"), "--adapter-out", str(work / "adapter"),
            "--method", "dpo", "--max-steps", "1", "--batch-size", "4"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"status": "failed", "why": done.stderr.strip().splitlines()[-3:]}
    result = json.loads(done.stdout[done.stdout.index("{"):])
    return {"status": "ok", "device": result["device"], "bf16": cuda, "steps": result["steps"],
            "loss": result["losses"], "launch_to_saved_s": round(time.perf_counter() - t0, 1),
            "adapter_saved": (work / "adapter" / "adapter_config.json").is_file()}


PARTS = {"ct2": part_ct2, "vllm": part_vllm, "train": part_train}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=sorted(PARTS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "gpu"))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--allow-cpu", action="store_true",
                        help="run the train part on the CPU when there is no GPU")
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        result = PARTS[args.part](args)
    except Exception as exc:  # noqa: BLE001 - a part's failure is its result
        result = {"status": "failed", "why": f"{type(exc).__name__}: {exc}"}
    result = {"part": args.part, **result, "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result))
    return 0 if result["status"] in ("ok", "skipped") else 1


if __name__ == "__main__":
    sys.exit(main())
