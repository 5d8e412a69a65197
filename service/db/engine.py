"""Engine and session factory for a database URL (SQLite file or PostgreSQL)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from service.db.urls import sqlite_file

SessionFactory = sessionmaker[Session]


SQLITE_BUSY_TIMEOUT_S = 15
"""How long a SQLite writer waits for the write lock before "database is locked"."""


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module's own transaction handling breaks SAVEPOINT and transactional DDL;
    # SQLAlchemy's documented fix: let the driver autocommit and emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    # WAL lets the API read while the in-process worker writes; busy_timeout makes writers queue
    # instead of failing with "database is locked"; SQLite enforces foreign keys only when asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_WRITE_OPTION = "vsm_begin_write"


def _sqlite_begin(connection: Any) -> None:
    # A deferred transaction that read first cannot become a writer once another connection has
    # committed ("database is locked" at once, busy_timeout does not apply); writers therefore
    # take the write lock up front.
    immediate = connection.get_execution_options().get(_WRITE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_write(session: Session) -> None:
    """Start the session's next transaction as a writer.

    On SQLite this is ``BEGIN IMMEDIATE`` (writers queue on the busy timeout instead of failing
    when their transaction read before writing); on PostgreSQL it changes nothing. Call it before
    the first statement of a transaction that will write. Does nothing when the transaction
    has begun already, or when the session is bound to a connection its owner manages (tests
    that roll back an outer transaction).
    """
    if session.in_transaction() or not isinstance(session.get_bind(), Engine):
        return
    session.connection(execution_options={_WRITE_OPTION: True})


@dataclass(frozen=True, slots=True)
class EncodedJSON:
    """A JSON column's value encoded already (``json.dumps`` text): written as it is, so a big
    document is not held as a dict while the database copies its text (the import's board)."""

    text: str


def dump_json(value: Any) -> str:
    """JSON columns' encoder: ``json.dumps`` (SQLAlchemy's default), ``EncodedJSON`` as is."""
    return value.text if isinstance(value, EncodedJSON) else json.dumps(value)


def create_db_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url``. A SQLite file's directory is created when missing."""
    if sa.engine.make_url(url).get_backend_name() == "sqlite":
        database = sqlite_file(url)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            json_serializer=dump_json,
        )
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        json_serializer=dump_json,
    )


def create_session_factory(engine: Engine) -> SessionFactory:
    """Sessions that keep loaded values after commit (routes serialize after committing)."""
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """A Core statement compiled once for one dialect: its SQL, the bound names in the order
    the driver takes them (none for named parameters) and their types' bind processing."""

    sql: str
    compiled: Any
    order: tuple[str, ...]
    binders: dict[str, Any]

    @classmethod
    def of(cls, statement: Any, dialect: Any) -> CompiledStatement:
        compiled = statement.compile(dialect=dialect)
        binders = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        return cls(compiled.string, compiled, tuple(compiled.positiontup or ()), binders)

    def bound(self, values: dict[str, Any]) -> Any:
        """The parameters for ``values``: a list in order, or a dict for named parameters."""
        params = self.compiled.construct_params(values)
        for name, processor in self.binders.items():
            params[name] = processor(params[name])
        return [params[name] for name in self.order] if self.order else params


