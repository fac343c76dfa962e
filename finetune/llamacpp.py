"""llama.cpp tooling: a Hugging Face checkpoint -> GGUF (what llama.cpp's server loads), and
llama-cpp-python's OpenAI-compatible server started on it. The conversion uses llama.cpp's own
converter (``convert_hf_to_gguf.py`` and its ``conversion``/``gguf-py`` packages, shipped in
llama.cpp and in the llama-cpp-python sdist's ``vendor/llama.cpp``).

llama.cpp's converter recognises a BPE tokenizer's pre-tokenizer by hashing how it splits a
test string, and refuses tokenizers it has not seen, such as Codeward's own. Codeward's
tokenizer pre-tokenizes exactly as GPT-2 does (byte-level with GPT-2's split regex), so when
``tokenizer.json`` says exactly that, the converter is told ``gpt-2``; any other unrecognised
tokenizer is still refused. :func:`check_tokens` compares llama.cpp's tokenization with the
checkpoint's on sample text, so a tokenizer that did not survive the conversion is caught.

    python -m codeward.finetune.llamacpp HF_DIR OUT.gguf --llama-cpp DIR [--outtype f32]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

SOURCE_ENV = "CODEWARD_LLAMACPP_SRC"
"""A llama.cpp source folder (the one with convert_hf_to_gguf.py)."""

_BOOT = r"""
import json, runpy, sys
from pathlib import Path
src, hf = Path(sys.argv[1]), Path(sys.argv[2])
sys.path[:0] = [str(src), str(src / "gguf-py")]
from conversion import base
original = base.TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    try:
        return original(self, tokenizer)
    except NotImplementedError:
        pre = json.loads((hf / "tokenizer.json").read_text("utf-8")).get("pre_tokenizer") or {}
        if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
            return "gpt-2"
        raise
base.TextModel.get_vocab_base_pre = get_vocab_base_pre
sys.argv = [str(src / "convert_hf_to_gguf.py"), *sys.argv[3:]]
runpy.run_path(str(src / "convert_hf_to_gguf.py"), run_name="__main__")
"""


class GgufError(Exception):
    pass


def default_source() -> Path:
    """Where .ci/llamacpp unpacks the converter by default."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("llama_cpp_python")
    except PackageNotFoundError:
        v = "0.3.36"
    return Path.home() / ".cache" / "codeward" / f"llamacpp-{v}" / "src"


def find_source(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The llama.cpp source folder: ``explicit``, else $CODEWARD_LLAMACPP_SRC, else where
    .ci/llamacpp unpacks it."""
    where = explicit or os.environ.get(SOURCE_ENV, "")
    if not where and (default_source() / "convert_hf_to_gguf.py").is_file():
        where = str(default_source())
    if not where:
        raise GgufError(f"no llama.cpp converter: pass --llama-cpp DIR or set {SOURCE_ENV} "
                        "(.ci/llamacpp unpacks it from the llama-cpp-python sdist)")
    src = Path(where).expanduser()
    if not (src / "convert_hf_to_gguf.py").is_file():
        raise GgufError(f"{src}: no convert_hf_to_gguf.py (expected a llama.cpp source folder, "
                        "such as the llama-cpp-python sdist's vendor/llama.cpp)")
    return src


def convert_to_gguf(hf_dir: Path, out: Path, *, source: str | os.PathLike[str] | None = None,
                    outtype: str = "f32", timeout: float = 600) -> Path:
    """Convert ``hf_dir`` to ``out`` with llama.cpp's converter (in a child process)."""
    src = find_source(source)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}  # its own gguf-py
    env.update(HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    cmd = [sys.executable, "-c", _BOOT, str(src), str(hf_dir), str(hf_dir), "--outfile",
           str(out), "--outtype", outtype]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0 or not out.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise GgufError(f"llama.cpp's converter failed on {hf_dir}: " + " | ".join(tail))
    return out


def check_tokens(hf_dir: Path, gguf_file: Path, samples: list[str]) -> list[str]:
    """Samples that llama.cpp (loading ``gguf_file``) tokenizes differently from the
    checkpoint's tokenizer; empty when the tokenizer survived the conversion."""
    from llama_cpp import Llama
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(hf_dir) / "tokenizer.json"))
    llm = Llama(str(gguf_file), vocab_only=True, verbose=False)
    try:
        return [s for s in samples if llm.tokenize(s.encode(), add_bos=False, special=True)
                != tok.encode(s, add_special_tokens=False).ids]
    finally:
        llm.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_NO_REPACK = r"""
import runpy, sys
import llama_cpp
from llama_cpp import llama
default = llama_cpp.llama_model_default_params
def params():
    p = default()
    p.use_extra_bufts = False
    return p
llama_cpp.llama_model_default_params = llama.llama_cpp.llama_model_default_params = params
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def start_server(gguf_file: Path, *, port: int | None = None, threads: int = 2,
                 n_ctx: int = 2048, log: Path | None = None, repack: bool = True,
                 wait: float = 120) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m llama_cpp.server`` on ``gguf_file`` (loopback only); returns the process
    and its base URL once ``/v1/models`` answers. ``repack=False`` turns off llama.cpp's
    weight repacking for the CPU (its q8_0 repacked kernels crashed on the shipped model's
    shape with llama-cpp-python 0.3.36 on an AVX-512/AMX CPU)."""
    import httpx

    port = port or free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    launch = ["-m", "llama_cpp.server"] if repack else ["-c", _NO_REPACK]
    proc = subprocess.Popen(
        [sys.executable, *launch, "--model", str(gguf_file), "--host",
         "127.0.0.1", "--port", str(port), "--n_threads", str(threads), "--n_threads_batch",
         str(threads), "--n_ctx", str(n_ctx), "--model_alias", Path(gguf_file).stem],
        stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise GgufError(f"llama_cpp.server exited with {proc.returncode}"
                            + (f" (log: {log})" if log else ""))
        try:
            if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise GgufError(f"llama_cpp.server did not answer within {wait:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codeward.finetune.llamacpp", description=__doc__)
    parser.add_argument("hf_dir", help="Hugging Face checkpoint folder")
    parser.add_argument("out", help="the .gguf file to write")
    parser.add_argument("--llama-cpp", default="", metavar="DIR",
                        help=f"llama.cpp source folder (default: ${SOURCE_ENV})")
    parser.add_argument("--outtype", default="f32", help="f32 (default), f16, bf16, q8_0")
    args = parser.parse_args(argv)
    try:
        out = convert_to_gguf(Path(args.hf_dir), Path(args.out), source=args.llama_cpp or None,
                              outtype=args.outtype)
    except GgufError as exc:
        print(f"codeward: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"gguf": str(out), "bytes": out.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
