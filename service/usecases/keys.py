"""Workspaces and API keys: create (the key is shown once), list by prefix, revoke, authenticate."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from service.db.tables import ApiKey, Workspace, utcnow
from service.usecases.errors import NotFoundError

KEY_SCHEME = "vsk"
_PREFIX_BYTES = 4  # 8 hex characters: unique among a workspace's keys with room to spare
_SECRET_BYTES = 32  # 256 bits of entropy, so a plain SHA-256 is a safe stored form


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly created key. ``secret`` is the full bearer key; it is never stored."""

    key: ApiKey
    workspace: Workspace
    secret: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def get_or_create_workspace(session: Session, name: str) -> Workspace:
    workspace = session.exec(select(Workspace).where(Workspace.name == name)).first()
    if workspace is None:
        workspace = Workspace(name=name)
        session.add(workspace)
        session.flush()
    return workspace


def create_api_key(session: Session, workspace_name: str, *, label: str = "") -> NewKey:
    """Create a key for ``workspace_name`` (the workspace too, if new). Flushes, doesn't commit."""
    name = workspace_name.strip()
    if not name or len(name) > 100:
        raise ValueError("the workspace name must have 1 to 100 characters")
    workspace = get_or_create_workspace(session, name)
    prefix = f"{KEY_SCHEME}_{secrets.token_hex(_PREFIX_BYTES)}"
    secret = f"{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    assert workspace.id is not None
    key = ApiKey(workspace_id=workspace.id, prefix=prefix, key_hash=hash_key(secret), name=label)
    session.add(key)
    session.flush()
    return NewKey(key=key, workspace=workspace, secret=secret)


def list_api_keys(session: Session) -> list[tuple[ApiKey, Workspace]]:
    """Every key with its workspace, oldest first."""
    rows = session.exec(
        select(ApiKey, Workspace)
        .join(Workspace, col(Workspace.id) == col(ApiKey.workspace_id))
        .order_by(col(ApiKey.id))
    ).all()
    return [(key, workspace) for key, workspace in rows]


def revoke_api_key(session: Session, prefix: str) -> ApiKey:
    """Revoke the key with ``prefix`` (idempotent). Raises ``NotFoundError``."""
    key = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None:
        raise NotFoundError(f"no API key with prefix {prefix!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
    return key


def authenticate(session: Session, secret: str) -> int | None:
    """The workspace id of a valid, unrevoked key, else None."""
    if not could_be_key(secret):
        return None
    row = session.exec(
        select(ApiKey.workspace_id, ApiKey.revoked_at).where(ApiKey.key_hash == hash_key(secret))
    ).first()
    return key_workspace(row)


def could_be_key(secret: str) -> bool:
    """Whether ``secret`` has the form of a key (anything else is not looked up)."""
    return secret.startswith(f"{KEY_SCHEME}_") and len(secret) <= 200


def key_workspace(row: Any) -> int | None:
    """The workspace id of a ``(workspace_id, revoked_at)`` key row: None when there is no row
    or the key is revoked."""
    if row is None or row[1] is not None:
        return None
    return int(row[0])


class KeyCache:
    """API key -> workspace id, remembered for ``ttl_s`` seconds per process.

    Every authenticated request otherwise pays one indexed query before its own work. A key
    revoked (in any process: the CLI, another API worker) stops working here at most ``ttl_s``
    after the revoke committed; the default second is the promise docs/service.md makes. Only
    valid keys are remembered, by their SHA-256 (the bearer secret itself is never kept), and at
    most ``max_entries`` of them: a flood of distinct keys empties the cache instead of growing it.
    """

    def __init__(
        self,
        ttl_s: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, tuple[int, float]] = {}

    def workspace_of(self, secret: str) -> int | None:
        """The remembered workspace id of ``secret``, or None (unknown, expired, never valid)."""
        entry = self._entries.get(hash_key(secret))
        if entry is None:
            return None
        workspace_id, expires = entry
        if self._clock() >= expires:
            return None
        return workspace_id

    def remember(self, secret: str, workspace_id: int) -> None:
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[hash_key(secret)] = (workspace_id, self._clock() + self._ttl_s)
