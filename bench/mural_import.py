"""Benchmark: import a 10,000-widget mural from the Mural stand-in over a real socket.

The stand-in adds 50 ms to every API request and enforces Mural's two limits with fixed windows:
25 requests per second per user and an app-wide limit shared by every user (x-ratelimit-* and
x-ratelimit-app-* headers, reset in epoch seconds, 429 past the limit). Three runs:

1. one import: wall time against the floor the 25 req/s limit sets (requests / 25 per second)
   and against the floor the chain of dependent widget pages sets (pages x 50 ms);
2. five concurrent imports for five users of one app, Mural's real app limit (10,000 / 60 s);
3. the same five imports with the app limit scaled so that it binds (50 per 1 s window: demand
   is about 100 req/s): app-wide pacing must hold (no 429) and share fairly (completion times).

Budgets live in Redis (``redis_budgets``: per Mural user and per app client id) when
VSM_TEST_REDIS_URL or redis://127.0.0.1:6379/15 answers, else in memory (said in the output).

    .venv/bin/python bench/mural_import.py
    .venv/bin/python bench/mural_import.py --widgets 2000 --latency 0.02
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from connectors.http import MemoryRateBudget, RateBudget, StaticToken
from connectors.mural.client import MuralClient, redis_budgets
from testkit.builders import mural_area, mural_dump, mural_sticky
from testkit.standins.mural_server import MuralStandIn
from testkit.standins.serving import serve

ROOT = Path(__file__).resolve().parent.parent

USERS = 5


def build_mural(widgets: int, mural_id: str) -> dict[str, Any]:
    """``widgets`` widgets: 20 areas, the rest stickies with htmlText only, inside the areas."""
    areas = [
        mural_area(f"area-{a}", f"Stream {a}", a * 4000.0, 0.0, 3800.0, 3000.0) for a in range(20)
    ]
    stickies = [
        mural_sticky(
            f"s-{i}",
            f"Step {i}\nPT 5 min",
            (i % 20) * 180.0,
            (i // 400) * 180.0,
            parent=f"area-{i % 20}",
        )
        for i in range(widgets - len(areas))
    ]
    return mural_dump([*areas, *stickies], mural_id=mural_id, title="Benchmark mural")


@dataclass
class Run:
    user: str
    seconds: float
    widgets: int


async def import_as(
    base_url: str,
    stand_in: MuralStandIn,
    user: str,
    mural_id: str,
    budgets: tuple[RateBudget, RateBudget],
) -> Run:
    token = stand_in.issue_token(user, ttl=3600)
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with httpx.AsyncClient(limits=limits) as http:
        client = MuralClient(http, StaticToken(token), budgets[0], budgets[1], base_url)
        started = time.perf_counter()
        dump = await client.fetch_mural(mural_id)
        return Run(user, time.perf_counter() - started, len(dump["widgets"]))


async def plain_widget_loop(base_url: str, stand_in: MuralStandIn, mural_id: str) -> float:
    """The widget pages alone, fetched by a bare httpx loop (no pacing, no retries): what the
    stand-in plus the network chain cost without our client."""
    token = stand_in.issue_token("baseline", ttl=3600)
    url = f"{base_url}/murals/{mural_id}/widgets"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        started = time.perf_counter()
        params: dict[str, str | int] = {"limit": 100}
        for _ in range(10_000):
            body = (await http.get(url, params=params)).raise_for_status().json()
            if "next" not in body:
                break
            params = {"limit": 100, "next": body["next"]}
        return time.perf_counter() - started


async def budgets_for(
    redis: Any, client_id: str, user: str, app: RateBudget | None
) -> tuple[RateBudget, RateBudget]:
    if redis is None:
        assert app is not None
        return MemoryRateBudget(), app
    return redis_budgets(redis, client_id=client_id, user_id=user)


async def scenario(
    name: str,
    *,
    widgets: int,
    latency: float,
    users: int,
    app_rate: int,
    app_window_s: int,
    redis: Any,
) -> None:
    run_id = uuid.uuid4().hex[:8]
    stand_in = MuralStandIn(
        latency=latency,
        user_rate=25,
        app_rate=app_rate,
        app_window_s=app_window_s,
        client_id=f"bench-{run_id}",
    )
    mural_ids = []
    for u in range(users):
        mural_id = f"bench{run_id}.{1754493659737 + u}"
        stand_in.add_dump(build_mural(widgets, mural_id))
        mural_ids.append(mural_id)
    shared_app = MemoryRateBudget() if redis is None else None
    with serve(stand_in.app()) as url:
        base = url + stand_in.prefix
        names = [f"user{u}-{run_id}" for u in range(users)]
        budgets = [await budgets_for(redis, stand_in.client_id, n, shared_app) for n in names]
        started = time.perf_counter()
        runs = await asyncio.gather(
            *(
                import_as(base, stand_in, n, m, b)
                for n, m, b in zip(names, mural_ids, budgets, strict=True)
            )
        )
        wall = time.perf_counter() - started
        calls = stand_in.api_calls()
        plain = await plain_widget_loop(base, stand_in, mural_ids[0]) if users == 1 else None
    limited = sum(c.status == 429 for c in calls)
    per_user_window = Counter((c.user_id, int(c.at)) for c in calls if c.status != 429)
    per_app_window = Counter(int(c.at // app_window_s) for c in calls if c.status != 429)
    admitted = len(calls) - limited
    print(f"\n== {name}")
    print(
        f"   {users} import(s) of {widgets:,} widgets, {latency * 1000:.0f} ms per request, "
        f"25 req/s per user, app limit {app_rate:,} per {app_window_s} s"
    )
    for r in sorted(runs, key=lambda r: r.user):
        print(f"   {r.user.split('-')[0]}: {r.widgets:,} widgets in {r.seconds:6.2f} s")
    print(f"   wall time: {wall:.2f} s; requests: {admitted} answered, {limited} answered 429")
    print(
        f"   busiest 1 s window of one user: {max(per_user_window.values())} requests (limit 25); "
        f"busiest app window: {max(per_app_window.values())} (limit {app_rate:,})"
    )
    per_import = admitted / users
    pages = -(-widgets // 100)
    user_floor = per_import / 25
    app_floor = admitted / app_rate * app_window_s
    chain_floor = pages * latency
    floor = max(user_floor, app_floor, chain_floor)
    print(
        f"   floors: 25 req/s per user -> {user_floor:.2f} s; app limit -> {app_floor:.2f} s; "
        f"{pages} dependent widget pages x {latency * 1000:.0f} ms -> {chain_floor:.2f} s"
    )
    print(
        f"   wall / rate floor = {wall / max(user_floor, app_floor):.2f}; "
        f"wall / highest floor = {wall / floor:.2f}"
    )
    # issue 16: one import <= 1.2 x the page-chain floor at 50 ms, <= 1.05 x the rate floor
    # when it binds. Five imports in one process (the stand-in's too) share its CPU: their
    # chain ratio is printed without a target.
    if chain_floor >= max(user_floor, app_floor):
        target = "  (target <= 1.20)" if users == 1 else "  (no target: five imports share a CPU)"
        print(f"   wall / page-chain floor = {wall / chain_floor:.2f}{target}")
    else:
        rate_floor = max(user_floor, app_floor)
        print(f"   wall / rate floor = {wall / rate_floor:.2f}  (target <= 1.05), {limited} x 429")
    if plain is not None:
        print(
            f"   the same widget pages by a bare httpx loop (no pacing): {plain:.2f} s; "
            f"ours / bare loop = {wall / plain:.2f}"
        )
    if users > 1:
        times = [r.seconds for r in runs]
        print(
            f"   fair share: completion times {min(times):.2f}..{max(times):.2f} s "
            f"(spread {100 * (max(times) - min(times)) / max(times):.1f}% of the slowest)"
        )


async def connect_redis() -> Any:
    url = os.environ.get("VSM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url)
        await client.ping()
    except Exception as exc:
        print(f"Redis at {url} not reachable ({type(exc).__name__}): budgets in memory")
        return None
    print(f"budgets in Redis at {url}")
    return client


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widgets", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    redis = await connect_redis()
    common = {"widgets": args.widgets, "latency": args.latency, "redis": redis}
    await scenario("one import", users=1, app_rate=10_000, app_window_s=60, **common)
    await scenario(
        "five users at once, Mural's app limit",
        users=USERS,
        app_rate=10_000,
        app_window_s=60,
        **common,
    )
    await scenario(
        "five users at once, app limit scaled to bind (50 per 1 s)",
        users=USERS,
        app_rate=50,
        app_window_s=1,
        **common,
    )
    if redis is not None:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
