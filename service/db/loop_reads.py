"""The hot reads' look-ups on the event loop, without a threadpool hop (bench/api_read.py).

``GET`` of a stream, a board, a report... is one or two indexed look-ups. Handing them to the
threadpool costs more than the look-ups: on PostgreSQL a sync driver behind a thread hop gave
3,500 answers a second where the same query through psycopg's ``AsyncConnection`` on the loop
gave 9,100 (a bare Starlette app, one process, ``wrk -c16``). :class:`LoopReads` gives a
request a :class:`Reads`, whose ``first`` and ``all`` run :class:`PlainQuery` statements:

- **SQLite**: on one DBAPI connection of the loop's own, called inline. In WAL mode a reader
  never waits for a writer, and a look-up (about 0.02 ms) costs less than a hop.
- **PostgreSQL**: on asyncpg connections kept by the loop (:class:`_Connections`), one round
  trip per look-up (each statement its own implicit transaction; asyncpg prepares it once per
  connection). asyncpg, not psycopg, because its client side costs less: a query took 64 us of
  the API's CPU through psycopg's ``AsyncConnection`` and psycopg_pool, 24-28 us this way, at
  16 requests at once (docs/performance.md). The statements are compiled for SQLAlchemy's
  asyncpg dialect and their rows typed by it, JSON decoded as psycopg decodes it, so a row
  here equals the engine's. No ping checks a pooled connection: when one turns out broken (a
  database restart) that request goes to the routes and the pool replaces its other
  connections at their next use. A request that waits longer than ``wait_s`` for a
  connection goes to the routes too. The driver's errors come as SQLAlchemy's
  (``OperationalError`` for a connection that failed or never came).

Each statement is its own snapshot (as :class:`PlainQuery` says). A revision's rows are never
rewritten, so two look-ups of one request agree about them.

On PostgreSQL the signed trigger's transaction runs here too (:meth:`LoopReads.transaction`):
its two statements through a worker thread and psycopg cost the API 1.24-1.48 ms of CPU per
trigger (bench/webhook_ack.py). SQLite's triggers are written on the loop by
``HookRuntime.trigger_transaction_now``, on a connection that never waits for the write lock.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.db.engine import CompiledStatement, PlainQuery, WriterBusy

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
    """PostgreSQL: the statements are awaited on a pooled asyncpg connection."""

    def __init__(self, connection: Any, statements: dict[PlainQuery, CompiledStatement]) -> None:
        self._connection = connection
        self._statements = statements
        # A statement left unfinished (its request cancelled, an error) leaves the connection
        # in a state nobody knows, and so does a transaction neither committed nor rolled
        # back: the connection is closed, not pooled again.
        self.in_flight = False
        self.in_transaction = False

    @property
    def reusable(self) -> bool:
        return not self.in_flight and not self.in_transaction

    async def begin(self) -> None:
        await self._execute("BEGIN")
        self.in_transaction = True

    async def commit(self) -> None:
        await self._execute("COMMIT")
        self.in_transaction = False

    async def roll_back(self) -> None:
        """Roll the transaction back; when that fails (a statement still in flight after a
        cancellation, a broken connection) the connection stays unfit for reuse, and the
        error that led here is the one that counts."""
        try:
            await self._execute("ROLLBACK")
        except Exception:
            return
        self.in_transaction = False

    async def _execute(self, sql: str) -> None:
        """A statement without values and rows; errors as SQLAlchemy's."""
        self.in_flight = True
        try:
            await self._connection.execute(sql)
        except Exception as exc:
            raise _as_sqlalchemy(exc, sql, ()) from exc
        self.in_flight = False

    async def first(self, query: PlainQuery, **values: Any) -> tuple[Any, ...] | None:
        rows = await self._fetch(query, values)
        return rows[0] if rows else None

    async def all(self, query: PlainQuery, **values: Any) -> list[tuple[Any, ...]]:
        return await self._fetch(query, values)

    async def _fetch(self, query: PlainQuery, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        statement = self._statements.get(query)
        if statement is None:
            statement = self._statements[query] = query.compiled_for(_asyncpg_dialect())
        bound = statement.bound(values)
        self.in_flight = True
        try:
            rows = await self._connection.fetch(statement.sql, *bound)
        except Exception as exc:
            raise _as_sqlalchemy(exc, statement.sql, bound) from exc
        self.in_flight = False
        return query.rows(rows)


class _Connections:
    """The asyncpg connections of one event loop: at most ``size`` open, the idle ones reused
    last in, first out, each opened when a request finds none idle.

    Not asyncpg's ``Pool``: on Python 3.11 its checkout runs ``wait_for`` and its return
    ``shield``, a task each, and the two cost 25-30 us of the 150-200 us of a hot read
    (bench/api_read.py: 49-63 us of CPU a query through the pool, 24-28 us this way, at 16
    requests at once). Everything here runs on the one loop, so a list and a semaphore do: no
    lock, no background task. A request waits for a free connection only when all are busy,
    and then at most ``wait_s``."""

    def __init__(self, dsn: str, size: int, wait_s: float) -> None:
        self._dsn = dsn
        self._wait_s = wait_s
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[Any, int]] = []
        self._generation = 0  # connections of an earlier one are closed on return
        self._closed = False

    async def acquire(self) -> tuple[Any, int]:
        """An open connection and its generation; asyncpg's error when none can be had."""
        if self._slots.locked():  # all busy: wait, but not for long (no task, as wait_for has)
            async with asyncio.timeout(self._wait_s):
                await self._slots.acquire()
        else:
            await self._slots.acquire()
        try:
            while self._idle:
                connection, generation = self._idle.pop()
                if not connection.is_closed():
                    return connection, generation
            connection = await _connect(self._dsn, self._wait_s)
            return connection, self._generation
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection: Any, generation: int, *, reusable: bool) -> None:
        """Give ``connection`` back: kept when ``reusable`` and still current, else closed."""
        try:
            if (
                reusable
                and not self._closed
                and generation == self._generation
                and not connection.is_closed()
            ):
                self._idle.append((connection, generation))
            else:
                connection.terminate()
        finally:
            self._slots.release()

    def expire(self) -> None:
        """Close the idle connections and, on return, those in use: they were opened before
        whatever broke one of them (a database restart)."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.terminate()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await connection.close(timeout=self._wait_s)


@functools.cache
def _asyncpg_dialect() -> Any:
    """SQLAlchemy's asyncpg dialect, which the loop's statements are compiled for (``$1``)."""
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    return dialect()  # type: ignore[no-untyped-call]


async def _connect(dsn: str, timeout: float) -> Any:
    """A new asyncpg connection decoding JSON as psycopg (the engine) does."""
    import asyncpg  # PostgreSQL only

    connection = await asyncpg.connect(dsn, timeout=timeout)
    try:
        for name in ("json", "jsonb"):
            await connection.set_type_codec(
                name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
            )
    except BaseException:
        connection.terminate()
        raise
    return connection


# libpq's client-side parameters asyncpg does not read: left out, since asyncpg would send them
# on as the server settings of the connection, which the server refuses. (The wait for a
# connection is ``wait_s``.)
_CLIENT_ONLY = frozenset(
    {
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "gssencmode",
        "channel_binding",
        "requirepeer",
        "load_balance_hosts",
        "client_encoding",
    }
)


def asyncpg_dsn(url: sa.URL) -> str:
    """The engine's URL as asyncpg reads it: ``sslmode``, ``sslrootcert``, ``options``,
    ``application_name``... as libpq reads them, libpq's client-only parameters left out."""
    query = {name: value for name, value in url.query.items() if name not in _CLIENT_ONLY}
    plain = url.set(drivername="postgresql", query=query)
    return plain.render_as_string(hide_password=False)


