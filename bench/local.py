"""What the service benches share: a free port, the API server's command line, a throwaway schema.

Import as ``from local import ...`` (a script's own folder is on ``sys.path``).
"""

from __future__ import annotations

import socket
import sys
import uuid
from urllib.parse import quote

import sqlalchemy as sa


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_command(port: int, *options: str) -> list[str]:
    """The command that serves the REST API (``app_from_env``) on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "service.api.main:app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


def create_schema(url: str) -> tuple[str, str]:
    """A new schema in the PostgreSQL database at ``url``: its name, and a URL that uses it."""
    schema = f"vsm_bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return schema, f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def drop_schema(url: str, schema: str) -> None:
    """Drop a schema ``create_schema`` made, with everything in it."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
