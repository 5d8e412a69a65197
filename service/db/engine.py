"""Engine and session factory for a database URL (SQLite file or PostgreSQL)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

SessionFactory = sessionmaker[Session]


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module's own transaction handling breaks SAVEPOINT and transactional DDL;
    # SQLAlchemy's documented fix: let the driver autocommit and emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    # WAL lets the API read while the in-process worker writes; busy_timeout makes writers queue
    # instead of failing with "database is locked"; SQLite enforces foreign keys only when asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
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
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 15},
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


class PlainQuery:
    """A Core ``SELECT`` compiled once for ``engine``'s dialect and run on a pooled DBAPI
    connection: no ``Connection`` object, no ``BEGIN`` event, no result processing.

    For the hottest reads only. On SQLite a two-join indexed look-up takes 0.29 ms through a
    Core ``Connection`` and 0.02 ms this way (bench/api_read.py); unless ``typed``, rows come
    as the driver returns them (ints, text; dates as text on SQLite).
    One statement is one transaction (SQLite autocommit; PostgreSQL's pool rolls back on
    return), so a caller reading twice must not rely on a snapshot across the two.

    With ``typed``, each column's result processing is applied (dates parsed on SQLite, JSON
    decoded): the processors come from the columns' types once, not per row.
    """

    def __init__(self, engine: Engine, statement: sa.Select[Any], *, typed: bool = False) -> None:
        self._engine = engine
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self._compiled = compiled
        self._sql = compiled.string
        self._order = compiled.positiontup
        self._typed = typed
        self._processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]

    def first(self, **values: Any) -> tuple[Any, ...] | None:
        """The first row for the bound ``values``, or None (a pooled connection)."""
        connection = self._engine.raw_connection()
        try:
            return self.first_on(connection, **values)
        finally:
            connection.close()

    def first_on(self, connection: Any, **values: Any) -> tuple[Any, ...] | None:
        """``first`` on a DBAPI ``connection`` the caller holds."""
        rows = self._execute(connection, values, one=True)
        return rows[0] if rows else None

    def all_on(self, connection: Any, **values: Any) -> list[tuple[Any, ...]]:
        """Every row for the bound ``values`` on a DBAPI ``connection`` the caller holds."""
        return self._execute(connection, values, one=False)

    def _execute(
        self, connection: Any, values: dict[str, Any], *, one: bool
    ) -> list[tuple[Any, ...]]:
        params = self._compiled.construct_params(values)
        bound: Any = [params[name] for name in self._order] if self._order else params
        cursor = connection.cursor()
        try:
            cursor.execute(self._sql, bound)
            if one:
                first = cursor.fetchone()
                rows = [] if first is None else [first]
            else:
                rows = cursor.fetchall()
        finally:
            cursor.close()
        if not self._typed:
            return [tuple(row) for row in rows]
        return [self.process(row) for row in rows]

    def process(self, row: Any) -> tuple[Any, ...]:
        """A row as the driver returned it, with its columns' result processing applied."""
        return tuple(
            value if process is None else process(value)
            for process, value in zip(self._processors, row, strict=True)
        )


# The largest id every backend holds (PostgreSQL INTEGER): the bound of ids in request bodies,
# whose schema cannot depend on the backend.
PORTABLE_MAX_ID = 2**31 - 1


def max_id(engine: Engine) -> int:
    """The largest value an id column (``INTEGER``) holds on ``engine``'s backend: 32 bits on
    PostgreSQL, 64 on SQLite. A larger id cannot name a row; passing it to the driver fails."""
    return PORTABLE_MAX_ID if is_postgres(engine) else 2**63 - 1
