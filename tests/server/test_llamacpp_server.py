"""A real OpenAI-compatible server on the CPU: llama.cpp's (llama-cpp-python) serving the
tiny test model converted to GGUF with llama.cpp's own converter, and the real language
server with ``backend = "openai"`` completing through it.

Skipped, with the reason, when llama-cpp-python or the converter is not installed (they are
built from source: `.ci/llamacpp`, about 5 minutes on 2 free cores); CI sets
CODEWARD_REQUIRE_LLAMACPP=1, which turns the skip into a failure."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeward.finetune.llamacpp import (
    GgufError,
    check_tokens,
    convert_to_gguf,
    find_source,
    start_server,
)

from models import TEACH

SAMPLES = [p + m + s for p, m, s in TEACH] + [
    "<fim_prefix>x = 1\n<fim_suffix>\n<fim_middle>y", "  \t\n\n  é 😀 ''' \"\"\" 3.14e-2\n",
    Path(__file__).read_text("utf-8")]


def _missing() -> str:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (.ci/llamacpp, or pip install 'codeward[llamacpp]')"
    try:
        find_source()
    except GgufError as exc:
        return str(exc)
    return ""


@pytest.fixture(scope="module")
def gguf(tiny_hf_dir: Path) -> Path:
    why = _missing()
    if why:
        if os.environ.get("CODEWARD_REQUIRE_LLAMACPP") == "1":
            pytest.fail(f"CODEWARD_REQUIRE_LLAMACPP=1 but {why}")
        pytest.skip(why)
    out = tiny_hf_dir.parent / "tiny-f32.gguf"
    if not out.is_file():
        convert_to_gguf(tiny_hf_dir, out)
    return out


@pytest.fixture(scope="module")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llamacpp") / "server.log"
    proc, url = start_server(gguf, threads=2, log=log)
    LOGS[url] = log
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _served(url: str) -> int:
    """Completions the llama.cpp server has answered (its access log, flushed per line)."""
    return LOGS[url].read_text("utf-8", "replace").count('"POST /v1/completions HTTP/1.1" 200')


LOGS: dict[str, Path] = {}


def test_tokenizer_survives_the_conversion(gguf: Path, tiny_hf_dir: Path) -> None:
    assert check_tokens(tiny_hf_dir, gguf, SAMPLES) == []


def test_completions_endpoint_completes_what_the_model_was_taught(llama_server: str) -> None:
    import httpx

    prefix, middle, suffix = TEACH[1]  # def add(a, b): -> return a + b
    body = {"prompt": f"<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
            "max_tokens": 16, "temperature": 0, "logprobs": 1, "stop": ["\n"]}
    answer = httpx.post(llama_server + "/v1/completions", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    choice = answer.json()["choices"][0]
    assert choice["text"] == middle.rstrip("\n") and choice["finish_reason"] == "stop"
    assert all(lp <= 0 for lp in choice["logprobs"]["token_logprobs"])


async def test_the_language_server_completes_through_llamacpp(
        llama_server: str, gguf: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    """The real language server over stdio, backend = "openai", against llama.cpp: the
    completion (and its log-probabilities for the confidence gate) comes from the server."""
    from lsp_client import inline, open_doc, start_server, status

    uri = (tmp_path / "mod.py").as_uri()
    options = {"codeward": {"engine": {"backend": "openai", "url": llama_server,
                                       "model": gguf.stem, "fallback": "none",
                                       "timeout": 30.0, "read_timeout": 30.0}}}
    before = _served(llama_server)
    client = await start_server(tiny_model_dir, init_options=options)
    try:
        open_doc(client, uri, "def add(a, b):\n    \n")
        result = await inline(client, uri, 1, 4)
        assert [i.insert_text for i in result.items] == ["return a + b"]
        st = await status(client)
        assert st["remote"]["state"] == "closed", st["remote"]
    finally:
        await client.shutdown_session()
    assert _served(llama_server) == before + 1
