"""``vsm dump <provider> ID --token TOKEN [-o FILE]``: write a live board as a dump file.

The dump is the same JSON ``vsm import`` and the service read, fetched from the provider's REST
API. One subcommand per provider of the registry (:data:`service.providers.REGISTRY`), with the
provider's own words from its :class:`connectors.provider.DumpCommand`. Errors (refused token,
missing board, rate limit, unwritable file) end with exit status 2 and one line
``vsm: error: ...`` on stderr; the token is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from connectors.errors import ConnectorError
from connectors.http import SYSTEM_CLOCK, RetryPolicy
from connectors.provider import Json, Registration
from service.cli.progress import FetchWatch, live_line, show_progress
from service.providers import REGISTRY

# A CLI run has nobody to hand a long rate-limit wait to: sit out a whole minute window (Miro's
# credits, Mural's app bucket).
CLI_POLICY = RetryPolicy(max_inline_wait=65.0, max_total_wait=300.0)


def register(subparsers: Any) -> None:
    labels = " or ".join(r.label for r in REGISTRY)
    parser = subparsers.add_parser(
        "dump",
        help=f"write a live {labels} board as a dump file",
        description="Fetch a board from the provider's REST API and write it as a dump (JSON).",
        epilog="example: vsm dump miro uXjVO1a2b3c= -o board.json && vsm import board.json",
    )
    providers = parser.add_subparsers(dest="provider", metavar="PROVIDER", required=True)
    for registration in REGISTRY:
        add_provider_parser(providers, registration)


def add_provider_parser(providers: Any, registration: Registration) -> None:
    """``vsm dump <name> ID --token TOKEN [-o FILE] [--api-url URL]``; the token defaults to
    ``$VSM_<NAME>_TOKEN``, the URL to ``$VSM_<NAME>__API_URL``, then the provider's own."""
    name, words = registration.name, registration.dump
    token_env = _token_env(name)
    api_env = f"VSM_{name.upper()}__API_URL"
    default_api_url = registration.default_api_url
    parser = providers.add_parser(
        name,
        help=words.help,
        description=words.description,
        epilog=f"example: {token_env}=... vsm dump {name} {words.id_help.rsplit(' ', 1)[-1]} "
        "-o board.json",
    )
    parser.add_argument(words.id_dest, metavar=words.id_metavar, help=words.id_help)
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        default=os.environ.get(token_env),
        help=f"{registration.label} access token (default: ${token_env})",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", type=Path, help="write here instead of stdout"
    )
    parser.add_argument(
        "--indent",
        metavar="N",
        type=int,
        choices=range(9),
        help="indent the JSON by N spaces for people to read (default: compact, one line)",
    )
    parser.add_argument(
        "--api-url",
        metavar="URL",
        default=os.environ.get(api_env, default_api_url),
        help=f"{words.api_name} base URL (default: ${api_env} or {default_api_url})",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress display and no summary line (progress shows only on a terminal)",
    )
    parser.set_defaults(handler=lambda args: run_dump(args, registration))


def _token_env(provider: str) -> str:
    return f"VSM_{provider.upper()}_TOKEN"


def _fail(message: str) -> int:
    one_line = " ".join(message.split())
    print(f"vsm: error: {one_line}", file=sys.stderr)
    return 2


async def fetch_dump(
    registration: Registration,
    external_id: str,
    token: str,
    api_url: str,
    watch: FetchWatch | None = None,
) -> Json:
    """The board as the provider's dump, fetched with one static token; ``watch`` sees its
    progress."""
    hooks = watch.hooks if watch is not None else {}
    clock = watch.clock if watch is not None else SYSTEM_CLOCK
    async with httpx.AsyncClient(follow_redirects=False, event_hooks=hooks) as http:
        return await registration.dump.fetch(http, external_id, token, api_url, CLI_POLICY, clock)


def write_json(doc: object, output: Path | None, indent: int | None = None) -> None:
    """Write ``doc`` to ``output`` atomically (a failed write leaves no half file), or stdout.

    Compact unless ``indent`` is given: machines read dumps far more often than people, and
    the indentation only adds bytes to write, store and parse again."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(doc, ensure_ascii=False, indent=indent, separators=separators) + "\n"
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


def run_dump(args: argparse.Namespace, registration: Registration) -> int:
    """Fetch the board named on the command line and write the dump (progress on a terminal
    unless ``--quiet``); exit status 0, or 2 after one ``vsm: error:`` line naming the board
    (never the token). A dump written to a file is summed up on stderr (``"3 items, ..."``).
    """
    words, label = registration.dump, registration.label
    object_id = str(getattr(args, words.id_dest))
    if not args.token:
        return _fail(
            f"a {label} access token is needed: --token TOKEN or ${_token_env(registration.name)}"
        )
    api_url = str(args.api_url)
    if not api_url.startswith(("https://", "http://")):
        return _fail(f"--api-url must be an http(s) URL, got {api_url[:80]!r}")
    watch = FetchWatch(label)
    try:
        with live_line(watch.line, show_progress(args.quiet)):
            dump = asyncio.run(fetch_dump(registration, object_id, args.token, api_url, watch))
    except ConnectorError as exc:
        return _fail(f"{words.subject} {object_id[:80]!r}: {exc}")
    except ValueError:
        return _fail(f"{object_id[:80]!r} is not {words.not_an_id}")
    except httpx.InvalidURL:
        return _fail(f"--api-url is not a valid URL: {api_url[:80]!r}")
    try:
        write_json(dump, args.output, args.indent)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
    if args.output is not None and not args.quiet:
        print(f"wrote {words.summary(dump)} to {args.output}", file=sys.stderr)
    return 0
