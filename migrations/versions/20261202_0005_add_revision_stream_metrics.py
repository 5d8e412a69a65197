"""Add revision_stream.metrics: a copy of each stream document's metrics, for the portfolio.

Existing rows are filled from their documents, so the portfolio shows every stored revision.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("revision_stream") as batch:
        batch.add_column(sa.Column("metrics", sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE revision_stream SET metrics = data -> 'metrics'")
    else:
        op.execute("UPDATE revision_stream SET metrics = json_extract(data, '$.metrics')")


def downgrade() -> None:
    with op.batch_alter_table("revision_stream") as batch:
        batch.drop_column("metrics")
