"""Subcommands register through the ``codeward.commands`` entry points; a member whose
import fails on a missing extra never breaks ``codeward --help`` or ``codeward serve``."""

from __future__ import annotations

import importlib.metadata
import logging
import sys

import pytest

from codeward.server import commands
from codeward.server.cli import build_parser, main


def test_every_command_group_registers():
    installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=commands.GROUP)}
    assert installed == commands.BUILTINS  # pyproject.toml and the stale-install fallback agree
    parser = build_parser()
    args = parser.parse_args(["model", "convert", "HF", "OUT"])  # moved into finetune's CLI
    assert args.func.__module__ == "codeward.finetune.cli"
    assert parser.parse_args(["events", "stats"]).func


@pytest.fixture
def broken_group(tmp_path, monkeypatch):
    """A command group whose module needs torch, on an install without it."""
    (tmp_path / "needs_torch_cli.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = importlib.metadata.entry_points(group=commands.GROUP)
    fake = importlib.metadata.EntryPoint(name="train-things", value="needs_torch_cli:register",
                                         group=commands.GROUP)
    monkeypatch.setattr(commands, "entry_points", lambda group: [*real, fake])


def test_missing_extra_does_not_break_help_or_serve(broken_group, capsys, caplog):
    with caplog.at_level(logging.DEBUG, logger="codeward.server.commands"):
        with pytest.raises(SystemExit) as exit_:
            main(["--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "serve" in out and "train-things (unavailable: pip install 'codeward[finetune]')" in out
    assert any("train-things unavailable" in r.getMessage() and r.levelno == logging.DEBUG
               for r in caplog.records)
    assert build_parser().parse_args(["serve", "--tcp", "9999"]).func.__name__ == "cmd_serve"


def test_missing_extra_command_says_what_to_install(broken_group, capsys):
    assert main(["train-things", "--anything", "x"]) == 2
    err = capsys.readouterr().err
    assert "needs the 'finetune' extra" in err and "pip install 'codeward[finetune]'" in err
    assert "download.pytorch.org/whl/cpu" in err and "Traceback" not in err


def test_stale_install_still_has_the_builtin_commands(monkeypatch, caplog):
    monkeypatch.setattr(commands, "entry_points", lambda group: [])
    assert build_parser().parse_args(["events", "stats"]).func
    assert "pip install -e ." in caplog.text


def test_missing_extra_is_named():
    assert commands.missing_extra(ModuleNotFoundError("x", name="transformers.models")) == \
        "finetune"
    assert commands.missing_extra(ModuleNotFoundError("x", name="licensedcode")) == "license"
    assert commands.missing_extra(ModuleNotFoundError("x", name="nonexistent_mod")) is None
    assert commands.missing_extra(ImportError("x")) is None
    assert "codeward" in sys.modules["codeward.server.cli"].__name__


def test_every_command_has_a_help_that_formats():
    """``--help`` of every command and subcommand (argparse %-formats each option's help:
    a stray '%' in one breaks the whole command's help)."""
    import argparse

    def walk(parser, path):
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*path, name])

    seen = 0
    for path, parser in walk(build_parser(), ["codeward"]):
        assert parser.format_help(), path
        seen += 1
    assert seen > 20
