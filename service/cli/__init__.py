"""The ``vsm`` command line: one argparse parser whose subcommands live in sibling modules.

Each command module has ``register(subparsers) -> None``; it adds its subparser and sets
``handler`` (a function ``(args) -> int``) as the parser default. Modules named in
``COMMAND_MODULES`` that are not installed (yet) are skipped; one that exists but fails to
import raises, so a broken command never disappears silently.

A command imports only what it uses: ``COMMANDS`` says which module registers each command, so
``vsm import FILE`` imports ``imports`` alone (not the server's, the diff's or the live dump's
dependencies), and the version is looked up only for ``--version``. Without a known command
(``vsm --help``, a typo) every module registers, so help and errors list them all.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from service.gc_tuning import tune_gc

# Registration order is the order ``vsm --help`` lists the commands in.
COMMAND_MODULES: tuple[str, ...] = ("imports", "explain", "diff", "dump", "server")

# command -> the module that registers it (tests/cli/test_cli_basics.py checks it is complete)
COMMANDS: dict[str, str] = {
    "import": "imports",
    "explain": "explain",
    "diff": "diff",
    "dump": "dump",
    "serve": "server",
    "worker": "server",
    "beat": "server",
    "health": "server",
    "db": "server",
    "keys": "server",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("valuestream")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked (importlib.metadata
    scans the installed distributions)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        sys.stdout.write(f"{parser.prog} {_version()}\n")
        parser.exit()


def _command(argv: list[str]) -> str | None:
    """The command ``argv`` names, when it is the first argument and a known one."""
    first = argv[0] if argv else None
    return first if first in COMMANDS else None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``vsm`` parser; given ``argv`` that names a known command, with that command only."""
    parser = argparse.ArgumentParser(
        prog="vsm",
        description="Digitize value stream mapping workshops from Miro and Mural boards.",
        epilog="example: vsm serve --demo   (then open the printed link in a browser)",
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    command = _command(argv) if argv is not None else None
    modules = (COMMANDS[command],) if command is not None else COMMAND_MODULES
    for name in modules:
        module_name = f"{__name__}.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``vsm``; returns the exit status (0 success, 2 usage or input error)."""
    tune_gc()
    arguments = argv if argv is not None else sys.argv[1:]
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    status: int = args.handler(args)
    return status
