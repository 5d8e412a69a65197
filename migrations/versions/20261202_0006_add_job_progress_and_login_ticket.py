"""Add import job progress (phase, items done/total), the upload's hash, and login tickets.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("import_job") as batch:
        batch.add_column(sa.Column("phase", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("items_done", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("items_total", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("payload_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "login_ticket",
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_key.id"],
            name=op.f("fk_login_ticket_api_key_id_api_key"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_hash", name=op.f("pk_login_ticket")),
    )
    op.create_index(
        op.f("ix_login_ticket_api_key_id"), "login_ticket", ["api_key_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_login_ticket_api_key_id"), table_name="login_ticket")
    op.drop_table("login_ticket")
    with op.batch_alter_table("import_job") as batch:
        batch.drop_column("payload_hash")
        batch.drop_column("items_total")
        batch.drop_column("items_done")
        batch.drop_column("phase")
