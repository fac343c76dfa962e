"""The OpenAI-compatible client against a real HTTP server (tests/server/fake_openai.py):
streaming and early stop, n candidates, log-probabilities, cancellation closing the stream,
a down or slow server (fallback, breaker), TLS verification, API key, connection reuse."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
import trustme

from codeward.server.engine_api import GenerationRequest, PromptModel
from codeward.server.remote import RemoteEngine, completions_url
from codeward.server.settings import EngineSettings

from fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def prompt_model(tiny_model_dir: Path) -> PromptModel:
    return PromptModel(tiny_model_dir)


def engine(prompt_model: PromptModel, url: str, **kw: object) -> RemoteEngine:
    settings = dataclasses.replace(EngineSettings(), backend="openai", url=url, **kw)
    return RemoteEngine(prompt_model, settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_url_forms() -> None:
    assert completions_url("http://h:8000") == "http://h:8000/v1/completions"
    assert completions_url("http://h:8000/v1/") == "http://h:8000/v1/completions"
    assert completions_url("http://h/x/v1/completions") == "http://h/x/v1/completions"


def test_streams_stops_at_line_end_and_sends_the_fim_prompt(prompt_model: PromptModel) -> None:
    reply = "total = a + b\n    return total\n" + "    x = 1\n" * 50
    with FakeOpenAI(reply, token_delay=0.002) as fake:
        eng = engine(prompt_model, fake.url, model="served-name",
                     extra_body={"cache_prompt": True, "prompt": "not this"})
        prompt = prompt_model.family.format("def add(a, b):\n    ", "\n")
        out = eng.generate(GenerationRequest(prompt=prompt, max_new_tokens=200,
                                             single_line=True))
        eng.close()
        assert not out.unavailable and not out.cancelled
        assert out.texts[0].split("\n")[0] == "total = a + b"
        assert out.logprobs[0] and all(v == -0.05 for v in out.logprobs[0])
        assert out.prompt_tokens == prompt_model.count_tokens(prompt)  # stopped before usage
        body = fake.streams[0].body
        assert body["prompt"] == prompt and body["prompt"].startswith("<fim_prefix>")
        assert body["model"] == "served-name" and body["max_tokens"] == 200
        assert body["stream"] is True and body["temperature"] == 0.0
        assert body["cache_prompt"] is True  # extra_body, under Codeward's own fields
        assert "<fim_prefix>" in body["stop"] and "<|endoftext|>" in body["stop"]
        # the client closed the stream at the line end: the server stopped producing
        stream = fake.streams[0]
        assert stream.ended.wait(5) and stream.closed_early
        assert stream.produced < 40


def test_server_side_stop_and_max_tokens(prompt_model: PromptModel) -> None:
    with FakeOpenAI("a = 1<|endoftext|>junk") as fake:
        eng = engine(prompt_model, fake.url)
        out = eng.generate(GenerationRequest(prompt="x", max_new_tokens=2))
        eng.close()
    assert out.texts == ["a "]  # two tokens: "a", " "
    assert out.prompt_tokens == 7  # the server's usage report
    assert fake.streams[0].body["max_tokens"] == 2


def test_stop_string_passed_through_is_cut(prompt_model: PromptModel) -> None:
    """A server that does not honour ``stop`` (or renders special tokens) is cut here."""
    with FakeOpenAI("b = 2<fim_middle>junk") as fake:
        fake.tokens = lambda body: ["b", " = 2", "<fim_middle>", "junk"]  # type: ignore[method-assign]
        eng = engine(prompt_model, fake.url)
        out = eng.generate(GenerationRequest(prompt="x", max_new_tokens=20))
        eng.close()
    assert out.texts == ["b = 2"]


def test_n_candidates_first_greedy_rest_sampled(prompt_model: PromptModel) -> None:
    with FakeOpenAI("y = 3\n") as fake:
        eng = engine(prompt_model, fake.url, candidates=3)
        out = eng.generate(GenerationRequest(prompt="x", max_new_tokens=8, candidates=3))
        eng.close()
    assert len(out.texts) == 3 and all(t.startswith("y = 3") for t in out.texts)
    assert [len(lp) > 0 for lp in out.logprobs] == [True, True, True]
    first, second = (s.body for s in fake.streams)
    assert (first["n"], first["temperature"]) == (1, 0.0)
    assert second["n"] == 2 and second["temperature"] == 0.8


def test_no_logprobs_from_the_server_gives_none(prompt_model: PromptModel) -> None:
    with FakeOpenAI("z = 4\n", logprob=None) as fake:
        eng = engine(prompt_model, fake.url)
        out = eng.generate(GenerationRequest(prompt="x", max_new_tokens=8))
        eng.close()
    assert out.texts[0].startswith("z = 4") and out.logprobs == [[]]


def test_cancel_closes_the_stream_at_once(prompt_model: PromptModel) -> None:
    with FakeOpenAI("w" + " w" * 400, token_delay=0.01) as fake:
        eng = engine(prompt_model, fake.url)
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        start = time.monotonic()
        out = eng.generate(GenerationRequest(prompt="x", max_new_tokens=800), cancel)
        returned = time.monotonic()
        stream = fake.streams[0]
        assert stream.ended.wait(5)
        eng.close()
    assert out.cancelled and not out.texts
    assert returned - start < 0.6
    assert stream.closed_early and stream.produced < 100  # 800 would take 8 s
    assert stream.ended_at - returned < 0.5  # the server noticed at its next token
    assert eng.breaker.state == "closed"  # a cancellation is no failure


def test_connection_is_reused(prompt_model: PromptModel) -> None:
    with FakeOpenAI("v = 5") as fake:
        eng = engine(prompt_model, fake.url)
        for _ in range(3):
            assert eng.generate(GenerationRequest(prompt="x", max_new_tokens=8)).texts
        eng.close()
    assert len({s.port for s in fake.streams}) == 1


def test_down_server_opens_the_breaker_then_half_opens(prompt_model: PromptModel) -> None:
    port = free_port()
    told: list[str] = []
    settings = dataclasses.replace(EngineSettings(), backend="openai",
                                   url=f"http://127.0.0.1:{port}", breaker_failures=2,
                                   retry_initial=0.3, retry_max=5)
    eng = RemoteEngine(prompt_model, settings, notify=told.append)
    req = GenerationRequest(prompt="x", max_new_tokens=8)
    start = time.monotonic()
    first = eng.generate(req)
    assert first.unavailable.startswith("cannot reach it")
    assert eng.breaker.state == "closed"
    assert eng.generate(req).unavailable and eng.breaker.state == "open"
    assert len(told) == 1 and "not answering" in told[0]
    skipped = eng.generate(req)  # open: not even tried
    assert skipped.unavailable.startswith("circuit open") and not eng.available()
    assert time.monotonic() - start < 1.0
    time.sleep(0.35)
    assert eng.available()
    assert eng.generate(req).unavailable  # the probe fails: open again, back-off doubled
    assert eng.breaker.state == "open" and eng.breaker.delay == pytest.approx(0.6)
    with FakeOpenAI("up = 1") as fake:
        eng.close()
        settings = dataclasses.replace(settings, url=fake.url)
        eng2 = RemoteEngine(prompt_model, settings, notify=told.append)
        eng2.breaker = eng.breaker
        time.sleep(0.65)
        assert eng2.generate(req).texts == ["up = 1"]  # the probe succeeds: closed
        assert eng2.breaker.state == "closed" and eng2.breaker.delay == 0.3
        eng2.close()
    assert len(told) == 1  # one message for the outage, not one per request


def test_slow_server_times_out_without_hanging(prompt_model: PromptModel) -> None:
    with FakeOpenAI("late = 1", first_delay=3.0) as fake:
        eng = engine(prompt_model, fake.url, timeout=0.4)
        start = time.monotonic()
        out = eng.generate(GenerationRequest(prompt="x", max_new_tokens=8))
        took = time.monotonic() - start
        eng.close()
    assert out.unavailable.startswith("no complete answer within 0.4 s")
    assert took < 1.0


def test_http_error_is_a_failure(prompt_model: PromptModel) -> None:
    with FakeOpenAI(status=503) as fake:
        eng = engine(prompt_model, fake.url)
        out = eng.generate(GenerationRequest(prompt="x", max_new_tokens=8))
        eng.close()
    assert out.unavailable.startswith("HTTP 503")


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


def tls_server(ca: trustme.CA) -> FakeOpenAI:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return FakeOpenAI("secure = 1", tls=ctx)


def test_tls_is_verified_by_default(prompt_model: PromptModel, tls_ca: trustme.CA,
                                    tmp_path: Path) -> None:
    with tls_server(tls_ca) as fake:
        eng = engine(prompt_model, fake.url)
        out = eng.generate(GenerationRequest(prompt="x", max_new_tokens=8))
        eng.close()
        assert out.unavailable and "CERTIFICATE_VERIFY_FAILED" in out.unavailable
        assert not fake.streams  # nothing was sent
        bundle = tmp_path / "ca.pem"
        tls_ca.cert_pem.write_to_path(str(bundle))
        eng = engine(prompt_model, fake.url, ca_bundle=str(bundle))
        out = eng.generate(GenerationRequest(prompt="x", max_new_tokens=8))
        eng.close()
    assert out.texts == ["secure = 1"]


def test_api_key_from_the_environment(prompt_model: PromptModel,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_ENGINE_KEY", "sk-test-123")
    with FakeOpenAI("k = 1") as fake:
        eng = engine(prompt_model, fake.url, api_key_env="TEAM_ENGINE_KEY")
        eng.generate(GenerationRequest(prompt="x", max_new_tokens=8))
        eng.close()
    assert fake.streams[0].headers["Authorization"] == "Bearer sk-test-123"


def test_fallback_none_loads_no_local_model_and_serves_nothing(tiny_model_dir: Path) -> None:
    from codeward.server.engine import EngineHost
    from codeward.server.remote import start_remote

    told: list[str] = []
    settings = dataclasses.replace(EngineSettings(), backend="openai", fallback="none",
                                   url=f"http://127.0.0.1:{free_port()}", breaker_failures=1)
    host = EngineHost(settings)
    remote = start_remote(host, tiny_model_dir, settings, told.append)
    try:
        assert host.local is None and host.engine is remote  # no CTranslate2 model loaded
        assert remote.fallback is None
        out = remote.generate(GenerationRequest(prompt="x", max_new_tokens=8))
        assert out.unavailable and host.engine is None  # open: nothing serves
        assert told and "completions use no model" in told[0]
    finally:
        host.close()


def test_api_key_from_the_os_keyring(prompt_model: PromptModel) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]
        store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        with FakeOpenAI("k = 2") as fake:
            keyring.set_password("codeward", f"http://127.0.0.1:{fake.port}", "sk-from-keyring")
            eng = engine(prompt_model, fake.url, api_key_env="", api_key_keyring=True)
            eng.generate(GenerationRequest(prompt="x", max_new_tokens=8))
            eng.close()
            plain = engine(prompt_model, fake.url, api_key_env="")
            plain.generate(GenerationRequest(prompt="x", max_new_tokens=8))
            plain.close()
    finally:
        keyring.set_keyring(previous)
    assert fake.streams[0].headers["Authorization"] == "Bearer sk-from-keyring"
    assert "Authorization" not in fake.streams[1].headers  # keyring off: no key sent


def test_engine_check_command(tmp_path: Path, tiny_model_dir: Path,
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from codeward.server import trust
    from codeward.server.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with FakeOpenAI("return a + b\n") as fake:
        (tmp_path / ".codeward.toml").write_text(
            f'[engine]\nbackend = "openai"\nurl = "{fake.url}"\n'
            f'[model]\npath = "{tiny_model_dir}"\n')
        assert main(["engine", "check", str(tmp_path)]) == 2  # not trusted: ctranslate2
        trust.trust(fake.url)
        assert main(["engine", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert '"text": "return a + b\\n"' in out and '"logprobs": true' in out
