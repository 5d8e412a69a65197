"""Create OAuth connections (encrypted tokens), pending authorization states and board sync.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=100), nullable=False),
        sa.Column("account_name", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("access_token", sa.LargeBinary(), nullable=False),
        sa.Column("refresh_token", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"],
            name=op.f("fk_connection_workspace_id_workspace"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection")),
        sa.UniqueConstraint(
            "workspace_id", "provider", "account_id", "user_id",
            name=op.f("uq_connection_workspace_id_provider_account_id_user_id"),
        ),
    )
    op.create_index(op.f("ix_connection_workspace_id"), "connection", ["workspace_id"])

    op.create_table(
        "oauth_state",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"],
            name=op.f("fk_oauth_state_workspace_id_workspace"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_oauth_state")),
    )

    op.create_table(
        "board_sync",
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("remote_modified_at", sa.String(length=64), nullable=True),
        sa.Column("last_checked_at", TIMESTAMP, nullable=True),
        sa.Column("next_check_at", TIMESTAMP, nullable=True),
        sa.Column("last_import_job_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"],
            name=op.f("fk_board_sync_board_id_board"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connection.id"],
            name=op.f("fk_board_sync_connection_id_connection"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("board_id", name=op.f("pk_board_sync")),
    )
    op.create_index(op.f("ix_board_sync_connection_id"), "board_sync", ["connection_id"])
    op.create_index(op.f("ix_board_sync_next_check_at"), "board_sync", ["next_check_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_board_sync_next_check_at"), table_name="board_sync")
    op.drop_index(op.f("ix_board_sync_connection_id"), table_name="board_sync")
    op.drop_table("board_sync")
    op.drop_table("oauth_state")
    op.drop_index(op.f("ix_connection_workspace_id"), table_name="connection")
    op.drop_table("connection")
