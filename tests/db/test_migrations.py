"""The migrations build exactly the tables of service.db.tables, and downgrade cleanly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import service.db.tables  # noqa: F401  (registers the tables)
from service.db.engine import create_db_engine
from service.db.migrate import downgrade_database, upgrade_database
from tests.conftest import POSTGRES_URL, TestDatabase, with_search_path


@pytest.fixture
def empty_engine(database: TestDatabase, tmp_path) -> Iterator[Engine]:
    """A database of the same backend with nothing in it."""
    if database.backend == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"vsm_mig_{uuid.uuid4().hex[:10]}"
    with database.engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = create_db_engine(with_search_path(POSTGRES_URL, schema))
    yield engine
    engine.dispose()
    with database.engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def differences(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_the_migrated_schema_matches_the_tables(database: TestDatabase) -> None:
    assert differences(database.engine) == []


def test_migrations_downgrade_to_nothing_and_upgrade_again(empty_engine: Engine) -> None:
    upgrade_database(empty_engine)

    downgrade_database(empty_engine, "base")
    left = set(sa.inspect(empty_engine).get_table_names()) - {"alembic_version"}
    upgrade_database(empty_engine)

    assert left == set()
    assert differences(empty_engine) == []


def test_upgrading_twice_is_harmless(empty_engine: Engine) -> None:
    upgrade_database(empty_engine)
    upgrade_database(empty_engine)

    assert differences(empty_engine) == []
