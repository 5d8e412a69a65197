"""``vsm dump miro BOARD_ID --token TOKEN [-o FILE]``: write a live board as a dump file.

The dump is the same JSON ``vsm import`` and the service read, fetched from the provider's REST
API. Provider subcommands: ``miro`` here; other providers' modules listed in
``PROVIDER_MODULES`` add theirs with ``register(provider_subparsers)`` once they exist. Errors
(refused token, missing board, rate limit, unwritable file) end with exit status 2 and one line
``vsm: error: ...`` on stderr; the token is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx

from connectors.errors import ConnectorError
from connectors.http import SYSTEM_CLOCK, MemoryRateBudget, RetryPolicy, StaticToken
from connectors.miro.client import DEFAULT_API_URL, MiroClient
from service.cli.progress import FetchWatch, live_line, show_progress

PROVIDER_MODULES: tuple[str, ...] = ("dump_mural",)

# A CLI run has nobody to hand a long rate-limit wait to: sit out a whole minute window (Miro's
# credits, Mural's app bucket).
CLI_POLICY = RetryPolicy(max_inline_wait=65.0, max_total_wait=300.0)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dump",
        help="write a live Miro or Mural board as a dump file",
        description="Fetch a board from the provider's REST API and write it as a dump (JSON).",
        epilog="example: vsm dump miro uXjVO1a2b3c= -o board.json && vsm import board.json",
    )
    providers = parser.add_subparsers(dest="provider", metavar="PROVIDER", required=True)
    add_provider_parser(
        providers,
        "miro",
        help="dump a Miro board",
        description=(
            "Fetch a Miro board (items, connectors, tags) with an access token that has "
            "boards:read and write the Miro dump."
        ),
        id_dest="board_id",
        id_metavar="BOARD_ID",
        id_help="Miro board id, e.g. uXjVO1a2b3c=",
        label="Miro",
        api_name="Miro REST API",
        default_api_url=DEFAULT_API_URL,
        handler=run_dump_miro,
    )
    for name in PROVIDER_MODULES:
        module_name = f"{__package__}.{name}"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(providers)


def add_provider_parser(
    providers: Any,
    name: str,
    *,
    help: str,
    description: str,
    id_dest: str,
    id_metavar: str,
    id_help: str,
    label: str,
    api_name: str,
    default_api_url: str,
    handler: Callable[[argparse.Namespace], int],
) -> None:
    """``vsm dump <name> ID --token TOKEN [-o FILE] [--api-url URL]``; the token defaults to
    ``$VSM_<NAME>_TOKEN``, the URL to ``$VSM_<NAME>__API_URL``, then ``default_api_url``."""
    token_env = _token_env(name)
    api_env = f"VSM_{name.upper()}__API_URL"
    parser = providers.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"example: {token_env}=... vsm dump {name} {id_help.rsplit(' ', 1)[-1]} "
        "-o board.json",
    )
    parser.add_argument(id_dest, metavar=id_metavar, help=id_help)
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        default=os.environ.get(token_env),
        help=f"{label} access token (default: ${token_env})",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", type=Path, help="write here instead of stdout"
    )
    parser.add_argument(
        "--api-url",
        metavar="URL",
        default=os.environ.get(api_env, default_api_url),
        help=f"{api_name} base URL (default: ${api_env} or {default_api_url})",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress display and no summary line (progress shows only on a terminal)",
    )
    parser.set_defaults(handler=handler)


def _token_env(provider: str) -> str:
    return f"VSM_{provider.upper()}_TOKEN"


def _fail(message: str) -> int:
    one_line = " ".join(message.split())
    print(f"vsm: error: {one_line}", file=sys.stderr)
    return 2


async def fetch_miro_dump(
    board_id: str, token: str, api_url: str, watch: FetchWatch | None = None
) -> dict[str, Any]:
    """The board as a Miro dump, fetched with one static token; ``watch`` sees its progress."""
    hooks = watch.hooks if watch is not None else {}
    async with httpx.AsyncClient(follow_redirects=False, event_hooks=hooks) as http:
        client = MiroClient(
            http,
            StaticToken(token),
            MemoryRateBudget(),
            api_url,
            policy=CLI_POLICY,
            clock=watch.clock if watch is not None else SYSTEM_CLOCK,
        )
        return await client.fetch_board(board_id)


def write_json(doc: object, output: Path | None) -> None:
    """Write ``doc`` to ``output`` atomically (a failed write leaves no half file), or stdout."""
    text = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    directory = output.parent if str(output.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_dump(
    args: argparse.Namespace,
    object_id: str,
    fetch: Callable[[str, str, str, FetchWatch], Coroutine[Any, Any, dict[str, Any]]],
    *,
    label: str,
    subject: str,
    not_an_id: str,
    summary: Callable[[dict[str, Any]], str],
) -> int:
    """Fetch ``object_id`` with ``fetch(object_id, token, api_url, watch)`` and write the dump
    (progress on a terminal unless ``--quiet``); exit
    status 0, or 2 after one ``vsm: error:`` line naming ``subject`` (never the token).
    ``label`` is the provider's name in messages (``Miro``: token from ``$VSM_MIRO_TOKEN``).

    ``summary`` says what a dump written to a file holds (``"3 items, ..."``), on stderr.
    """
    if not args.token:
        return _fail(f"a {label} access token is needed: --token TOKEN or ${_token_env(label)}")
    api_url = str(args.api_url)
    if not api_url.startswith(("https://", "http://")):
        return _fail(f"--api-url must be an http(s) URL, got {api_url[:80]!r}")
    watch = FetchWatch(label)
    try:
        with live_line(watch.line, show_progress(args.quiet)):
            dump = asyncio.run(fetch(object_id, args.token, api_url, watch))
    except ConnectorError as exc:
        return _fail(f"{subject} {object_id[:80]!r}: {exc}")
    except ValueError:
        return _fail(f"{object_id[:80]!r} is not {not_an_id}")
    except httpx.InvalidURL:
        return _fail(f"--api-url is not a valid URL: {api_url[:80]!r}")
    try:
        write_json(dump, args.output)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
    if args.output is not None and not args.quiet:
        print(f"wrote {summary(dump)} to {args.output}", file=sys.stderr)
    return 0


def run_dump_miro(args: argparse.Namespace) -> int:
    return run_dump(
        args,
        args.board_id,
        fetch_miro_dump,
        label="Miro",
        subject="Miro board",
        not_an_id="a Miro board id",
        summary=lambda dump: (
            f"{len(dump['items'])} items, {len(dump['connectors'])} connectors and "
            f"{len(dump['tags'])} tags"
        ),
    )
