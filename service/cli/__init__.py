"""The ``vsm`` command line: one argparse parser whose subcommands live in sibling modules.

Each command module has ``register(subparsers) -> None``; it adds its subparser and sets
``handler`` (a function ``(args) -> int``) as the parser default. Modules named in
``COMMAND_MODULES`` that are not installed (yet) are skipped; one that exists but fails to
import raises, so a broken command never disappears silently.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

# Registration order is the order ``vsm --help`` lists the commands in.
COMMAND_MODULES: tuple[str, ...] = ("imports", "explain", "diff", "dump", "server")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("valuestream")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsm",
        description="Digitize value stream mapping workshops from Miro and Mural boards.",
        epilog="example: vsm serve --demo   (then open the printed link in a browser)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module_name = f"{__name__}.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``vsm``; returns the exit status (0 success, 2 usage or input error)."""
    parser = build_parser()
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    status: int = args.handler(args)
    return status
