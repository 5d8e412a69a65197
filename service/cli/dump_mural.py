"""``vsm dump mural MURAL_ID --token TOKEN [-o FILE]``: write a live mural as a Mural dump file.

Registered under ``vsm dump`` by :mod:`service.cli.dump`. The dump is ``{"provider": "mural",
"mural", "widgets", "tags"}`` (plus ``"votes"`` when the mural has voting results), fetched
from Mural's public API with an access token holding ``murals:read``. Errors end with exit
status 2 and one line ``vsm: error: ...`` on stderr; the token is never printed.
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx

from connectors.http import SYSTEM_CLOCK, MemoryRateBudget, StaticToken
from connectors.mural.client import DEFAULT_API_URL, MuralClient
from service.cli.dump import CLI_POLICY, add_provider_parser, run_dump
from service.cli.progress import FetchWatch


def register(providers: Any) -> None:
    add_provider_parser(
        providers,
        "mural",
        help="dump a mural",
        description=(
            "Fetch a mural (widgets, tags, voting results) with an access token that has "
            "murals:read and write the Mural dump."
        ),
        id_dest="mural_id",
        id_metavar="MURAL_ID",
        id_help="Mural id, e.g. acme7380.1754493659737",
        label="Mural",
        api_name="Mural public API",
        default_api_url=DEFAULT_API_URL,
        handler=run_dump_mural,
    )


async def fetch_mural_dump(
    mural_id: str, token: str, api_url: str, watch: FetchWatch | None = None
) -> dict[str, Any]:
    """The mural as a Mural dump, fetched with one static token (per-process pacing);
    ``watch`` sees its progress."""
    hooks = watch.hooks if watch is not None else {}
    async with httpx.AsyncClient(follow_redirects=False, event_hooks=hooks) as http:
        client = MuralClient(
            http,
            StaticToken(token),
            MemoryRateBudget(),
            MemoryRateBudget(),
            api_url,
            policy=CLI_POLICY,
            clock=watch.clock if watch is not None else SYSTEM_CLOCK,
        )
        return await client.fetch_mural(mural_id)


def run_dump_mural(args: argparse.Namespace) -> int:
    return run_dump(
        args,
        args.mural_id,
        fetch_mural_dump,
        label="Mural",
        subject="mural",
        not_an_id="a Mural id",
        summary=_summary,
    )


def _summary(dump: dict[str, Any]) -> str:
    votes = f" and votes on {len(dump['votes'])} widgets" if "votes" in dump else ""
    return f"{len(dump['widgets'])} widgets, {len(dump['tags'])} tags{votes}"
