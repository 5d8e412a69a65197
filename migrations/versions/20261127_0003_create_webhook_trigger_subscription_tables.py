"""Create the webhook tables: board triggers, replay guard, trigger log, subscriptions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "board_webhook",
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary(), nullable=True),
        sa.Column("previous_valid_until", TIMESTAMP, nullable=True),
        sa.Column("rotated_at", TIMESTAMP, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("due_at", TIMESTAMP, nullable=True),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("running_job_id", sa.Integer(), nullable=True),
        sa.Column("running_since", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"],
            name=op.f("fk_board_webhook_board_id_board"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("board_id", name=op.f("pk_board_webhook")),
    )
    op.create_index(op.f("ix_board_webhook_due_at"), "board_webhook", ["due_at"])

    op.create_table(
        "hook_delivery_seen",
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=100), nullable=False),
        sa.Column("seen_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"],
            name=op.f("fk_hook_delivery_seen_board_id_board"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("board_id", "delivery_id", name=op.f("pk_hook_delivery_seen")),
    )
    op.create_index(op.f("ix_hook_delivery_seen_seen_at"), "hook_delivery_seen", ["seen_at"])

    op.create_table(
        "hook_trigger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=100), nullable=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("body_bytes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"],
            name=op.f("fk_hook_trigger_board_id_board"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hook_trigger")),
    )
    op.create_index(op.f("ix_hook_trigger_board_id"), "hook_trigger", ["board_id"])
    op.create_index(op.f("ix_hook_trigger_received_at"), "hook_trigger", ["received_at"])

    op.create_table(
        "subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"],
            name=op.f("fk_subscription_workspace_id_workspace"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription")),
    )
    op.create_index(op.f("ix_subscription_workspace_id"), "subscription", ["workspace_id"])

    op.create_table(
        "subscription_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["subscription.id"],
            name=op.f("fk_subscription_delivery_subscription_id_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_delivery")),
        sa.UniqueConstraint(
            "subscription_id", "event_id",
            name=op.f("uq_subscription_delivery_subscription_id_event_id"),
        ),
    )
    op.create_index(
        op.f("ix_subscription_delivery_subscription_id"), "subscription_delivery",
        ["subscription_id"],
    )
    op.create_index(op.f("ix_subscription_delivery_status"), "subscription_delivery", ["status"])
    op.create_index(
        op.f("ix_subscription_delivery_next_attempt_at"), "subscription_delivery",
        ["next_attempt_at"],
    )

    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("attempted_at", TIMESTAMP, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["subscription_delivery.id"],
            name=op.f("fk_delivery_attempt_delivery_id_subscription_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempt")),
        sa.UniqueConstraint(
            "delivery_id", "number", name=op.f("uq_delivery_attempt_delivery_id_number")
        ),
    )
    op.create_index(op.f("ix_delivery_attempt_delivery_id"), "delivery_attempt", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("delivery_attempt")
    op.drop_table("subscription_delivery")
    op.drop_table("subscription")
    op.drop_table("hook_trigger")
    op.drop_table("hook_delivery_seen")
    op.drop_table("board_webhook")
