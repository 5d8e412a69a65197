"""Browser sign-in: an API key typed once, or a one-time login ticket, gives a key id to keep.

The browser's session cookie holds only the key's id (signed by the web shell); every request
checks here that the key is still active, so revoking a key signs its browsers out.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select, update

from service.db.tables import ApiKey, LoginTicket, Workspace, utcnow
from service.usecases.keys import KEY_SCHEME, hash_key

TICKET_TTL = timedelta(minutes=30)
_TICKET_BYTES = 32


@dataclass(frozen=True, slots=True)
class SignedInKey:
    """The API key a browser signed in with, and its workspace."""

    key_id: int
    workspace_id: int
    workspace_name: str
    prefix: str


def _signed_in(session: Session, where: sa.ColumnElement[bool]) -> SignedInKey | None:
    row = session.exec(
        select(ApiKey.id, ApiKey.workspace_id, Workspace.name, ApiKey.prefix)
        .join(Workspace, col(Workspace.id) == col(ApiKey.workspace_id))
        .where(where, col(ApiKey.revoked_at).is_(None))
    ).first()
    if row is None or row[0] is None:
        return None
    return SignedInKey(key_id=row[0], workspace_id=row[1], workspace_name=row[2], prefix=row[3])


def key_by_secret(session: Session, secret: str) -> SignedInKey | None:
    """The active key whose full secret is ``secret``, else None."""
    secret = secret.strip()
    if not secret.startswith(f"{KEY_SCHEME}_") or len(secret) > 200:
        return None
    return _signed_in(session, col(ApiKey.key_hash) == hash_key(secret))


def active_key(session: Session, key_id: int) -> SignedInKey | None:
    """The key ``key_id`` while it is active (not revoked, not deleted), else None."""
    return _signed_in(session, col(ApiKey.id) == key_id)


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def create_login_ticket(
    session: Session, key_id: int, *, now: datetime | None = None, ttl: timedelta = TICKET_TTL
) -> str:
    """A one-time sign-in ticket for key ``key_id``, valid for ``ttl``. Flushes, doesn't commit;
    only the ticket's SHA-256 is stored."""
    ticket = secrets.token_urlsafe(_TICKET_BYTES)
    moment = now or utcnow()
    session.add(
        LoginTicket(ticket_hash=_ticket_hash(ticket), api_key_id=key_id, expires_at=moment + ttl)
    )
    session.flush()
    return ticket


def redeem_login_ticket(
    session: Session, ticket: str, *, now: datetime | None = None
) -> SignedInKey | None:
    """The key of an unused, unexpired ticket, marking it used; None for any other ticket.

    The check and the mark are one UPDATE, so two browsers racing with one link get one
    session. Flushes, doesn't commit."""
    if not ticket or len(ticket) > 100:
        return None
    moment = now or utcnow()
    digest = _ticket_hash(ticket)
    claimed = session.exec(
        update(LoginTicket)
        .where(
            col(LoginTicket.ticket_hash) == digest,
            col(LoginTicket.used_at).is_(None),
            col(LoginTicket.expires_at) > moment,
        )
        .values(used_at=moment)
    )
    if claimed.rowcount != 1:
        return None
    row = session.get(LoginTicket, digest)
    return None if row is None else active_key(session, row.api_key_id)
