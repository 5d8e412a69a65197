"""What the service benches share: a free port, the API server's command line, a throwaway schema.

Import as ``from local import ...`` (a script's own folder is on ``sys.path``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

BENCH = Path(__file__).resolve().parent

PROC_STATUS = (
    "import sys\n"
    "def status(field):\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith(field + ':'):\n"
    "            return int(line.split()[1]) / 1024\n"
)
"""Source that defines ``status(field)``: a field of /proc/self/status in MB (``VmHWM``, the
peak resident memory; ``VmRSS``, the resident memory now), for scripts run with ``-c``."""

_WRITE_BOARD = (
    "import json, sys\n"
    f"sys.path.insert(0, {str(BENCH)!r})\n"
    "from digitize import generate\n"
    "with open(sys.argv[1], 'w', encoding='utf-8') as out:\n"
    "    json.dump(generate(int(sys.argv[2])), out)\n"
)


def write_board(path: Path, stickies: int) -> None:
    """Write the bench board of ``stickies`` stickies (``digitize.generate``) to ``path``, in a
    process of its own, so that generating it adds nothing to a process measured later."""
    subprocess.run([sys.executable, "-c", _WRITE_BOARD, str(path), str(stickies)], check=True)


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
