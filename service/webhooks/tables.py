"""SQLModel tables of the webhooks: board triggers, replay guard, trigger log, subscriptions.

Registered on the same ``SQLModel.metadata`` as ``service.db.tables`` (so ``alembic check`` and
the test fixtures see them); created by migration 0003.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from service.db.tables import UTCDateTime, utcnow


class HookState(StrEnum):
    IDLE = "idle"
    PENDING = "pending"  # a trigger arrived; the import starts at ``due_at`` (debounce)
    RUNNING = "running"  # an import runs; ``dirty`` = one more import after it


class BoardWebhook(SQLModel, table=True):
    """A board's inbound trigger: its secrets (Fernet-encrypted) and its coalescing state.

    All state changes are single conditional UPDATEs (``... WHERE state = 'idle'``), so any
    number of API processes and workers agree on who schedules the next import.
    """

    __tablename__ = "board_webhook"

    board_id: int = Field(foreign_key="board.id", ondelete="CASCADE", primary_key=True)
    secret: bytes = Field(sa_type=sa.LargeBinary)
    # After a rotation the previous secret keeps verifying until ``previous_valid_until``.
    previous_secret: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    previous_valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rotated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    state: str = Field(default=HookState.IDLE, max_length=16)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    dirty: bool = Field(default=False)
    running_job_id: int | None = Field(default=None)
    running_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class HookDeliverySeen(SQLModel, table=True):
    """Delivery ids of accepted triggers, kept a while so a replay is recognized."""

    __tablename__ = "hook_delivery_seen"

    board_id: int = Field(foreign_key="board.id", ondelete="CASCADE", primary_key=True)
    delivery_id: str = Field(max_length=100, primary_key=True)
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class TriggerOutcome(StrEnum):
    ACCEPTED = "accepted"  # started a debounce window: an import follows
    COALESCED = "coalesced"  # joined a pending import, or the one queued after a running one
    REJECTED = "rejected"


class HookTrigger(SQLModel, table=True):
    """The delivery log of inbound triggers: what came in and what became of it."""

    __tablename__ = "hook_trigger"

    id: int | None = Field(default=None, primary_key=True)
    board_id: int = Field(foreign_key="board.id", ondelete="CASCADE", index=True)
    delivery_id: str | None = Field(default=None, max_length=100)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=500)
    body_bytes: int = 0


class Subscription(SQLModel, table=True):
    """A workspace's URL that hears about revisions and failed imports."""

    __tablename__ = "subscription"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(sa_type=sa.JSON)
    secret: bytes = Field(sa_type=sa.LargeBinary)
    description: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # gave up: the retry window passed, or the URL is refused


class SubscriptionDelivery(SQLModel, table=True):
    """One event for one subscription, with its attempts; ``event_id`` makes emission idempotent."""

    __tablename__ = "subscription_delivery"
    __table_args__ = (sa.UniqueConstraint("subscription_id", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="subscription.id", ondelete="CASCADE", index=True)
    event_id: str = Field(max_length=100)
    event_type: str = Field(max_length=32)
    payload: dict[str, Any] = Field(sa_type=sa.JSON)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeliveryAttempt(SQLModel, table=True):
    """One HTTP attempt of a delivery: when, the answer's status code or the error."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (sa.UniqueConstraint("delivery_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="subscription_delivery.id", ondelete="CASCADE", index=True)
    number: int
    attempted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int = 0
