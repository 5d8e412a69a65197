"""Store uploads in chunks: import_upload + import_upload_chunk replace import_payload.

POST /v1/imports now writes the body as it arrives, a megabyte per row, before its job
exists; the job takes the upload over when it is stored. Pending payloads are moved over as
one chunk each (and joined back on downgrade), so queued jobs survive either way.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "import_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"],
            name=op.f("fk_import_upload_workspace_id_workspace"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["import_job.id"],
            name=op.f("fk_import_upload_job_id_import_job"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_upload")),
        sa.UniqueConstraint("job_id", name=op.f("uq_import_upload_job_id")),
    )
    op.create_index(
        op.f("ix_import_upload_workspace_id"), "import_upload", ["workspace_id"], unique=False
    )
    op.create_table(
        "import_upload_chunk",
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["import_upload.id"],
            name=op.f("fk_import_upload_chunk_upload_id_import_upload"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "seq", name=op.f("pk_import_upload_chunk")),
    )
    op.execute(
        "INSERT INTO import_upload (id, workspace_id, job_id, size_bytes, sha256, created_at) "
        "SELECT p.job_id, j.workspace_id, p.job_id, p.size_bytes, j.payload_hash, j.created_at "
        "FROM import_payload p JOIN import_job j ON j.id = p.job_id"
    )
    op.execute(
        "INSERT INTO import_upload_chunk (upload_id, seq, data) "
        "SELECT job_id, 0, data FROM import_payload"
    )
    if op.get_bind().dialect.name == "postgresql":
        # ids were given explicitly: move the sequence past them
        op.execute(
            "SELECT setval(pg_get_serial_sequence('import_upload', 'id'), "
            "COALESCE((SELECT MAX(id) FROM import_upload), 0) + 1, false)"
        )
    op.drop_table("import_payload")


def downgrade() -> None:
    op.create_table(
        "import_payload",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["import_job.id"],
            name=op.f("fk_import_payload_job_id_import_job"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_import_payload")),
    )
    connection = op.get_bind()
    uploads = connection.execute(
        sa.text("SELECT id, job_id, size_bytes FROM import_upload WHERE job_id IS NOT NULL")
    ).all()
    for upload_id, job_id, size_bytes in uploads:
        chunks = connection.execute(
            sa.text("SELECT data FROM import_upload_chunk WHERE upload_id = :u ORDER BY seq"),
            {"u": upload_id},
        ).scalars()
        connection.execute(
            sa.text("INSERT INTO import_payload (job_id, data, size_bytes) VALUES (:j, :d, :s)"),
            {"j": job_id, "d": b"".join(bytes(chunk) for chunk in chunks), "s": size_bytes},
        )
    op.drop_table("import_upload_chunk")
    op.drop_index(op.f("ix_import_upload_workspace_id"), table_name="import_upload")
    op.drop_table("import_upload")
