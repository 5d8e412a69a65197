"""Benchmark: a 10,000-item Miro board imported from the stand-in Miro, ours vs ``miro_api``.

The stand-in (testkit/standins/miro_server.py) runs in its own process, adds ``--latency`` seconds
to every request and charges Miro's credits (Level 1 = 50, Level 2 = 100) per token.

Scenario 1, Miro's documented budget (100,000 credits a minute per token): wall time of our full
import (``MiroClient.fetch_board``: board, items, connectors, tags and the per-tag listings) and,
against the same server in the same run, the official Python client ``miro_api`` reading the
items alone with its ``get_all_items`` loop (page size 50, its best case; ``--with-default-limit``
adds a run with its default page size). Target: ours <= half of the client's items-only time.

Scenario 2, a budget that binds (``--tight-credits`` per ``--tight-window`` seconds): the item
rate of ``MiroClient.fetch_items`` against the rate that budget allows
(credits/s / 100 per page * 50 items per page). Target (issue 16): >= 90 %. Here the plain
listing's chain (200 pages at 50 ms) is faster than the budget, so the client skips the split.

Scenario 3, ``--big-items`` (50,000) items and a budget of ``--big-credits`` per ``--big-window``
seconds, which binds, while the plain chain (1,000 pages) would take longer than the budget
needs: ``fetch_items`` against the credit floor, the time fixed windows need to hand out the
plain listing's credits ((ceil(credits / limit) - 1) windows). Target: <= 1.15 x the floor.

``miro_api`` pins urllib3 1.x, so it lives in a separate venv; point ``VSM_BENCH_MIRO_API_PYTHON``
at its interpreter (default ``var/venv-bench/bin/python``; create it with
``python3 -m venv var/venv-bench && var/venv-bench/bin/pip install miro_api``).

Without that interpreter scenario 1 runs ours alone. Every run prints the stand-in's 429 count:
a correct client paces itself and gets none.

Run: ``.venv/bin/python bench/miro_import.py`` (about two minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from connectors.http import MemoryRateBudget, StaticToken
from connectors.miro.client import MiroClient
from testkit.builders import (
    miro_card,
    miro_connector,
    miro_dump,
    miro_frame,
    miro_item,
    miro_shape,
    miro_sticky,
    miro_tag,
    miro_text,
)

ROOT = Path(__file__).resolve().parent.parent

BOARD_ID = "uXjVObench0="
FRAMES = 20


def build_board(seed: int = 7, *, loose: bool = False, size: int = 10_000) -> dict[str, Any]:
    """10,000 items (20 frames; stickies, shapes, texts, cards; some shapes, texts and all
    images outside frames), 2,000 connectors between stickies, 20 tags on 100 stickies each;
    ``size`` scales the counts (the frames and tags stay). ``loose``: the same items with none
    inside a frame (the worst case for the split)."""
    scale = size / 10_000
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    next_id = iter(range(3458764517000000000, 3458764518000000000))
    frame_ids = []
    for f in range(FRAMES):
        frame_id = str(next(next_id))
        frame_ids.append(frame_id)
        items.append(
            miro_frame(frame_id, f"Stream {f}", (f % 5) * 6000.0, (f // 5) * 4000.0, 5600, 3600)
        )

    def place() -> tuple[float, float, str | None]:
        frame = rng.choice(frame_ids)
        return rng.uniform(100, 5500), rng.uniform(100, 3500), None if loose else frame

    stickies = []
    for n in range(round(7000 * scale)):
        x, y, parent = place()
        sticky = miro_sticky(str(next(next_id)), f"Step {n}\nPT {n % 60} min", x, y, parent=parent)
        stickies.append(sticky["id"])
        items.append(sticky)
    for n in range(round(1200 * scale)):
        x, y, parent = place()
        if n < 200 * scale:
            items.append(miro_shape(str(next(next_id)), f"Lane {n}", x - 9000, y, "rectangle"))
        else:
            items.append(
                miro_shape(str(next(next_id)), f"Box {n}", x, y, "rectangle", parent=parent)
            )
    for n in range(round(1000 * scale)):
        x, y, parent = place()
        outside = n < 200 * scale
        items.append(miro_text(str(next(next_id)), f"Label {n}", x, y, None if outside else parent))
    for n in range(round(400 * scale)):
        x, y, parent = place()
        items.append(miro_card(str(next(next_id)), f"Card {n}", x, y, parent))
    for _ in range(size - len(items)):
        items.append(
            miro_item(
                str(next(next_id)),
                "image",
                rng.uniform(-20000, -10000),
                rng.uniform(0, 9000),
                data={"title": "photo", "imageUrl": "https://api.miro.com/v2/boards/x/resources/1"},
            )
        )
    connectors = [
        miro_connector(str(next(next_id)), stickies[i], stickies[(i + 1) % len(stickies)])
        for i in range(round(2000 * scale))
    ]
    tags = [miro_tag(str(3458764500000000 + t), f"tag {t}") for t in range(20)]
    item_tags: dict[str, list[str]] = {}
    for t, tag in enumerate(tags):
        for sticky_id in stickies[t * 100 : (t + 1) * 100]:
            item_tags.setdefault(sticky_id, []).append(tag["id"])
    return miro_dump(items, connectors, tags, item_tags, board_id=BOARD_ID, name="Bench board")


def serve_forever(args: argparse.Namespace) -> None:
    """The child process: one stand-in Miro on 127.0.0.1:PORT until killed."""
    import uvicorn

    from testkit.standins.miro_server import MiroStandIn

    stand_in = MiroStandIn(
        latency=args.latency,
        credits=args.credits,
        window=args.window,
        aligned_windows=False,
    )
    stand_in.add_board(build_board(loose=args.loose, size=args.items))
    for token in args.tokens.split(","):
        stand_in.add_token(token)
    uvicorn.run(stand_in.app(), host="127.0.0.1", port=args.port, log_level="warning")


class StandIn:
    """A stand-in Miro in a child process."""

    def __init__(
        self,
        latency: float,
        credits: int,
        window: float,
        tokens: list[str],
        loose: bool,
        items: int = 10_000,
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            __file__,
            "--serve",
            f"--port={port}",
            f"--latency={latency}",
            f"--credits={credits}",
            f"--window={window}",
            f"--tokens={','.join(tokens)}",
            f"--items={items}",
            *(["--loose"] if loose else []),
        ]
        self.process = subprocess.Popen(command)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/_standin/stats", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the stand-in Miro did not start") from None
                time.sleep(0.2)

    def stats(self) -> dict[str, int]:
        body: dict[str, int] = httpx.get(f"{self.url}/_standin/stats", timeout=5).json()
        return body

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


async def ours(url: str, token: str, *, items_only: bool) -> tuple[float, dict[str, Any]]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as http:
        client = MiroClient(http, StaticToken(token), MemoryRateBudget(), url)
        started = time.perf_counter()
        if items_only:
            dump: dict[str, Any] = {"items": await client.fetch_items(BOARD_ID)}
        else:
            dump = await client.fetch_board(BOARD_ID)
        return time.perf_counter() - started, dump


def official(python: str, url: str, token: str, limit: str) -> tuple[float, int]:
    script = ROOT / "bench" / "miro_api_items.py"
    done = subprocess.run(
        [python, str(script), url, token, BOARD_ID, limit],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"miro_api run failed: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), int(result["items"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--tight-credits", type=int, default=2_000)
    parser.add_argument("--tight-window", type=float, default=2.0)
    parser.add_argument("--big-items", type=int, default=50_000, help="0: skip scenario 3")
    parser.add_argument("--big-credits", type=int, default=30_000)
    parser.add_argument("--big-window", type=float, default=10.0)
    parser.add_argument("--with-default-limit", action="store_true")
    parser.add_argument(
        "--loose", action="store_true", help="no item inside a frame (worst case for the split)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--credits", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--window", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, default=10_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever(args)
        return

    python = os.environ.get("VSM_BENCH_MIRO_API_PYTHON", str(ROOT / "var/venv-bench/bin/python"))
    official_python = python if Path(python).exists() else None
    board = build_board(loose=args.loose)
    n_items, n_conn = len(board["items"]), len(board["connectors"])
    print(
        f"board: {n_items} items, {n_conn} connectors, {len(board['tags'])} tags; "
        f"stand-in latency {args.latency * 1000:.0f} ms per request"
    )

    print("\n[1] Miro's budget: 100,000 credits per minute per token")
    server = StandIn(args.latency, 100_000, 60.0, ["t-ours", "t-client", "t-client10"], args.loose)
    try:
        ours_s, dump = asyncio.run(ours(server.url, "t-ours", items_only=False))
        assert len(dump["items"]) == n_items
        assert len(dump["connectors"]) == n_conn
        stats = server.stats()
        print(
            f"  ours, full import (items+connectors+tags): {ours_s:6.2f} s  "
            f"({stats['requests']} requests, {stats['credits_spent']} credits, "
            f"{stats['rate_limited']} x 429)"
        )
        if official_python is None:
            print(f"  (no miro_api interpreter at {python}: the anchor is skipped, see --help)")
        else:
            client_s, client_n = official(official_python, server.url, "t-client", "50")
            assert client_n == n_items, client_n
            print(f"  miro_api get_all_items, limit=50, items only: {client_s:6.2f} s")
            print(f"  ours / client = {ours_s / client_s:.2f}  (target <= 0.50)")
        if args.with_default_limit and official_python is not None:
            default_s, _ = official(official_python, server.url, "t-client10", "default")
            print(f"  miro_api get_all_items, default limit (10), items only: {default_s:6.2f} s")
    finally:
        server.stop()

    credits_per_s = args.tight_credits / args.tight_window
    allowed = credits_per_s / 100 * 50
    print(
        f"\n[2] a binding budget: {args.tight_credits} credits per {args.tight_window:g} s "
        f"= {allowed:.0f} items/s allowed (Level 2 pages of 50)"
    )
    server = StandIn(
        args.latency, args.tight_credits, args.tight_window, ["t-items", "t-full"], args.loose
    )
    try:
        items_s, dump = asyncio.run(ours(server.url, "t-items", items_only=True))
        assert len(dump["items"]) == n_items
        stats = server.stats()
        rate = n_items / items_s
        floor = credit_floor(n_items, args.tight_credits, args.tight_window)
        print(
            f"  ours, items only: {items_s:6.2f} s = {rate:.0f} items/s = "
            f"{rate / allowed:.0%} of the allowed rate (target >= 90%); "
            f"{stats['credits_spent']} credits ({plain_credits(n_items)} for the plain listing), "
            f"{stats['rate_limited']} x 429"
        )
        print(f"    credit floor {floor:.2f} s: ours / floor = {items_s / floor:.2f}")
        full_s, dump = asyncio.run(ours(server.url, "t-full", items_only=False))
        after = server.stats()
        spent = after["credits_spent"] - stats["credits_spent"]
        print(
            f"  ours, full import: {full_s:6.2f} s; {spent} credits = "
            f"{spent / full_s / credits_per_s:.0%} of the credit rate; "
            f"{after['rate_limited'] - stats['rate_limited']} x 429"
        )
    finally:
        server.stop()

    if args.big_items:
        big(args)


def plain_credits(items: int) -> int:
    """Credits of the plain item listing: Level 2 pages of 50."""
    return math.ceil(items / 50) * 100


def credit_floor(items: int, credits: int, window: float) -> float:
    """Seconds fixed windows of ``credits`` need to hand out the plain listing's credits (the
    first window is full at the start)."""
    return (math.ceil(plain_credits(items) / credits) - 1) * window


def big(args: argparse.Namespace) -> None:
    n_items = args.big_items
    floor = credit_floor(n_items, args.big_credits, args.big_window)
    allowed = args.big_credits / args.big_window / 100 * 50
    chain = math.ceil(n_items / 50) * args.latency
    print(
        f"\n[3] {n_items:,} items, a binding budget: {args.big_credits} credits per "
        f"{args.big_window:g} s = {allowed:.0f} items/s; the plain listing's credits need "
        f"{floor:.1f} s (the credit floor), its chain of pages at least {chain:.1f} s"
    )
    server = StandIn(
        args.latency, args.big_credits, args.big_window, ["t-big"], args.loose, n_items
    )
    try:
        seconds, dump = asyncio.run(ours(server.url, "t-big", items_only=True))
        assert len(dump["items"]) == n_items
        stats = server.stats()
        rate = n_items / seconds
        print(
            f"  ours, items only: {seconds:6.2f} s = {rate:.0f} items/s = {rate / allowed:.0%} "
            f"of the allowed rate; {stats['credits_spent']} credits "
            f"({plain_credits(n_items)} for the plain listing), {stats['rate_limited']} x 429"
        )
        print(f"  ours / credit floor = {seconds / floor:.2f}  (target <= 1.15)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
