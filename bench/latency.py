"""Latency benchmark: the real server over stdio, and CTranslate2 vs transformers.

Prints:
- p50/p95 LSP round trip of inline completion, single-line and multi-line, prompt ~1k tokens;
- server start (process spawn) to first completion;
- CTranslate2 int8 vs transformers ``generate`` (fp32) on the same model and prompts, same run.

Usage:
    python bench/latency.py                      # a ~20M-parameter Llama built here (random weights)
    python bench/latency.py --model DIR --hf HF  # a converted model and its HF checkpoint
Random weights give the same per-token cost as trained ones; generation lengths are fixed
(min = max new tokens) in the engine comparison so both engines do the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "out"


def build_reference_model() -> tuple[Path, Path]:
    """A ~20M-parameter Llama (16k vocabulary, 6 layers, 384 wide), converted to int8."""
    from codeward.finetune.convert import convert
    from codeward.finetune.tiny import (
        llama_config,
        read_texts,
        save_tokenizer,
        stdlib_files,
        train_tokenizer,
    )

    hf, ct2 = CACHE / "ref20m-hf", CACHE / "ref20m-ct2"
    if (ct2 / "codeward.json").is_file():
        return ct2, hf
    import torch
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    hf.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(read_texts(stdlib_files(300)), 16000)
    save_tokenizer(tok, hf)
    fast = PreTrainedTokenizerFast.from_pretrained(str(hf))
    model = LlamaForCausalLM(llama_config(len(fast), hidden=384, layers=6, heads=6, kv_heads=2,
                                          intermediate=1024))
    model.save_pretrained(str(hf))
    convert(hf, ct2, name="ref20m", version="bench", force=True)
    return ct2, hf


def source_document(lines: int = 260) -> str:
    """A realistic Python module of about 1k+ tokens (from the standard library)."""
    import inspect
    import json as json_module

    text = inspect.getsource(json_module.decoder)
    return "\n".join(text.splitlines()[:lines]) + "\n"


def cursor_points(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(single-line points: mid-statement line ends, multi-line points: after block openers)."""
    single, multi = [], []
    for i, line in enumerate(text.splitlines()):
        stripped = line.rstrip()
        if i < 120:
            continue
        if stripped.endswith(":") and not stripped.lstrip().startswith("#"):
            multi.append((i, len(stripped)))
        elif "=" in stripped and not stripped.lstrip().startswith("#"):
            single.append((i, stripped.index("=") + 2))
    return single, multi


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def lsp_round_trips(model_dir: Path, rounds: int, prompt_tokens: int) -> dict:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    text = source_document()
    single, multi = cursor_points(text)
    client = LanguageClient("codeward-bench", "1")
    t_spawn = time.perf_counter()
    await client.start_io(sys.executable, "-m", "codeward.server.cli", "serve", "--model",
                          str(model_dir), "--log-level", "WARNING")
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(),
        initialization_options={"codeward": {"context": {"max_prompt_tokens": prompt_tokens}}}))
    client.initialized(types.InitializedParams())
    uri = "file:///tmp/codeward-bench/decoder.py"
    version = 1
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))

    async def request(line: int, col: int) -> float:
        nonlocal version
        version += 1  # a fresh document version: no reuse of an earlier suggestion
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))
        t0 = time.perf_counter()
        await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=col),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        return (time.perf_counter() - t0) * 1000

    first = await request(*single[0])
    start_to_first = time.perf_counter() - t_spawn
    for point in single[:3] + multi[:3]:  # warm-up
        await request(*point)
    # cold: every request at another place of the file (no cached prompt head)
    single_ms = [await request(*single[i % len(single)]) for i in range(rounds)]
    multi_ms = [await request(*multi[i % len(multi)]) for i in range(rounds)]

    # typing: characters typed one by one at a place, a request after each keystroke
    async def typing(points: list[tuple[int, int]]) -> list[float]:
        nonlocal version, text
        out = []
        for line, col in points[: max(1, rounds // 8)]:
            for ch in "value_x ":
                lines = text.split("\n")
                lines[line] = lines[line][:col] + ch + lines[line][col:]
                col += 1
                version += 1
                client.text_document_did_change(types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri,
                                                                        version=version),
                    content_changes=[types.TextDocumentContentChangePartial(
                        range=types.Range(start=types.Position(line=line, character=col - 1),
                                          end=types.Position(line=line, character=col - 1)),
                        text=ch)]))
                text = "\n".join(lines)
                t0 = time.perf_counter()
                await client.text_document_inline_completion_async(types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=col),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
                out.append((time.perf_counter() - t0) * 1000)
        return out

    typing_single = await typing(single[::3])
    typing_multi = await typing([(ln + 1, 8) for ln, _ in multi[::3]])
    status = await client.protocol.send_request_async("codeward/status", {})
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {"start_to_first_completion_s": start_to_first, "first_request_ms": first,
            "single_ms": single_ms, "multi_ms": multi_ms, "typing_single_ms": typing_single,
            "typing_multi_ms": typing_multi,
            "status_engine": getattr(status, "engine", None)}


