"""The hot reads' look-ups on the event loop, without a threadpool hop (bench/api_read.py).

``GET`` of a stream, a board, a report... is one or two indexed look-ups. Handing them to the
threadpool costs more than the look-ups: on PostgreSQL a sync driver behind a thread hop gave
3,500 answers a second where the same query through psycopg's ``AsyncConnection`` on the loop
gave 9,100 (a bare Starlette app, one process, ``wrk -c16``). :class:`LoopReads` gives a
request a :class:`Reads`, whose ``first`` and ``all`` run :class:`PlainQuery` statements:

- **SQLite**: on one DBAPI connection of the loop's own, called inline. In WAL mode a reader
  never waits for a writer, and a look-up (about 0.02 ms) costs less than a hop.
- **PostgreSQL**: on a pool of psycopg ``AsyncConnection`` (psycopg_pool), in autocommit: one
  round trip per look-up, where the engine's pool adds three (``BEGIN`` and the pre-ping's
  ``SELECT 1`` at checkout, ``ROLLBACK`` at return). No ping checks a pooled connection: when
  one turns out broken (a database restart) the request goes to the routes and the pool checks
  the others at once. A request that waits longer than ``wait_s`` for a connection goes to the
  routes too.

Each statement is its own snapshot (as :class:`PlainQuery` says). A revision's rows are never
rewritten, so two look-ups of one request agree about them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.db.engine import PlainQuery

# Connections of one process's PostgreSQL pool (a Celery worker opens none): beside the engine's
# own pool of 10 + 10.
POOL_SIZE = 10


class Reads(Protocol):
    """The look-ups of one request (see :class:`LoopReads`)."""

    async def first(self, query: PlainQuery, **values: Any) -> tuple[Any, ...] | None: ...

    async def all(self, query: PlainQuery, **values: Any) -> list[tuple[Any, ...]]: ...


class _Inline:
    """SQLite: the statements run at once on the loop's connection."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def first(self, query: PlainQuery, **values: Any) -> tuple[Any, ...] | None:
        return query.first_on(self._connection, **values)

    async def all(self, query: PlainQuery, **values: Any) -> list[tuple[Any, ...]]:
        return query.all_on(self._connection, **values)


class _Awaited:
    """PostgreSQL: the statements are awaited on a pooled ``AsyncConnection``."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def first(self, query: PlainQuery, **values: Any) -> tuple[Any, ...] | None:
        return await query.first_async(self._connection, **values)

    async def all(self, query: PlainQuery, **values: Any) -> list[tuple[Any, ...]]:
        return await query.all_async(self._connection, **values)


class LoopReads:
    """Where the event loop reads (see the module docstring); one per app, opened lazily on
    the loop that serves it, closed by the app's shutdown."""

    def __init__(self, engine: Engine, *, pool_size: int = POOL_SIZE, wait_s: float = 1.0) -> None:
        self._engine = engine
        self.inline = engine.dialect.name == "sqlite"
        self._connection: Any = None
        self._pool: Any = None
        self._pool_size = pool_size
        self._wait_s = wait_s
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[Reads]:
        """The look-ups of one request. A database error leaves the block as SQLAlchemy's
        (``DBAPIError``); the connection it broke is not used again."""
        if self.inline:
            try:
                yield _Inline(self.loop_connection())
            except sa.exc.DBAPIError:
                self.close_inline()  # opened afresh next time, in case it is the one that broke
                raise
            return
        from psycopg_pool import PoolTimeout

        pool = await self._open_pool()
        try:
            connection = await pool.getconn(timeout=self._wait_s)
        except PoolTimeout as exc:
            # No connection within wait_s: the database is unreachable (the pool keeps trying
            # in the background) or every connection is busy. Said as SQLAlchemy says an
            # unreachable database, which the routes answer 503 with Retry-After.
            raise sa.exc.OperationalError(None, None, exc) from exc
        broken = False
        try:
            yield _Awaited(connection)
        except sa.exc.DBAPIError:
            broken = connection.broken
            raise
        finally:
            await pool.putconn(connection)  # a broken one is dropped, not pooled again
            if broken:
                # The others were opened before whatever broke this one (a restart): checked
                # now, rather than failing one request each.
                await pool.check()

    def loop_connection(self) -> Any:
        """SQLite: the loop's own DBAPI connection (a pool checkout and its reset on return cost
        more than a look-up)."""
        if self._connection is None:
            self._connection = self._engine.raw_connection()
        return self._connection

    def close_inline(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _open_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._opening:  # the first requests arrive together
            if self._pool is not None:
                return self._pool
            from psycopg_pool import AsyncConnectionPool  # PostgreSQL only

            _, connect_args = self._engine.dialect.create_connect_args(self._engine.url)
            pool = AsyncConnectionPool(
                kwargs={**connect_args, "autocommit": True},
                min_size=1,
                max_size=self._pool_size,
                open=False,
                name="vsm-loop-reads",
            )
            await pool.open()
            self._pool = pool
            return pool

    async def close(self) -> None:
        """Close the loop's connections (app shutdown)."""
        self.close_inline()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
