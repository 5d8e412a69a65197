"""The embedded default's encryption key: generated once, kept beside the SQLite database.

A laptop run (SQLite, no broker) without ``VSM_ENCRYPTION_KEYS`` still gets webhooks,
subscriptions, OAuth connections, share links and browser sessions that survive a restart: a
Fernet key is generated into ``<database directory>/encryption.key`` (mode 0600) on first use
and read on every later start. Deployments (a broker, or a server database) must set
``VSM_ENCRYPTION_KEYS`` themselves; nothing is generated for them.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
import structlog
from cryptography.fernet import Fernet

from service.settings import Settings

log = structlog.get_logger(__name__)

KEY_FILE = "encryption.key"


def local_key_path(settings: Settings) -> Path | None:
    """Where the embedded default keeps its key; None when the settings are a deployment's
    (keys configured, a broker, a non-SQLite or in-memory database)."""
    if settings.encryption_keys or settings.broker_url:
        return None
    url = sa.engine.make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve().parent / KEY_FILE


def with_local_key(settings: Settings) -> Settings:
    """``settings`` with the embedded default's generated key as its encryption key, created
    (0600, said once in the log) when missing; other settings come back unchanged."""
    path = local_key_path(settings)
    if path is None:
        return settings
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()  # another process made it first
    else:
        key = Fernet.generate_key().decode("ascii")
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
        log.info(
            "encryption_key_generated",
            path=str(path),
            note="the embedded default keeps its key here (mode 0600); deployments set "
            "VSM_ENCRYPTION_KEYS instead",
        )
    return settings.model_copy(update={"encryption_keys": [key]})
