"""Run the Alembic migrations in ``migrations/`` against an engine or URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_database(
    engine: Engine, revision: str = "head", *, upload_dir: Path | None = None
) -> None:
    """Migrate the database behind ``engine`` to ``revision`` (idempotent). ``upload_dir`` is
    the folder of uploads (``Settings.upload_path``), for the revisions that move uploads;
    without it they read the settings."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["upload_dir"] = upload_dir
        command.upgrade(config, revision)


def downgrade_database(engine: Engine, revision: str, *, upload_dir: Path | None = None) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["upload_dir"] = upload_dir
        command.downgrade(config, revision)
