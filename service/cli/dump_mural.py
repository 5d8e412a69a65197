"""``vsm dump mural MURAL_ID --token TOKEN [-o FILE]``: write a live mural as a Mural dump file.

Registered under ``vsm dump`` by :mod:`service.cli.dump`. The dump is ``{"provider": "mural",
"mural", "widgets", "tags"}`` (plus ``"votes"`` when the mural has voting results), fetched
from Mural's public API with an access token holding ``murals:read``. Errors end with exit
status 2 and one line ``vsm: error: ...`` on stderr; the token is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from connectors.errors import ConnectorError
from connectors.http import MemoryRateBudget, RetryPolicy, StaticToken
from connectors.mural.client import DEFAULT_API_URL, MuralClient
from service.cli.dump import write_json

# A CLI run has nobody to hand a long wait to: sit out a whole app window (60 s) if need be.
_CLI_POLICY = RetryPolicy(max_inline_wait=65.0, max_total_wait=300.0)


def register(providers: Any) -> None:
    mural = providers.add_parser(
        "mural",
        help="dump a mural",
        description=(
            "Fetch a mural (widgets, tags, voting results) with an access token that has "
            "murals:read and write the Mural dump."
        ),
    )
    mural.add_argument("mural_id", metavar="MURAL_ID", help="Mural id, e.g. acme7380.1754493659737")
    mural.add_argument(
        "--token",
        metavar="TOKEN",
        default=os.environ.get("VSM_MURAL_TOKEN"),
        help="Mural access token (default: $VSM_MURAL_TOKEN)",
    )
    mural.add_argument(
        "-o", "--output", metavar="FILE", type=Path, help="write here instead of stdout"
    )
    mural.add_argument(
        "--api-url",
        metavar="URL",
        default=os.environ.get("VSM_MURAL__API_URL", DEFAULT_API_URL),
        help=f"Mural public API base URL (default: $VSM_MURAL__API_URL or {DEFAULT_API_URL})",
    )
    mural.set_defaults(handler=run_dump_mural)


def _fail(message: str) -> int:
    print(f"vsm: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


async def fetch_mural_dump(mural_id: str, token: str, api_url: str) -> dict[str, Any]:
    """The mural as a Mural dump, fetched with one static token (per-process pacing)."""
    async with httpx.AsyncClient(follow_redirects=False) as http:
        client = MuralClient(
            http,
            StaticToken(token),
            MemoryRateBudget(),
            MemoryRateBudget(),
            api_url,
            policy=_CLI_POLICY,
        )
        return await client.fetch_mural(mural_id)


def run_dump_mural(args: argparse.Namespace) -> int:
    if not args.token:
        return _fail("a Mural access token is needed: --token TOKEN or $VSM_MURAL_TOKEN")
    api_url = str(args.api_url)
    if not api_url.startswith(("https://", "http://")):
        return _fail(f"--api-url must be an http(s) URL, got {api_url[:80]!r}")
    try:
        dump = asyncio.run(fetch_mural_dump(args.mural_id, args.token, api_url))
    except ConnectorError as exc:
        return _fail(f"mural {args.mural_id[:80]!r}: {exc}")
    except ValueError:
        return _fail(f"{args.mural_id[:80]!r} is not a Mural id")
    except httpx.InvalidURL:
        return _fail(f"--api-url is not a valid URL: {api_url[:80]!r}")
    try:
        write_json(dump, args.output)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
    if args.output is not None:
        votes = f" and votes on {len(dump['votes'])} widgets" if "votes" in dump else ""
        print(
            f"wrote {len(dump['widgets'])} widgets, {len(dump['tags'])} tags{votes} "
            f"to {args.output}",
            file=sys.stderr,
        )
    return 0
