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
from pathlib import Path
from typing import Any

import httpx

from connectors.errors import ConnectorError
from connectors.http import MemoryRateBudget, RetryPolicy, StaticToken
from connectors.miro.client import DEFAULT_API_URL, MiroClient

PROVIDER_MODULES: tuple[str, ...] = ("dump_mural",)

# A CLI run has nobody to hand a long rate-limit wait to: sit out a whole Miro minute window.
_CLI_POLICY = RetryPolicy(max_inline_wait=65.0, max_total_wait=300.0)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dump",
        help="write a live Miro or Mural board as a dump file",
        description="Fetch a board from the provider's REST API and write it as a dump (JSON).",
    )
    providers = parser.add_subparsers(dest="provider", metavar="PROVIDER", required=True)
    miro = providers.add_parser(
        "miro",
        help="dump a Miro board",
        description=(
            "Fetch a Miro board (items, connectors, tags) with an access token that has "
            "boards:read and write the Miro dump."
        ),
    )
    miro.add_argument("board_id", metavar="BOARD_ID", help="Miro board id, e.g. uXjVO1a2b3c=")
    miro.add_argument(
        "--token",
        metavar="TOKEN",
        default=os.environ.get("VSM_MIRO_TOKEN"),
        help="Miro access token (default: $VSM_MIRO_TOKEN)",
    )
    miro.add_argument(
        "-o", "--output", metavar="FILE", type=Path, help="write here instead of stdout"
    )
    miro.add_argument(
        "--api-url",
        metavar="URL",
        default=os.environ.get("VSM_MIRO__API_URL", DEFAULT_API_URL),
        help=f"Miro REST API base URL (default: $VSM_MIRO__API_URL or {DEFAULT_API_URL})",
    )
    miro.set_defaults(handler=run_dump_miro)
    for name in PROVIDER_MODULES:
        module_name = f"{__package__}.{name}"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(providers)


def _fail(message: str) -> int:
    one_line = " ".join(message.split())
    print(f"vsm: error: {one_line}", file=sys.stderr)
    return 2


async def fetch_miro_dump(board_id: str, token: str, api_url: str) -> dict[str, Any]:
    """The board as a Miro dump, fetched with one static token."""
    async with httpx.AsyncClient(follow_redirects=False) as http:
        client = MiroClient(
            http, StaticToken(token), MemoryRateBudget(), api_url, policy=_CLI_POLICY
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


def run_dump_miro(args: argparse.Namespace) -> int:
    if not args.token:
        return _fail("a Miro access token is needed: --token TOKEN or $VSM_MIRO_TOKEN")
    api_url = str(args.api_url)
    if not api_url.startswith(("https://", "http://")):
        return _fail(f"--api-url must be an http(s) URL, got {api_url[:80]!r}")
    try:
        dump = asyncio.run(fetch_miro_dump(args.board_id, args.token, api_url))
    except ConnectorError as exc:
        return _fail(f"Miro board {args.board_id[:80]!r}: {exc}")
    except ValueError:
        return _fail(f"{args.board_id[:80]!r} is not a Miro board id")
    except httpx.InvalidURL:
        return _fail(f"--api-url is not a valid URL: {api_url[:80]!r}")
    try:
        write_json(dump, args.output)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
    if args.output is not None:
        print(
            f"wrote {len(dump['items'])} items, {len(dump['connectors'])} connectors and "
            f"{len(dump['tags'])} tags to {args.output}",
            file=sys.stderr,
        )
    return 0
