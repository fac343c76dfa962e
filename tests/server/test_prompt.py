"""Prompt building per family, budget splitting and cross-file context."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeward.server import context
from codeward.server.engine import Engine
from codeward.server.fim import FAMILIES, detect_family, get_family
from codeward.server.settings import EngineSettings


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Engine:
    e = Engine(tiny_model_dir, EngineSettings())
    yield e
    e.close()


EXPECTED_LAYOUT = {
    "codeward": "<fim_prefix>P<fim_suffix>S<fim_middle>",
    "qwen2.5-coder": "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>",
    "deepseek-coder": "<｜fim▁begin｜>P<｜fim▁hole｜>S<｜fim▁end｜>",
    "starcoder": "<fim_prefix>P<fim_suffix>S<fim_middle>",
    "santacoder": "<fim-prefix>P<fim-suffix>S<fim-middle>",
    "codellama": "<PRE> P <SUF>S <MID>",
    "codegemma": "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>",
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_layout(name: str) -> None:
    fam = get_family(name)
    assert fam.format("P", "S") == EXPECTED_LAYOUT[name]
    assert fam.stop_tokens


def test_unknown_family() -> None:
    with pytest.raises(ValueError, match="known"):
        get_family("gpt-99")


@pytest.mark.parametrize(("model_type", "tokens", "family"), [
    ("qwen2", {"<|fim_prefix|>", "<|endoftext|>"}, "qwen2.5-coder"),
    ("gemma", {"<|fim_prefix|>"}, "codegemma"),
    ("llama", {"<｜fim▁begin｜>"}, "deepseek-coder"),
    ("gpt_bigcode", {"<fim_prefix>"}, "starcoder"),
    ("gpt2", {"<fim-prefix>"}, "santacoder"),
    ("llama", {"▁<PRE>"}, "codellama"),
    ("llama", {"<fim_prefix>", "<|codeward|>"}, "codeward"),
    ("llama", {"hello"}, None),
])
def test_detect_family(model_type: str, tokens: set[str], family: str | None) -> None:
    assert detect_family(model_type, tokens) == family


def test_split_budget() -> None:
    b = context.split_budget(1000, 0.25, 0.2, reserved=8)
    assert b.suffix == 248 and b.crossfile == 198
    assert b.prefix + b.suffix + b.crossfile == 992


def test_prompt_respects_budget(engine: Engine) -> None:
    prefix = "".join(f"value_{i} = compute({i})\n" for i in range(400))
    suffix = "".join(f"other_{i} = {i}\n" for i in range(400))
    budget = context.split_budget(256, 0.25, 0.0)
    prompt = context.build_prompt(engine.family, prefix, suffix, engine, budget)
    assert engine.count_tokens(prompt.prefix) <= budget.prefix
    assert engine.count_tokens(prompt.suffix) <= budget.suffix
    assert prefix.endswith(prompt.prefix) and suffix.startswith(prompt.suffix)
    # cut on line boundaries
    assert prompt.prefix.startswith("value_") and prompt.suffix.endswith("\n")
    assert prompt.text.startswith("<fim_prefix>") and prompt.text.endswith("<fim_middle>")
    assert len(engine.encode(prompt.text)) <= 256


def test_unused_suffix_share_goes_to_prefix(engine: Engine) -> None:
    prefix = "".join(f"value_{i} = compute({i})\n" for i in range(400))
    budget = context.split_budget(256, 0.5, 0.0)
    prompt = context.build_prompt(engine.family, prefix, "", engine, budget)
    assert engine.count_tokens(prompt.prefix) > budget.prefix


def test_short_documents_kept_whole(engine: Engine) -> None:
    budget = context.split_budget(512, 0.25, 0.2)
    prompt = context.build_prompt(engine.family, "def f(:\n    ", "\nx = 1\n", engine, budget)
    assert prompt.prefix == "def f(:\n    " and prompt.suffix == "\nx = 1\n"


def test_crossfile_snippets(engine: Engine) -> None:
    other = context.OtherDocument(
        path="/proj/util.py", language="python",
        text="import json\nfrom os import path\n\n\ndef load(name, *, strict=True):\n"
             "    return json.loads(name)\n\n\nclass Store:\n    def get(self, key):\n"
             "        return key\n")
    js = context.OtherDocument(path="/proj/app.js", language="javascript", text="function f(){}")
    secret = context.OtherDocument(path="/proj/.env", language="python", text="import secret_x\n")
    text, sources = context.crossfile_snippets("/proj/main.py", "python", [other, js, secret],
                                               engine, 200, [".env"], "# ")
    assert sources == ["/proj/util.py"]
    assert "# Path: util.py" in text
    assert "# def load(name, *, strict=True): ..." in text
    assert "# class Store:" in text and "#     def get(self, key): ..." in text
    assert "import json" in text and "secret_x" not in text
    assert "return json.loads" not in text  # bodies are not copied


def test_crossfile_budget(engine: Engine) -> None:
    big = "\n".join(f"def function_number_{i}(a, b, c):\n    pass\n" for i in range(300))
    other = context.OtherDocument(path="/p/big.py", language="python", text=big)
    text, _ = context.crossfile_snippets("/p/main.py", "python", [other], engine, 64, [], "# ")
    assert 0 < engine.count_tokens(text) <= 64
    slashes, _ = context.crossfile_snippets("/p/main.py", "python", [other], engine, 64, [],
                                            "// ")
    assert slashes.startswith("// Path: big.py\n// def function_number_0")


@pytest.mark.parametrize(("path", "excluded"), [
    ("/p/.env", True), ("/p/.env.local", True), ("/p/certs/server.pem", True),
    ("/home/u/.ssh/id_rsa", True), ("/home/u/.ssh/id_rsa.pub", True), ("/p/main.py", False),
    ("", False),
])
def test_exclude_globs(path: str, excluded: bool) -> None:
    from codeward.server.settings import ContextSettings

    assert context.is_excluded(path, ContextSettings().exclude) is excluded


def test_stable_head_survives_typing(engine: Engine) -> None:
    """Typing on the cursor's line (or a few lines further) keeps the cacheable head and the
    window start the same, so the engine reuses the cached model state."""
    doc = "".join(f"value_{i} = compute({i})\n" for i in range(300))
    budget = context.split_budget(256, 0.25, 0.0)
    heads = set()
    starts = set()
    for typed in ("", "x", "x = 1", "x = 1\ny", "x = 1\ny = 2\nz"):
        prefix = doc + typed
        prompt = context.build_prompt(engine.family, prefix, "\nrest()\n", engine, budget)
        assert prompt.static_chars > 0
        heads.add(prompt.text[: prompt.static_chars])
        starts.add(prompt.prefix[:40])
        assert engine.count_tokens(prompt.prefix) <= budget.prefix + budget.suffix
    assert len(heads) == 1 and len(starts) == 1


def test_cached_head_gives_the_same_tokens(engine: Engine) -> None:
    from codeward.server.engine import GenerationRequest

    prefix = "".join(f"value_{i} = compute({i})\n" for i in range(200)) + "def add(a, b):\n    "
    budget = context.split_budget(512, 0.25, 0.0)
    prompt = context.build_prompt(engine.family, prefix, "\n", engine, budget)
    head, rest = engine.split_static(prompt.text, prompt.static_chars)
    assert len(head) >= 64 and head + rest == engine.encode(prompt.text)
    plain = engine.generate(GenerationRequest(prompt=prompt.text, max_new_tokens=8))
    cached = [engine.generate(GenerationRequest(prompt=prompt.text, max_new_tokens=8,
                                                static_chars=prompt.static_chars))
              for _ in range(2)]
    assert cached[0].cached_tokens == len(head)
    assert cached[0].texts == cached[1].texts == plain.texts


def test_prompt_cache_is_bounded(tiny_model_dir: Path) -> None:
    from codeward.server.engine import GenerationRequest

    e = Engine(tiny_model_dir, EngineSettings(prompt_cache_entries=2))
    try:
        for i in range(5):
            prefix = "".join(f"v_{j} = f({j + 100 * i})\n" for j in range(60)) + "x = "
            budget = context.split_budget(512, 0.25, 0.0)
            prompt = context.build_prompt(e.family, prefix, "\n", e, budget)
            e.generate(GenerationRequest(prompt=prompt.text, max_new_tokens=2,
                                         static_chars=prompt.static_chars))
        assert e.stats.cache_resets == 2 and len(e._cached_heads) == 1
    finally:
        e.close()


def test_suffix_first_template_caches_suffix_and_prefix_head(engine: Engine) -> None:
    import dataclasses

    spm = dataclasses.replace(engine.family, template="{pre}{suf}{suffix}{mid}{prefix}")
    doc = "".join(f"value_{i} = compute({i})\n" for i in range(100)) + "x = "
    prompt = context.build_prompt(spm, doc, "\nrest()\n", engine,
                                  context.split_budget(512, 0.25, 0.0))
    head = prompt.text[: prompt.static_chars]
    assert head.startswith("<fim_prefix><fim_suffix>\nrest()\n<fim_middle>")
    cached_prefix = head.split("<fim_middle>")[1]
    assert cached_prefix in doc and cached_prefix.endswith("value_95 = compute(95)\n")


def test_prompt_fits_the_models_positions(tiny_model_dir: Path) -> None:
    import threading

    from codeward.analyzers.pipeline import Pipeline
    from codeward.server.completion import CompletionRequest, run_completion
    from codeward.server.settings import Settings

    e = Engine(tiny_model_dir, EngineSettings())
    e.manifest.context_length = 200
    settings = Settings()
    settings.context.max_prompt_tokens = 1000
    text = "".join(f"value_{i} = compute({i})\n" for i in range(300)) + "x = "
    req = CompletionRequest(uri="file:///t.py", path="", language="python", version=1, text=text,
                            offset=len(text), settings=settings)
    try:
        result = run_completion(e, Pipeline.from_settings({}, {}), req, threading.Event(), "id")
        assert 100 < result.prompt_tokens <= 200 - settings.engine.single_line_max_tokens
    finally:
        e.close()


def test_prompt_is_the_same_as_editors_save_the_file(engine: Engine) -> None:
    """A final newline (LF or CRLF) after the cursor line must not change what the model
    sees: the shipped model answered the README demo differently after a lone newline."""
    budget = context.split_budget(512, 0.25, 0.2)
    prefix = "class Point:\n    def __init__(self"
    bare = context.build_prompt(engine.family, prefix, "", engine, budget).text
    for suffix in ("\n", "\n\n", "\r\n", "  \n"):
        assert context.build_prompt(engine.family, prefix, suffix, engine, budget).text == bare
    crlf = context.build_prompt(engine.family, prefix.replace("\n", "\r\n"), "\r\nx = 1\r\n",
                                engine, budget)
    assert crlf.text == context.build_prompt(engine.family, prefix, "\nx = 1\n", engine,
                                             budget).text
