"""The same model and the same prompts through three engines, in one run: CTranslate2 in
process (Codeward's engine), llama.cpp's OpenAI-compatible server (llama-cpp-python; the
engine Tabby uses) over HTTP (through the language server's OpenAI client, and with one plain
POST per completion to a second server process), and transformers ``generate``.

The typing workload: a developer types lines of a real file, one character after another;
at every keystroke each engine completes the rest of the line (the server's prompt: FIM
template, prefix and suffix under the default 768-token budget, greedy, at most 32 tokens,
stopped at the line's end). What each engine reuses across keystrokes, it reuses: CTranslate2
its cached prompt head (``static_prompt``), llama.cpp its KV cache of the common prompt
prefix; transformers recomputes. Latency is end to end per completion: prompt text in,
completion text out (for llama.cpp an HTTP round trip on a kept-alive connection).

Usage:
    python bench/backends.py --llama-cpp DIR          # the shipped model
    python bench/backends.py --llama-cpp DIR --ref20m # the ~20M reference Llama (random weights)
DIR is a llama.cpp source folder with convert_hf_to_gguf.py ($CODEWARD_LLAMACPP_SRC;
.ci/llamacpp unpacks one). Needs the finetune and llamacpp extras.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Three engines share two cores: idle OpenMP threads must sleep, not spin, or each engine's
# idle threads slow the next one down (CTranslate2 and torch both use OpenMP).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
MAX_NEW = 32


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def typing_positions(text: str, lines: int, keys: int, seed: int) -> list[int]:
    """Offsets of consecutive keystrokes: ``keys`` characters typed into each of ``lines``
    seeded lines (from the first non-blank character on), far enough into the file."""
    rng = random.Random(seed)
    starts, pos = [], 0
    for line in text.splitlines(keepends=True):
        body = line.strip()
        if len(body) >= keys + 8 and pos > 2000:
            starts.append(pos + len(line) - len(line.lstrip()))
        pos += len(line)
    chosen = sorted(rng.sample(starts, min(lines, len(starts))))
    return [s + k for s in chosen for k in range(1, keys + 1)]


def build_prompts(engine: Any, text: str, positions: list[int], budget: int) -> list[Any]:
    from codeward.server.context import build_prompt, split_budget

    split = split_budget(budget, 0.25, 0.0)
    prompts = []
    for offset in positions:
        line_end = text.find("\n", offset)
        # what the developer has typed so far: the rest of the line is not there yet
        prefix, suffix = text[:offset], text[line_end:] if line_end >= 0 else ""
        prompts.append(build_prompt(engine.family, prefix, suffix, engine, split))
    return prompts


class Ct2:
    def __init__(self, model_dir: Path, intra_threads: int) -> None:
        from codeward.server.engine import Engine
        from codeward.server.settings import EngineSettings

        self.name = f"CTranslate2 in process, {intra_threads} thread" + \
            ("s" if intra_threads > 1 else "")
        self.engine = Engine(model_dir, EngineSettings(intra_threads=intra_threads))

    def complete(self, prompt: Any) -> str:
        from codeward.server.engine import GenerationRequest

        result = self.engine.generate(GenerationRequest(
            prompt.text, max_new_tokens=MAX_NEW, single_line=True,
            static_chars=prompt.static_chars))
        return result.texts[0] if result.texts else ""

    def close(self) -> None:
        self.engine.close()


class LlamaCppServer:
    name = "llama.cpp server (Codeward's OpenAI client)"

    def __init__(self, hf_dir: Path, model_dir: Path, source: str, outtype: str, threads: int,
                 stop: list[str], client: bool = True) -> None:
        import httpx

        from codeward.finetune.llamacpp import convert_to_gguf, start_server

        OUT.mkdir(parents=True, exist_ok=True)
        gguf = OUT / f"{hf_dir.parent.name}-{hf_dir.name}-{outtype}.gguf"
        if not gguf.is_file():
            convert_to_gguf(hf_dir, gguf, source=source, outtype=outtype)
        # q8_0 with llama.cpp's repacked CPU kernels crashed on this machine (0.3.36)
        self.proc, self.url = start_server(gguf, threads=threads,
                                           log=OUT / f"llamacpp-{client}.log",
                                           repack=outtype != "q8_0")
        self.client = httpx.Client(base_url=self.url, timeout=60)
        self.stop = ["\n", *stop][:4]  # the OpenAI API takes up to 4 stop sequences
        self.remote: Any = None
        if not client:  # one plain non-streaming POST per completion
            self.name = "llama.cpp server (plain POST, no streaming)"
            return
        try:  # the language server's own remote engine (streaming, local stop rules)
            from codeward.server.engine_api import PromptModel
            from codeward.server.remote import RemoteEngine
            from codeward.server.settings import EngineSettings
        except ImportError:
            self.name = "llama.cpp server (raw HTTP)"
        else:
            self.remote = RemoteEngine(PromptModel(model_dir), EngineSettings(
                backend="openai", url=self.url, model=gguf.stem, timeout=60,
                read_timeout=60))

    def complete(self, prompt: Any) -> str:
        if self.remote is not None:
            from codeward.server.engine import GenerationRequest

            result = self.remote.generate(GenerationRequest(
                prompt.text, max_new_tokens=MAX_NEW, single_line=True))
            if result.unavailable:
                raise RuntimeError(result.unavailable)
            return result.texts[0] if result.texts else ""
        body = {"prompt": prompt.text, "max_tokens": MAX_NEW, "temperature": 0.0,
                "stop": self.stop}
        response = self.client.post("/v1/completions", json=body)
        response.raise_for_status()
        return str(response.json()["choices"][0]["text"])

    def close(self) -> None:
        if self.remote is not None:
            self.remote.close()
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)


class Transformers:
    name = "transformers generate"

    def __init__(self, hf_dir: Path, engine: Any, threads: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, StoppingCriteria

        torch.set_num_threads(threads)
        self.torch = torch
        self.model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
        self.model.eval()
        self.tok = engine.tokenizer
        self.eos = [self.tok.token_to_id(t) for t in engine.end_tokens]
        newline = engine.newline_ids

        class LineEnd(StoppingCriteria):
            def __init__(self, start: int) -> None:
                self.start = start

            def __call__(self, ids, scores, **kwargs):  # type: ignore[no-untyped-def]
                last = int(ids[0, -1])
                done = last in newline and ids.shape[1] - self.start > 1
                return torch.tensor([done], dtype=torch.bool)

        self.line_end = LineEnd

    def complete(self, prompt: Any) -> str:
        from transformers import StoppingCriteriaList

        ids = self.torch.tensor([self.tok.encode(prompt.text, add_special_tokens=True).ids])
        with self.torch.no_grad():
            out = self.model.generate(
                ids, attention_mask=self.torch.ones_like(ids), max_new_tokens=MAX_NEW,
                do_sample=False, eos_token_id=self.eos, pad_token_id=self.eos[0],
                stopping_criteria=StoppingCriteriaList([self.line_end(ids.shape[1])]))
        text = self.tok.decode(out[0, ids.shape[1]:].tolist(), skip_special_tokens=True)
        return text.split("\n", 1)[0] if text.strip() else text

    def close(self) -> None:
        pass


def first_line(text: str) -> str:
    return text.lstrip("\n").split("\n", 1)[0].rstrip()


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.ref20m:
        sys.path.insert(0, str(ROOT / "bench"))
        from latency import build_reference_model

        model_dir, hf_dir = build_reference_model()
    else:
        from codeward.server.models import default_model_dir

        model_dir = Path(args.model) if args.model else default_model_dir()
        hf_dir = Path(args.hf) if args.hf else model_dir / "hf"
    threads = [int(t) for t in str(args.ct2_intra_threads).split(",")]
    ct2 = Ct2(model_dir, threads[0])
    context = ct2.engine.manifest.context_length or 2048
    budget = min(args.budget, context - MAX_NEW - 8)
    text = Path(args.file).read_text("utf-8")
    prompts = build_prompts(ct2.engine, text, typing_positions(text, args.lines, args.keys,
                                                               args.seed), budget)
    llama = LlamaCppServer(hf_dir, model_dir, args.llama_cpp, args.gguf_type, args.threads,
                           ct2.engine.end_tokens)
    engines: list[Any] = [ct2, *(Ct2(model_dir, t) for t in threads[1:]), llama]
    if llama.remote is not None:  # its own server process: no KV cache shared with the other
        engines.append(LlamaCppServer(hf_dir, model_dir, args.llama_cpp, args.gguf_type,
                                      args.threads, ct2.engine.end_tokens, client=False))
    engines.append(Transformers(hf_dir, ct2.engine, args.threads))

    times: dict[str, list[float]] = {e.name: [] for e in engines}
    texts: dict[str, list[str]] = {e.name: [] for e in engines}
    try:
        for e in engines:  # warm-up: load, first allocations, the first prompt's cache
            for p in prompts[:3]:
                e.complete(p)
        for i, p in enumerate(prompts):  # interleaved and rotated, so that the machine's
            k = i % len(engines)             # load and each engine's wake-up hit all alike
            for e in engines[k:] + engines[:k]:
                t0 = time.perf_counter()
                out = e.complete(p)
                times[e.name].append((time.perf_counter() - t0) * 1000)
                texts[e.name].append(first_line(out))
    finally:
        for e in engines:
            e.close()
    base = ct2.name
    rows = {}
    for e in engines:
        ms = times[e.name]
        same = sum(a == b for a, b in zip(texts[e.name], texts[base], strict=True))
        rows[e.name] = {"p50_ms": round(statistics.median(ms), 1),
                        "p95_ms": round(pct(ms, 0.95), 1),
                        "same_text_as_ct2": f"{same}/{len(ms)}"}
    for e in engines:
        rows[e.name]["p50_vs_ct2"] = round(rows[e.name]["p50_ms"] / rows[base]["p50_ms"], 2)
        rows[e.name]["p95_vs_ct2"] = round(rows[e.name]["p95_ms"] / rows[base]["p95_ms"], 2)
    prompt_tokens = [ct2.engine.count_tokens(p.text) for p in prompts]
    return {"model": str(model_dir), "requests": len(prompts), "budget": budget,
            "prompt_tokens_p50": statistics.median(prompt_tokens), "gguf": args.gguf_type,
            "threads": {"ct2_intra": threads, "llama.cpp": args.threads,
                        "torch": args.threads}, "load": os.getloadavg()[0], "rows": rows}


def table(result: dict[str, Any]) -> str:
    lines = ["| engine | p50 ms | p95 ms | p50 / CT2 | p95 / CT2 | same text as CT2 |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, r in result["rows"].items():
        lines.append(f"| {name} | {r['p50_ms']} | {r['p95_ms']} | {r['p50_vs_ct2']}x | "
                     f"{r['p95_vs_ct2']}x | {r['same_text_as_ct2']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llama-cpp", default=os.environ.get("CODEWARD_LLAMACPP_SRC", ""),
                        help="llama.cpp source folder (its convert_hf_to_gguf.py)")
    parser.add_argument("--model", default="", help="converted model (default: shipped)")
    parser.add_argument("--hf", default="", help="its Hugging Face checkpoint")
    parser.add_argument("--ref20m", action="store_true", help="the ~20M reference Llama")
    parser.add_argument("--file", default=str(ROOT / "server" / "completion.py"),
                        help="the file typed into")
    parser.add_argument("--lines", type=int, default=6, help="lines typed into")
    parser.add_argument("--keys", type=int, default=8, help="keystrokes per line")
    parser.add_argument("--budget", type=int, default=768, help="prompt tokens")
    parser.add_argument("--gguf-type", default="q8_0", help="llama.cpp weights: q8_0 "
                        "(8-bit, like CTranslate2's int8; default), f16, f32")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp and torch threads")
    parser.add_argument("--ct2-intra-threads", default="1,2",
                        help="CTranslate2 intra-op threads, one row each (the server's "
                             "default: 1); the first row is the baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="", help="also write the JSON here")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    print(table(result))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
