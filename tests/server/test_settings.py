from __future__ import annotations

from pathlib import Path

from codeward.server.settings import Settings, SettingsResolver, find_project_file, merge


def test_defaults_are_complete() -> None:
    s = Settings()
    assert s.engine.compute_type == "int8"
    assert s.engine.intra_threads == 1
    assert 0 < s.context.suffix_share < 1


def test_merge_nested_and_aliases() -> None:
    s, errors = merge(Settings(), {"codeward": {"engine": {"max-new-tokens": 16},
                                                "completion": {"languages": ["python", "go"]}}})
    assert errors == []
    assert s.engine.max_new_tokens == 16
    assert s.completion.languages == ["python", "go"]


def test_bad_values_keep_defaults_with_one_message_each() -> None:
    s, errors = merge(Settings(), {
        "engine": {"max_new_tokens": "many", "inter_threads": 2},
        "context": {"suffix_share": 5.0},
        "nonsense": 1,
    })
    assert s.engine.max_new_tokens == Settings().engine.max_new_tokens
    assert s.engine.inter_threads == 2
    assert s.context.suffix_share == Settings().context.suffix_share
    assert any("engine.max_new_tokens" in e and "expected an integer" in e for e in errors)
    assert any("context.suffix_share" in e for e in errors)
    assert any("nonsense" in e and "unknown" in e for e in errors)


def test_bool_is_not_an_int() -> None:
    s, errors = merge(Settings(), {"engine": {"max_queue": True}})
    assert s.engine.max_queue == Settings().engine.max_queue
    assert errors


def test_not_a_table() -> None:
    s, errors = merge(Settings(), ["not", "a", "table"])
    assert s == Settings()
    assert errors


def test_project_file_wins_over_editor(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname='x'\n[tool.codeward.engine]\nmax_new_tokens = 24\n")
    src = tmp_path / "pkg" / "mod.py"
    src.parent.mkdir()
    src.write_text("x = 1\n")
    resolver = SettingsResolver()
    resolver.set_user({"engine": {"max_new_tokens": 48, "single_line_max_tokens": 12}})
    s = resolver.for_path(src)
    assert s.engine.max_new_tokens == 24
    assert s.engine.single_line_max_tokens == 12
    assert find_project_file(src) == tmp_path / "pyproject.toml"


def test_pyproject_without_table_is_skipped(tmp_path: Path) -> None:
    (tmp_path / ".codeward.toml").write_text("[engine]\nmax_new_tokens = 20\n")
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text("[project]\nname='x'\n")
    assert find_project_file(inner / "a.py") == tmp_path / ".codeward.toml"
    assert SettingsResolver().for_path(inner / "a.py").engine.max_new_tokens == 20


def test_invalid_toml_reported_once(tmp_path: Path) -> None:
    (tmp_path / ".codeward.toml").write_text("[engine\nbroken")
    messages: list[str] = []
    resolver = SettingsResolver(report=messages.append)
    for _ in range(3):
        s = resolver.for_path(tmp_path / "a.py")
        resolver._cache.clear()
    assert s == Settings()
    assert len(messages) == 1 and "invalid TOML" in messages[0]


def test_project_file_reloaded_when_changed(tmp_path: Path) -> None:
    import os

    cfg = tmp_path / ".codeward.toml"
    cfg.write_text("[engine]\nmax_new_tokens = 20\n")
    resolver = SettingsResolver()
    assert resolver.for_path(tmp_path / "a.py").engine.max_new_tokens == 20
    cfg.write_text("[engine]\nmax_new_tokens = 30\n")
    st = cfg.stat()
    os.utime(cfg, (st.st_atime, st.st_mtime + 5))
    assert resolver.for_path(tmp_path / "a.py").engine.max_new_tokens == 30


def test_codeward_toml_takes_bare_and_tool_tables(tmp_path: Path) -> None:
    from codeward.server.settings import SettingsResolver

    reported: list[str] = []
    (tmp_path / ".codeward.toml").write_text(
        "[engine]\nmax_queue = 3\n[completion]\nmax_lines = 4\n\n"
        "[tool.codeward.engine]\nmax_new_tokens = 40\n[tool.codeward.completion]\n"
        "max_lines = 5\n")
    s = SettingsResolver(report=reported.append).for_path(tmp_path / "m.py")
    assert (s.engine.max_queue, s.engine.max_new_tokens, s.completion.max_lines) == (3, 40, 5)
    assert reported == []  # no "unknown setting" for [tool]


def test_checked_in_schema_is_the_generated_one() -> None:
    from codeward.server.schema import render

    checked_in = Path(__file__).parents[2] / "codeward-settings.schema.json"
    assert checked_in.read_text("utf-8") == render(), (
        "codeward-settings.schema.json is stale: run "
        "'codeward settings schema -o codeward-settings.schema.json'")


def _keys(table: dict, path: tuple = ()):
    for key, value in table.items():
        yield (*path, key), value
        if isinstance(value, dict):
            yield from _keys(value, (*path, key))


def test_schema_knows_every_setting_the_readme_shows() -> None:
    import json
    import re
    import tomllib

    from codeward.server.schema import settings_schema

    schema = settings_schema()
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    blocks = re.findall(r"^```toml\n(.*?)^```", readme, re.S | re.M)
    assert blocks
    for block in blocks:
        for path, value in _keys(tomllib.loads(block)):
            node = schema
            for key in path:
                if key == "codeward" and node is schema["properties"]["tool"]:
                    node = schema
                    continue
                props = node.get("properties", {})
                assert key in props or isinstance(node.get("additionalProperties"), dict), \
                    (path, json.dumps(node)[:200])
                node = props.get(key, node.get("additionalProperties"))
            if not isinstance(value, dict) and "type" in node:
                kind = {bool: "boolean", int: ("integer", "number"), float: "number",
                        str: "string", list: "array"}[type(value)]
                assert node["type"] in (kind if isinstance(kind, tuple) else (kind,)), path
