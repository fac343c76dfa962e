"""The ``codeward`` command: parses arguments, configures logging, calls into the code.

Subcommands of other parts register themselves through the ``codeward.commands`` entry
points (:mod:`.commands`; none of them imports torch at registration, so ``codeward serve``
never does).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .commands import load_commands

logger = logging.getLogger("codeward")

def setup_logging(level: str, log_file: str | None) -> None:
    handler: logging.Handler = (logging.FileHandler(log_file) if log_file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    from .logsafe import RedactingFilter

    # secrets are redacted as in the event store; document text only in DEBUG mode
    handler.addFilter(RedactingFilter(keep_text=getattr(logging, level.upper(), 20) <= 10))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    numeric = getattr(logging, level.upper(), logging.INFO)
    root.setLevel(numeric)
    # pygls logs whole messages (people's code) at INFO: only in DEBUG mode.
    logging.getLogger("pygls").setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)


def parse_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT or PORT with a port from 1 to 65535, got {value!r}")
    return host or "127.0.0.1", int(port)


def may_bind(host: str, port: int, option: str, allow_remote: bool) -> bool:
    """Loopback addresses always; others only with ``--allow-remote`` (logged)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return True
    if not allow_remote:
        print(f"codeward: refusing to bind {host} ({option}): not a loopback address. "
              "Completions carry source code; pass --allow-remote to bind it anyway.",
              file=sys.stderr)
        return False
    logger.warning("binding non-loopback address %s:%d for %s (--allow-remote given): anyone "
                   "who can reach it can read it", host, port, option)
    return True


STDIO_BANNER = (
    "codeward serve speaks the Language Server Protocol on stdin/stdout: an editor starts it "
    "(README: Editors), typing here does nothing useful.\n"
    "To see a completion without an editor: codeward complete FILE:LINE:COL. "
    "Ctrl-C stops the server.")


def _stop_on_interrupt(server: Any) -> None:
    """The first Ctrl-C stops the server: the backend closes (events flushed, analyzer
    workers stopped) and the process exits 130, without a traceback (pygls would wait for
    its stdin reader thread)."""
    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C: at once
        print("codeward: interrupted, stopping", file=sys.stderr, flush=True)
        try:
            server.backend.close()
        except Exception:  # noqa: BLE001 - exiting anyway; the log has it
            logger.debug("closing after Ctrl-C failed", exc_info=True)
        finally:
            logging.shutdown()
            os._exit(130)
    signal.signal(signal.SIGINT, stop)


