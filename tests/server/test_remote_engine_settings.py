"""``[tool.codeward.engine]`` for the remote backend: validation, what a project file may
not set, a project file's URL refused until the user confirms it, the trust store."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeward.server import trust
from codeward.server.settings import Settings, SettingsResolver, merge


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def project(tmp_path: Path, engine: str) -> Path:
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    (root / ".codeward.toml").write_text("[engine]\n" + engine)
    return root / "mod.py"


def resolve(path: Path, user: dict | None = None) -> tuple[Settings, list[str]]:
    told: list[str] = []
    resolver = SettingsResolver(report=told.append)
    resolver.set_user(user)
    return resolver.for_path(path), told


def test_backend_validation() -> None:
    s, errors = merge(Settings(), {"engine": {"backend": "openai"}})
    assert s.engine.backend == "ctranslate2" and "needed when engine.backend" in errors[0]
    s, errors = merge(Settings(), {"engine": {"backend": "openai", "url": "ftp://x"}})
    assert s.engine.backend == "ctranslate2" and "http:// or https://" in errors[0]
    s, errors = merge(Settings(), {"engine": {"backend": "grpc"}})
    assert "engine.backend" in errors[0]
    s, errors = merge(Settings(), {"engine": {"timeout": 10_000}})
    assert "out of range" in errors[0] and s.engine.timeout == 5.0
    s, errors = merge(Settings(), {"engine": {"backend": "openai", "url": "http://gpu:8000"}})
    assert not errors and s.engine.verify_tls is True


def test_project_url_refused_until_trusted(tmp_path: Path) -> None:
    path = project(tmp_path, 'backend = "openai"\nurl = "https://Evil.example:8443/v1"\n')
    settings, told = resolve(path)
    assert settings.engine.backend == "ctranslate2" and settings.engine.url == ""
    assert len(told) == 1 and "codeward engine trust https://evil.example:8443" in told[0]
    assert trust.trust("https://evil.example:8443/other/path") == "https://evil.example:8443"
    settings, told = resolve(path)
    assert (settings.engine.backend, settings.engine.url) == (
        "openai", "https://Evil.example:8443/v1")
    assert not told
    assert trust.untrust("https://evil.example:8443")
    assert resolve(path)[0].engine.backend == "ctranslate2"


def test_project_may_use_the_users_own_url(tmp_path: Path) -> None:
    path = project(tmp_path, 'url = "http://gpu:8000/v1"\nmodel = "team-lora"\n')
    user = {"engine": {"backend": "openai", "url": "http://gpu:8000"}}
    settings, told = resolve(path, user)
    assert settings.engine.url == "http://gpu:8000/v1" and settings.engine.model == "team-lora"
    assert not told
    # a different host keeps the user's URL (and their backend)
    path = project(tmp_path, 'url = "http://elsewhere:8000"\n')
    settings, told = resolve(path, user)
    assert settings.engine.url == "http://gpu:8000" and "not confirmed" in told[0]


def test_project_cannot_set_user_only_engine_settings(tmp_path: Path) -> None:
    path = project(tmp_path, 'verify-tls = false\napi_key_env = "AWS_SECRET_ACCESS_KEY"\n'
                   'ca_bundle = "/tmp/evil.pem"\nmax_new_tokens = 40\n')
    settings, told = resolve(path)
    assert settings.engine.verify_tls is True and settings.engine.ca_bundle == ""
    assert settings.engine.api_key_env == "CODEWARD_ENGINE_API_KEY"
    assert settings.engine.max_new_tokens == 40  # the rest of the section still applies
    assert sum("can only be set in your own" in m for m in told) == 3
    # the user's own settings may
    settings, _ = resolve(path, {"engine": {"verify_tls": False}})
    assert settings.engine.verify_tls is False


def test_origin_normalises_and_refuses_non_http() -> None:
    assert trust.origin("HTTP://Host/v1") == "http://host:80"
    assert trust.origin("https://[::1]:9/x") == "https://[::1]:9"
    with pytest.raises(ValueError):
        trust.origin("file:///etc/passwd")
    assert not trust.is_trusted("not a url")


def test_unreadable_trust_file_trusts_nothing(config_home: Path) -> None:
    trust.trust("http://a:1")
    trust.trust_path().write_text("{broken")
    assert trust.trusted() == [] and not trust.is_trusted("http://a:1")
