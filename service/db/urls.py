"""What a database URL names (no engine, no driver: the settings read it too)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite database URL; None for another backend, an in-memory database or a
    ``file:`` URI (whose path SQLite reads itself)."""
    parsed = make_url(url)
    name = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name) if name else None
