"""One coherent CLI: every option has help, --log-level everywhere (and validated), bare
``codeward`` prints help, exit codes 0 / 1 / 2, one-shot commands quiet by default."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from codeward.server.cli import _every_parser, build_parser, main


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("codeward",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                if child.add_help:  # unavailable groups take no options at all
                    yield from _commands(child, (*path, name))


def test_every_option_has_help_and_the_common_options() -> None:
    missing = []
    for path, parser in _commands(build_parser()):
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction | argparse._VersionAction |
                              argparse._SubParsersAction) and not action.help:
                missing.append((" ".join(path), action.option_strings or action.dest))
        assert "--log-level" in parser._option_string_actions, path
        for flag in ("--json",):
            action = parser._option_string_actions.get(flag)
            assert action is None or action.nargs == 0, (path, "--json must be a flag")
    assert missing == []
    assert len(list(_every_parser(build_parser()))) > 10


@pytest.mark.parametrize("argv", [["events", "stats", "--log-level", "nope"],
                                  ["complete", "x.py:1:1", "--log-level", "loud"]])
def test_bad_log_level_is_a_usage_error(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "expected one of DEBUG" in capsys.readouterr().err


def test_log_level_accepted_by_nested_commands(tmp_path: Path, capsys) -> None:
    db = tmp_path / "ev.db"
    # (not DEBUG in process: the root handler would outlive this test's captured stderr)
    assert main(["events", "stats", "--store", f"sqlite:///{db}", "--log-level", "error"]) == 0


def test_bare_codeward_prints_help_and_exit_codes() -> None:
    proc = subprocess.run([sys.executable, "-m", "codeward.server.cli"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: codeward")
    assert "exit status: 0 ok; 1 no result" in proc.stdout


def test_bad_location_exits_2_and_one_shot_is_quiet(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("x = 1\n")
    for location in (f"{src}:9:1", f"{src}:1:99", str(src)):
        proc = subprocess.run([sys.executable, "-m", "codeward.server.cli", "vet", location,
                               "--text", "y = 2", "--no-wait"], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 2 and proc.stderr.startswith("codeward: "), proc.stderr
    proc = subprocess.run([sys.executable, "-m", "codeward.server.cli", "vet", f"{src}:2:1",
                           "--text", "y = 2\n", "--no-wait"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert " INFO " not in proc.stderr  # warnings only by default


def test_a_reader_that_goes_away_is_not_a_traceback() -> None:
    """`codeward settings schema | head -c 10`: the pipe closes before the output is
    written; the command ends quietly with SIGPIPE's exit status, not a traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "codeward.server.cli", "settings", "schema"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err