def engine_ratio(model_dir: Path, hf_dir: Path, new_tokens: int, repeats: int) -> dict:
    """Same prompts, same number of new tokens, greedy: CTranslate2 int8 vs transformers fp32."""
    import ctranslate2
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    from codeward.server import context
    from codeward.server.engine import Engine
    from codeward.server.settings import EngineSettings

    torch.set_num_threads(1)
    text = source_document()
    single, _ = cursor_points(text)
    engine = Engine(model_dir, EngineSettings())
    lines = text.splitlines(keepends=True)
    prompts = []
    for line, col in single[:repeats]:
        offset = sum(len(x) for x in lines[:line]) + col
        budget = context.split_budget(1024, 0.25, 0.0)
        prompts.append(context.build_prompt(engine.family, text[:offset], text[offset:], engine,
                                            budget).text)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    encoded = [tok.encode(p, add_special_tokens=True) for p in prompts]
    generator = ctranslate2.Generator(str(model_dir), compute_type="int8", intra_threads=1)
    ct2_ms = []
    for enc in encoded:
        t0 = time.perf_counter()
        generator.generate_batch([enc.tokens], max_length=new_tokens, min_length=new_tokens,
                                 sampling_topk=1, include_prompt_in_result=False)
        ct2_ms.append((time.perf_counter() - t0) * 1000)
    generator.unload_model()
    engine.close()
    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32).eval()
    hf_ms = []
    with torch.no_grad():
        for enc in encoded:
            ids = torch.tensor([enc.ids])
            t0 = time.perf_counter()
            model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                           do_sample=False, pad_token_id=0)
            hf_ms.append((time.perf_counter() - t0) * 1000)
    prompt_tokens = statistics.mean(len(e.ids) for e in encoded)
    return {"prompt_tokens_mean": prompt_tokens, "new_tokens": new_tokens,
            "ct2_ms_median": statistics.median(ct2_ms), "hf_ms_median": statistics.median(hf_ms),
            "speedup": statistics.median(hf_ms) / statistics.median(ct2_ms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="converted model dir (default: build ~20M)")
    parser.add_argument("--hf", type=Path, help="its Hugging Face checkpoint")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--prompt-tokens", type=int, default=1024,
                        help="context.max_prompt_tokens of the server")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    if args.model is None:
        model_dir, hf_dir = build_reference_model()
    else:
        model_dir, hf_dir = args.model, args.hf
    from codeward.server.manifest import read_manifest

    manifest = read_manifest(model_dir)
    lsp = asyncio.run(lsp_round_trips(model_dir, args.rounds, args.prompt_tokens))
    ratio = engine_ratio(model_dir, hf_dir, args.new_tokens, 12) if hf_dir else None
    print(f"model: {manifest.name}@{manifest.version} ({model_dir})")
    print(f"server start to first completion: {lsp['start_to_first_completion_s']:.2f} s")
    for key, what in (("single_ms", "single-line, cold"), ("multi_ms", "multi-line, cold"),
                      ("typing_single_ms", "single-line, typing"),
                      ("typing_multi_ms", "multi-line, typing")):
        ms = lsp[key]
        print(f"inline completion round trip, {what}: p50 {pct(ms, .5):.1f} ms, "
              f"p95 {pct(ms, .95):.1f} ms (n={len(ms)}, prompt budget {args.prompt_tokens})")
    if ratio:
        print(f"engine, {ratio['prompt_tokens_mean']:.0f}-token prompts, {ratio['new_tokens']} "
              f"new tokens: CTranslate2 int8 {ratio['ct2_ms_median']:.1f} ms, transformers fp32 "
              f"{ratio['hf_ms_median']:.1f} ms -> {ratio['speedup']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"lsp": lsp, "ratio": ratio}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