class PlainQuery:
    """A Core statement compiled once for ``engine``'s dialect and run on a pooled DBAPI
    connection: no ``Connection`` object, no ``BEGIN`` event, no result processing.

    For the hottest paths only. On SQLite a two-join indexed look-up takes 0.29 ms through a
    Core ``Connection`` and 0.02 ms this way (bench/api_read.py); unless ``typed``, rows come
    as the driver returns them (ints, text; dates as text on SQLite).
    One statement is one transaction (SQLite autocommit; PostgreSQL's pool rolls back on
    return), so a caller reading twice must not rely on a snapshot across the two, unless it
    runs them in :func:`plain_transaction`.

    With ``typed``, each column's result processing is applied (dates parsed on SQLite, JSON
    decoded): the processors come from the columns' types once, not per row. Bound values
    always get their types' bind processing (dates written as SQLAlchemy writes them), and the
    driver's errors come as SQLAlchemy's (``IntegrityError``, ``OperationalError``...).
    ``statement`` is a ``SELECT``, or an ``INSERT``/``UPDATE`` (with ``RETURNING`` to read
    rows back; :meth:`run_on` when it returns none).
    """

    def __init__(self, engine: Engine, statement: Any, *, typed: bool = False) -> None:
        self._engine = engine
        self._statement = statement
        dialect = engine.dialect
        self._dialect = dialect
        self._form = CompiledStatement.of(statement, dialect)
        self._sql = self._form.sql
        self._typed = typed
        self._processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.exported_columns
        ]

    def compiled_for(self, dialect: Any) -> CompiledStatement:
        """The statement compiled for another driver's ``dialect`` (the loop's asyncpg), its
        rows to be turned into this query's with :meth:`rows`."""
        return CompiledStatement.of(self._statement, dialect)

    def first(self, **values: Any) -> tuple[Any, ...] | None:
        """The first row for the bound ``values``, or None (a pooled connection)."""
        connection = self._engine.raw_connection()
        try:
            return self.first_on(connection, **values)
        finally:
            connection.close()

    def first_on(self, connection: Any, **values: Any) -> tuple[Any, ...] | None:
        """``first`` on a DBAPI ``connection`` the caller holds."""
        rows = self._execute(connection, values, fetch=1)
        return rows[0] if rows else None

    def all_on(self, connection: Any, **values: Any) -> list[tuple[Any, ...]]:
        """Every row for the bound ``values`` on a DBAPI ``connection`` the caller holds."""
        return self._execute(connection, values, fetch=-1)

    def run_on(self, connection: Any, **values: Any) -> None:
        """Execute a statement that returns no rows on a DBAPI ``connection``."""
        self._execute(connection, values, fetch=0)

    def _error(self, bound: Any, exc: Exception) -> sa.exc.StatementError:
        return sa.exc.DBAPIError.instance(self._sql, bound, exc, self._dialect.loaded_dbapi.Error)

    def rows(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        """Rows as a driver returned them, as tuples, with the result processing when typed."""
        if not self._typed:
            return [tuple(row) for row in rows]
        return [self.process(row) for row in rows]

    def _execute(self, connection: Any, values: dict[str, Any], *, fetch: int) -> list[Any]:
        bound = self._form.bound(values)
        cursor = connection.cursor()
        try:
            cursor.execute(self._sql, bound)
            if fetch == 1:
                first = cursor.fetchone()
                rows = [] if first is None else [first]
            elif fetch == -1:
                rows = cursor.fetchall()
            else:
                rows = []
        except self._dialect.loaded_dbapi.Error as exc:
            raise self._error(bound, exc) from exc
        finally:
            cursor.close()
        return self.rows(rows)

    def process(self, row: Any) -> tuple[Any, ...]:
        """A row as the driver returned it, with its columns' result processing applied."""
        return tuple(
            value if process is None else process(value)
            for process, value in zip(self._processors, row, strict=True)
        )


@contextmanager
def plain_transaction(engine: Engine) -> Iterator[Any]:
    """A writing transaction on a pooled DBAPI connection, for :class:`PlainQuery` statements:
    committed when the block ends, rolled back when it raises.

    On SQLite it begins ``BEGIN IMMEDIATE`` (a writer from the start, as :func:`begin_write`);
    PostgreSQL's driver begins it at the first statement. The driver's errors come as
    SQLAlchemy's. One pool checkout and one transaction, and no ``Session`` or ``Connection``
    around them: a signed trigger's five statements took 0.55 ms in a ``Session``, 0.38 ms on a
    Core ``Connection`` and 0.08 ms this way (SQLite).
    """
    dbapi = engine.dialect.loaded_dbapi
    connection = engine.raw_connection()
    try:
        try:
            if engine.dialect.name == "sqlite":
                cursor = connection.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                cursor.close()
        except dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(None, None, exc, dbapi.Error) from exc
        with _committed(connection, dbapi):
            yield connection
    finally:
        connection.close()


class WriterBusy(Exception):
    """Another connection holds SQLite's write lock (said at once instead of waiting)."""


def sqlite_writer_now(engine: Engine) -> Any:
    """A DBAPI connection of ``engine`` (SQLite) of its own, for :func:`sqlite_write_now`: it
    never waits for the write lock, and its commits never checkpoint the log (a checkpoint
    copies up to megabytes into the database file and flushes it). The caller keeps it, one
    thread at a time, and closes it; the pool's connections checkpoint the log as before."""
    connection = engine.raw_connection()
    connection.detach()  # closed, not returned to the pool, with these settings
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()
    return connection


@contextmanager
def sqlite_write_now(connection: Any) -> Iterator[Any]:
    """A writing transaction (``BEGIN IMMEDIATE``) on a :func:`sqlite_writer_now` connection,
    committed when the block ends and rolled back when it raises; :class:`WriterBusy` at once,
    before the block, when another connection holds the write lock. For the event loop, which
    must not wait: in WAL mode nothing after ``BEGIN IMMEDIATE`` waits for another connection.
    The driver's other errors come as SQLAlchemy's."""
    dbapi = sqlite3
    cursor = connection.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except dbapi.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF in (dbapi.SQLITE_BUSY, dbapi.SQLITE_LOCKED):
            raise WriterBusy from exc
        raise sa.exc.DBAPIError.instance(None, None, exc, dbapi.Error) from exc
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(None, None, exc, dbapi.Error) from exc
    finally:
        cursor.close()
    with _committed(connection, dbapi):
        yield connection


@contextmanager
def _committed(connection: Any, dbapi: Any) -> Iterator[None]:
    """Commit the transaction begun on ``connection`` when the block ends, roll it back when
    it raises; the driver's errors as SQLAlchemy's."""
    try:
        yield
        connection.commit()
    except dbapi.Error as exc:
        _roll_back(connection, dbapi)
        raise sa.exc.DBAPIError.instance(None, None, exc, dbapi.Error) from exc
    except BaseException:
        _roll_back(connection, dbapi)
        raise


def _roll_back(connection: Any, dbapi: Any) -> None:
    try:
        connection.rollback()
    except dbapi.Error:
        connection.invalidate()  # a broken connection: the pool opens a new one


# The largest id every backend holds (PostgreSQL INTEGER): the bound of ids in request bodies,
# whose schema cannot depend on the backend.
PORTABLE_MAX_ID = 2**31 - 1


def max_id(engine: Engine) -> int:
    """The largest value an id column (``INTEGER``) holds on ``engine``'s backend: 32 bits on
    PostgreSQL, 64 on SQLite. A larger id cannot name a row; passing it to the driver fails."""
    return PORTABLE_MAX_ID if is_postgres(engine) else 2**63 - 1
