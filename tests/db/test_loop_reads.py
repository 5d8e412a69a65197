"""LoopReads: the hot reads' look-ups on the event loop (SQLite and PostgreSQL) give the rows a
synchronous PlainQuery gives, typed the same way, and a connection the database dropped costs
one request, not one per pooled connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.db.engine import PlainQuery, WriterBusy, create_db_engine
from service.db.loop_reads import LoopReads
from service.db.tables import Board, Workspace
from tests.conftest import TestDatabase, postgres_database

_board = Board.__table__  # type: ignore[attr-defined]
_BOARDS = (
    sa.select(_board.c.name, _board.c.created_at, _board.c.rules)
    .where(_board.c.workspace_id == sa.bindparam("workspace"))
    .order_by(_board.c.name)
)


@asynccontextmanager
async def opened(engine: Engine) -> AsyncIterator[LoopReads]:
    loop_reads = LoopReads(engine)
    try:
        yield loop_reads
    finally:
        await loop_reads.close()


def test_rows_and_types_are_those_of_a_synchronous_read(engine: Engine) -> None:
    created = datetime(2026, 12, 2, 16, 0, 5, 250000, tzinfo=UTC)
    with Session(engine) as session:
        workspace = Workspace(name="loop")
        session.add(workspace)
        session.flush()
        assert workspace.id is not None
        for name in ("Abo", "Bestellung"):
            session.add(
                Board(
                    workspace_id=workspace.id,
                    provider="miro",
                    external_id=name,
                    name=name,
                    created_at=created,
                    rules={"lanes": [name, "Kunde"], "minutes": 1.5} if name == "Abo" else None,
                )
            )
        session.commit()
        workspace_id = workspace.id
    query = PlainQuery(engine, _BOARDS, typed=True)
    connection = engine.raw_connection()
    try:
        expected = query.all_on(connection, workspace=workspace_id)
    finally:
        connection.close()

    async def read() -> tuple[list[tuple[object, ...]], tuple[object, ...] | None, object]:
        async with opened(engine) as loop_reads, loop_reads.reads() as reads:
            every = await reads.all(query, workspace=workspace_id)
            first = await reads.first(query, workspace=workspace_id)
            none = await reads.first(query, workspace=workspace_id + 1)
        return every, first, none

    every, first, none = asyncio.run(read())

    assert [name for name, _, _ in every] == ["Abo", "Bestellung"]
    assert every == expected
    assert every[0][2] == {"lanes": ["Abo", "Kunde"], "minutes": 1.5}  # JSON decoded
    assert first == expected[0]
    assert none is None
    assert isinstance(every[0][1], datetime)  # the column's result processing applied


@pytest.fixture(scope="module")
def postgres() -> Iterator[TestDatabase]:
    yield from postgres_database()


@pytest.mark.postgres
def test_a_dropped_connection_fails_one_request_and_the_pool_recovers(
    postgres: TestDatabase,
) -> None:
    engine = postgres.engine
    backend = PlainQuery(engine, sa.select(sa.func.pg_backend_pid()))

    async def scenario() -> tuple[set[int], bool, int]:
        async with opened(engine) as loop_reads:
            # Two requests at once: the pool holds two connections.
            async with AsyncExitStack() as both:
                first = await both.enter_async_context(loop_reads.reads())
                second = await both.enter_async_context(loop_reads.reads())
                rows = [await first.first(backend), await second.first(backend)]
                pids = {row[0] for row in rows if row is not None}
            with engine.begin() as admin:  # a restart, as the pool sees it
                for pid in pids:
                    admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            failed = False
            try:
                async with loop_reads.reads() as reads:
                    await reads.first(backend)
            except sa.exc.DBAPIError:
                failed = True
            async with loop_reads.reads() as reads:
                row = await reads.first(backend)
            assert row is not None
            return pids, failed, row[0]

    pids, failed, after = asyncio.run(scenario())

    assert len(pids) == 2
    assert failed  # the request on a dropped connection goes elsewhere (the routes)
    assert after not in pids  # the next one is served by a new connection, not the other dead one


def test_an_unreachable_database_is_said_as_sqlalchemy_says_it() -> None:
    # Nothing listens on port 1: the pool keeps trying, the request gives up after wait_s with
    # the error the routes answer 503 (not-ready, Retry-After).
    engine = create_db_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    query = PlainQuery(engine, sa.select(sa.literal(1)))

    async def read() -> None:
        loop_reads = LoopReads(engine, wait_s=0.2)
        try:
            async with loop_reads.reads() as reads:
                await reads.first(query)
        finally:
            await loop_reads.close()

    with pytest.raises(sa.exc.OperationalError):
        asyncio.run(read())
    engine.dispose()


@pytest.mark.postgres
def test_a_request_waits_for_a_busy_pool_no_longer_than_wait_s(postgres: TestDatabase) -> None:
    engine = postgres.engine
    backend = PlainQuery(engine, sa.select(sa.func.pg_backend_pid()))

    async def scenario() -> tuple[set[int], bool, int]:
        loop_reads = LoopReads(engine, pool_size=2, wait_s=0.05)
        try:
            async with AsyncExitStack() as both:
                held = [await both.enter_async_context(loop_reads.reads()) for _ in range(2)]
                pids = {row[0] for reads in held if (row := await reads.first(backend))}
                waited_out = False
                try:
                    async with loop_reads.reads():
                        pass
                except sa.exc.OperationalError:
                    waited_out = True
            async with loop_reads.reads() as reads:
                row = await reads.first(backend)
            assert row is not None
            return pids, waited_out, row[0]
        finally:
            await loop_reads.close()

    pids, waited_out, after = asyncio.run(scenario())

    assert len(pids) == 2  # two connections, no more
    assert waited_out  # the third request went to the routes (503 when they cannot answer)
    assert after in pids  # a connection given back serves the next request


@pytest.mark.postgres
def test_a_request_cancelled_mid_statement_does_not_give_its_connection_back(
    postgres: TestDatabase,
) -> None:
    engine = postgres.engine
    backend = PlainQuery(engine, sa.select(sa.func.pg_backend_pid()))
    slow = PlainQuery(engine, sa.select(sa.func.pg_sleep(30)))

    async def scenario() -> tuple[int, int]:
        async with opened(engine) as loop_reads:
            async with loop_reads.reads() as reads:
                row = await reads.first(backend)
            assert row is not None
            entered: list[object] = []

            async def request() -> None:
                async with loop_reads.reads() as reads:
                    entered.append(reads)
                    await reads.first(slow)

            task = asyncio.create_task(request())
            while not entered or not getattr(entered[0], "in_flight", False):
                await asyncio.sleep(0)
            task.cancel()  # the client went away, or the server is stopping
            with pytest.raises(asyncio.CancelledError):
                await task
            async with loop_reads.reads() as reads:
                after = await reads.first(backend)
            assert after is not None
            return row[0], after[0]

    before, after = asyncio.run(scenario())

    assert after != before  # a connection with a statement half done is not used again


@pytest.mark.postgres
def test_libpq_parameters_of_the_url_are_read_as_libpq_reads_them(postgres: TestDatabase) -> None:
    # connect_timeout is libpq's own (asyncpg would send it to the server, which refuses it);
    # application_name and the schema's search path (options) are the connection's settings.
    url = sa.make_url(postgres.url)
    url = url.update_query_dict({"connect_timeout": "5", "application_name": "vsm-hot-reads"})
    engine = create_db_engine(url.render_as_string(hide_password=False))
    settings = PlainQuery(
        engine,
        sa.select(
            sa.func.current_setting("application_name"), sa.func.current_setting("search_path")
        ),
    )

    async def read() -> tuple[object, ...] | None:
        async with opened(engine) as loop_reads, loop_reads.reads() as reads:
            return await reads.first(settings)

    try:
        row = asyncio.run(read())
    finally:
        engine.dispose()

    assert row is not None
    assert row[0] == "vsm-hot-reads"
    assert row[1] == sa.make_url(postgres.url).query["options"].removeprefix("-csearch_path=")


_workspace = Workspace.__table__  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_a_transaction_commits_at_its_end_and_rolls_back_on_an_error(
    postgres: TestDatabase,
) -> None:
    # The signed trigger's transaction on the loop (PostgreSQL): what it wrote is kept only when
    # the block ends; a unique constraint's error comes as SQLAlchemy's IntegrityError (the
    # trigger answers a replayed delivery id 409 on it), rolls back what the block wrote, and
    # leaves the connection fit for the next request.
    engine = postgres.engine
    backend = PlainQuery(engine, sa.select(sa.func.pg_backend_pid()))
    insert = PlainQuery(
        engine,
        sa.insert(_workspace)
        .values(name=sa.bindparam("name"), created_at=sa.bindparam("at"))
        .returning(_workspace.c.id),
    )
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)

    async def scenario() -> tuple[int, int, bool]:
        async with opened(engine) as loop_reads:
            async with loop_reads.transaction() as tx:
                row = await tx.first(backend)
                await tx.first(insert, name="loop-kept", at=at)
            assert row is not None
            refused = False
            try:
                async with loop_reads.transaction() as tx:
                    await tx.first(insert, name="loop-rolled-back", at=at)
                    await tx.first(insert, name="loop-kept", at=at)
            except sa.exc.IntegrityError:
                refused = True
            async with loop_reads.transaction() as tx:
                after = await tx.first(backend)
            assert after is not None
            return row[0], after[0], refused

    before, after, refused = asyncio.run(scenario())

    assert refused
    with engine.connect() as connection:
        names = connection.execute(
            sa.select(_workspace.c.name).where(_workspace.c.name.like("loop-%"))
        ).scalars()
        assert sorted(names) == ["loop-kept"]
        connection.execute(sa.delete(_workspace).where(_workspace.c.name.like("loop-%")))
        connection.commit()
    assert after == before  # rolled back cleanly: the connection serves the next transaction


@pytest.mark.postgres
def test_a_transaction_says_writer_busy_when_no_connection_is_free_within_wait_s(
    postgres: TestDatabase,
) -> None:
    # The trigger then goes to a worker thread (which waits for the engine's pool) instead of
    # holding the event loop's request up.
    engine = postgres.engine

    async def scenario() -> bool:
        loop_reads = LoopReads(engine, pool_size=1, wait_s=0.05)
        try:
            async with loop_reads.reads():
                try:
                    async with loop_reads.transaction():
                        pass
                except WriterBusy:
                    return True
            return False
        finally:
            await loop_reads.close()

    assert asyncio.run(scenario())