def _port_busy(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound (in use, no such address), or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host}: {exc.strerror or exc}"
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(addr)
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    from .backend import Backend
    from .lsp import create_server

    for option, where in (("--tcp", args.tcp), ("--metrics", args.metrics)):
        if where is not None and not may_bind(where[0], where[1], option, args.allow_remote):
            return 2
    if args.tcp is not None:
        problem = _port_busy(*args.tcp)
        if problem:
            print(f"codeward: {problem} (pick another port with --tcp HOST:PORT)",
                  file=sys.stderr)
            return 1
    metrics = None
    if args.metrics is not None:
        from .metrics import Metrics, serve

        metrics = Metrics()
        try:
            serve(metrics, *args.metrics)
        except OSError as exc:
            print(f"codeward: --metrics: {exc}", file=sys.stderr)
            return 2
    server = create_server(backend=Backend(args.model, metrics=metrics))
    server.max_message_bytes = args.max_message_mb * 1024 * 1024
    _stop_on_interrupt(server)
    if args.tcp is None:
        if sys.stdin.isatty():
            print(STDIO_BANNER, file=sys.stderr, flush=True)
        try:
            server.start_io()
        finally:  # also when `exit` raises SystemExit: never leave a model half loaded
            server.backend.finish_loading()
        # LSP: exit code 0 only if `shutdown` came first; `exit` without it, or the input
        # closing without it (a client that died), is an abnormal end: 1
        return 0 if server.protocol._shutdown else 1
    host, port = args.tcp
    print(f"codeward: listening for LSP clients on {host}:{port} (TCP); Ctrl-C stops it",
          file=sys.stderr, flush=True)
    try:
        server.start_tcp(host, port)
    except OSError as exc:
        print(f"codeward: cannot listen on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    return 0


def _positive_int(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= 4096:
        raise argparse.ArgumentTypeError(f"expected a number of MB from 1 to 4096, got {value!r}")
    return int(value)


def cmd_complete(args: argparse.Namespace) -> int:
    from .manifest import ModelError
    from .oneshot import complete_file

    file, line, col = parse_location(args.location)
    try:
        result = complete_file(file, line, col, model=args.model, candidates=args.candidates,
                               wait=not args.no_wait, record=args.record, progress=sys.stderr)
    except (ModelError, OSError, UnicodeDecodeError) as exc:
        print(f"codeward: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        if not result["candidates"]:
            print(f"(no completion: {result['reason'] or 'empty'})", file=sys.stderr)
        for cand in result["candidates"]:
            print(cand["text"])
            if cand["findings"]:
                for f in cand["findings"]:
                    print(f"  [{cand['action']}] {f.get('rule_id')}: {f.get('message')}",
                          file=sys.stderr)
        blocked = result.get("blocked", [])
        if blocked:
            print(f"({len(blocked)} candidate(s) blocked by vetting)", file=sys.stderr)
    return 0 if result["candidates"] else 1


def cmd_vet(args: argparse.Namespace) -> int:
    from .oneshot import vet_file

    file, line, col = parse_location(args.location)
    result = vet_file(file, line, col, args.text, wait=not args.no_wait, progress=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"{result.action}  ({result.elapsed_ms:.1f} ms)")
        for f in result.findings:
            print(f"  line {f.line}: [{f.action}] {f.rule_id} {f.severity}/{f.confidence}: "
                  f"{f.message}  {f.reference}")
        if result.action == "fix":
            print("fixed text:")
            print(result.text)
    return {"allow": 0, "annotate": 0, "fix": 0}.get(result.action, 1)


def cmd_settings_schema(args: argparse.Namespace) -> int:
    from .schema import render

    if args.output:
        Path(args.output).write_text(render(), "utf-8")
    else:
        sys.stdout.write(render())
    return 0


def parse_location(value: str) -> tuple[Path, int, int]:
    """FILE:LINE:COL (1-based) as a path and two numbers; a clear exit otherwise."""
    from .oneshot import UsageError

    parts = value.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise UsageError(f"expected FILE:LINE:COL (1-based), got {value!r}")
    return Path(parts[0]), int(parts[1]), int(parts[2])


def cmd_model_info(args: argparse.Namespace) -> int:
    from .manifest import ModelError, read_manifest

    model_dir = Path(args.model_dir)
    try:
        manifest = read_manifest(model_dir)
    except ModelError as exc:
        print(f"codeward: {exc}", file=sys.stderr)
        return 2
    info = json.loads(manifest.to_json())
    info["directory"] = str(model_dir)
    info["size_bytes"] = sum(p.stat().st_size for p in model_dir.iterdir() if p.is_file())
    print(json.dumps(info, indent=2))
    return 0


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
QUIET_COMMANDS = {"complete", "vet", "settings", "events", "license-index", "report"}
"""One-shot commands: warnings only unless --log-level says otherwise (as ruff and uv)."""
EXIT_CODES = """exit status: 0 ok; 1 no result (nothing to suggest, blocked, a store that
cannot be reached); 2 usage error (a bad option, FILE:LINE:COL or argument)"""


def log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(LOG_LEVELS)} (any case), got {value!r}")
    return value.upper()


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", type=log_level, default=argparse.SUPPRESS,
                        metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR (default: INFO "
                        "for serve and the training commands, WARNING for one-shot ones)")
    parser.add_argument("--log-file", default=argparse.SUPPRESS, metavar="FILE",
                        help="log to this file instead of stderr")


def _every_parser(parser: argparse.ArgumentParser):  # type: ignore[no-untyped-def]
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _every_parser(child)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common)
    parser = argparse.ArgumentParser(prog="codeward", parents=[common],
                                     description="Codeward: vetted code completions.",
                                     epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"codeward {__version__}")
    sub = _Subparsers(parser.add_subparsers(dest="command", metavar="COMMAND"), common)

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", type=parse_hostport, metavar="HOST:PORT",
                       help="listen on TCP instead of stdio (127.0.0.1 unless HOST is given)")
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow --tcp and --metrics to bind a non-loopback address")
    serve.add_argument("--metrics", type=parse_hostport, metavar="HOST:PORT",
                       help="serve Prometheus metrics on /metrics (127.0.0.1 unless HOST is "
                            "given; the first free port from PORT to PORT+15)")
    serve.add_argument("--model", help="converted model directory (overrides settings)")
    serve.add_argument("--max-message-mb", type=_positive_int, default=64, metavar="MB",
                       help="largest LSP message accepted (default 64); larger ones are "
                            "skipped and logged")
    serve.set_defaults(func=cmd_serve)

    complete = sub.add_parser("complete", help="print the completion at FILE:LINE:COL (1-based)")
    complete.add_argument("location", metavar="FILE:LINE:COL",
                          help="where the cursor is: file, 1-based line and column")
    complete.add_argument("--model", help="converted model directory")
    complete.add_argument("--candidates", type=int, default=1,
                          help="how many candidates to generate (default 1)")
    complete.add_argument("--json", action="store_true", help="machine-readable output")
    complete.add_argument("--no-wait", action="store_true",
                          help="do not wait for the license index to load (the suggestion "
                               "is then annotated 'not checked')")
    complete.add_argument("--record", action="store_true",
                          help="write the completion event to the event store (one-shot "
                               "commands record nothing by default)")
    complete.set_defaults(func=cmd_complete)

    vet = sub.add_parser("vet", help="vet a suggestion inserted at FILE:LINE:COL (1-based)")
    vet.add_argument("location", metavar="FILE:LINE:COL",
                     help="where the suggestion is inserted: file, 1-based line and column")
    vet.add_argument("--text", required=True, help="the suggestion (use $'...' for newlines)")
    vet.add_argument("--json", action="store_true", help="machine-readable output")
    vet.add_argument("--no-wait", action="store_true",
                     help="do not wait for the license index (status 'warming')")
    vet.set_defaults(func=cmd_vet)

    settings = sub.add_parser("settings", help="the settings' JSON Schema")
    settings_sub = _Subparsers(settings.add_subparsers(dest="settings_command", required=True),
                               common)
    schema = settings_sub.add_parser(
        "schema", help="print the JSON Schema of .codeward.toml / [tool.codeward] (for editors "
                       "that validate TOML, e.g. Even Better TOML)")
    schema.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead")
    schema.set_defaults(func=cmd_settings_schema)

    model = sub.add_parser("model", help="convert and inspect models")
    model_sub = _Subparsers(model.add_subparsers(dest="model_command", required=True), common)
    info = model_sub.add_parser("info", help="show a converted model's manifest")
    info.add_argument("model_dir", help="a converted model directory")
    info.set_defaults(func=cmd_model_info)

    load_commands(sub, model_sub)
    for p in _every_parser(parser):  # subcommands that other parts add take them too
        if "--log-level" not in p._option_string_actions and p.add_help:
            _add_common(p)
    return parser


class _Subparsers:
    """Wraps argparse's subparsers so every subcommand takes the common options too."""

    def __init__(self, action, common: argparse.ArgumentParser) -> None:  # type: ignore[no-untyped-def]
        self._action, self._common = action, common

    def add_parser(self, name: str, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("parents", [self._common])
        return self._action.add_parser(name, **kwargs)

    def add_subparsers(self, parser: argparse.ArgumentParser, **kwargs) -> _Subparsers:  # type: ignore[no-untyped-def]
        """Subcommands of ``parser`` (``codeward finetune run``), taking the common options too."""
        return _Subparsers(parser.add_subparsers(**kwargs), self._common)


def main(argv: list[str] | None = None) -> int:
    from .oneshot import UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:  # bare `codeward`
        parser.print_help()
        return 0
    quiet = args.command in QUIET_COMMANDS
    setup_logging(getattr(args, "log_level", "WARNING" if quiet else "INFO"),
                  getattr(args, "log_file", None))
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"codeward: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`codeward events export | head`): no traceback; stdout
        # goes to /dev/null so the interpreter's final flush cannot raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