def _as_sqlalchemy(exc: BaseException, sql: str | None, bound: Any) -> sa.exc.DBAPIError:
    """An asyncpg error as SQLAlchemy's: ``OperationalError`` when the connection failed, never
    came or broke (the routes answer that 503), ``DBAPIError`` for the rest."""
    import asyncpg

    lost = (
        OSError,
        asyncio.TimeoutError,
        asyncpg.InterfaceError,
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.AdminShutdownError,
    )
    if isinstance(exc, lost):
        return sa.exc.OperationalError(sql, bound, exc)
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return sa.exc.IntegrityError(sql, bound, exc)
    return sa.exc.DBAPIError(sql, bound, exc)


class LoopReads:
    """Where the event loop reads (see the module docstring); one per app, opened lazily on
    the loop that serves it, closed by the app's shutdown."""

    def __init__(self, engine: Engine, *, pool_size: int = POOL_SIZE, wait_s: float = 1.0) -> None:
        self._engine = engine
        self.inline = engine.dialect.name == "sqlite"
        self._connection: Any = None
        self._pool: _Connections | None = None
        self._pool_size = pool_size
        self._wait_s = wait_s
        self._statements: dict[PlainQuery, CompiledStatement] = {}

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
        # Not connected within wait_s (the database unreachable, or all connections busy), or
        # refused (a password, a setting): said as SQLAlchemy says an unreachable database,
        # which the routes answer 503 with Retry-After.
        async with self._checked_out(lambda exc: sa.exc.OperationalError(None, None, exc)) as reads:
            yield reads

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Reads]:
        """PostgreSQL: one transaction of ``Reads`` on a pooled asyncpg connection, committed
        when the block ends and rolled back when it raises (the signed trigger's, on the loop).
        ``WriterBusy`` before the block when no connection can be had within ``wait_s`` (all
        busy, or the database unreachable): the caller's other way then waits, or answers
        the database's error. A transaction cut off half-way (its request cancelled) closes
        its connection instead of pooling it again."""
        if self.inline:
            raise WriterBusy  # SQLite's writes on the loop: HookRuntime.trigger_transaction_now
        async with self._checked_out(WriterBusy) as tx:
            await tx.begin()
            try:
                yield tx
            except BaseException:
                await tx.roll_back()
                raise
            await tx.commit()

    @asynccontextmanager
    async def _checked_out(
        self, unavailable: Callable[[Exception], Exception]
    ) -> AsyncIterator[_Awaited]:
        """A pooled connection for the block, given back fit for reuse or closed; when none can
        be had, ``unavailable(error)`` is raised instead. An ``OperationalError`` in the block
        expires the other connections: they were opened before whatever broke this one."""
        pool = self._open_pool()
        try:
            connection, generation = await pool.acquire()
        except Exception as exc:
            raise unavailable(exc) from exc
        awaited = _Awaited(connection, self._statements)
        try:
            yield awaited
        except sa.exc.OperationalError:
            pool.expire()
            raise
        finally:
            pool.release(connection, generation, reusable=awaited.reusable)

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

    def _open_pool(self) -> _Connections:
        if self._pool is None:
            self._pool = _Connections(asyncpg_dsn(self._engine.url), self._pool_size, self._wait_s)
        return self._pool

    async def close(self) -> None:
        """Close the loop's connections (app shutdown)."""
        self.close_inline()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
