"""Create the board_label table: ``key: value`` labels that group boards in the portfolio.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "board_label",
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"], ["board.id"],
            name=op.f("fk_board_label_board_id_board"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("board_id", "key", name=op.f("pk_board_label")),
    )
    op.create_index("ix_board_label_key_value", "board_label", ["key", "value"])


def downgrade() -> None:
    op.drop_index("ix_board_label_key_value", table_name="board_label")
    op.drop_table("board_label")
