"""Store uploads as files: import_upload names a file in the upload folder; no chunk rows.

POST /v1/imports now writes the body to a file in the upload folder (VSM_UPLOAD_DIR) and the
job's import_upload row names it. The uploads of queued jobs are moved out of their chunks
into files (and back into one chunk each on downgrade), so queued jobs survive either way;
uploads without a job (broken off, still arriving) are dropped.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _upload_folder() -> Path:
    folder = op.get_context().config.attributes.get("upload_dir")
    if folder is None:
        # the `alembic` command line: the settings say where the uploads go
        from service.settings import Settings

        folder = Settings().upload_path
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def upgrade() -> None:
    connection = op.get_bind()
    op.execute(
        "DELETE FROM import_upload_chunk WHERE upload_id IN "
        "(SELECT id FROM import_upload WHERE job_id IS NULL)"
    )
    op.execute("DELETE FROM import_upload WHERE job_id IS NULL")
    with op.batch_alter_table("import_upload") as batch:
        batch.add_column(sa.Column("file_name", sa.String(length=64), nullable=True))
    upload_ids = connection.execute(sa.text("SELECT id FROM import_upload")).scalars().all()
    folder = _upload_folder() if upload_ids else None
    for upload_id in upload_ids:
        assert folder is not None
        token = secrets.token_hex(16)
        partial = folder / f"{token}.part"
        chunks = connection.execute(
            sa.text("SELECT data FROM import_upload_chunk WHERE upload_id = :u ORDER BY seq"),
            {"u": upload_id},
        ).scalars()
        with partial.open("xb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, folder / f"{token}.dump")
        connection.execute(
            sa.text("UPDATE import_upload SET file_name = :n WHERE id = :u"),
            {"n": f"{token}.dump", "u": upload_id},
        )
    op.drop_table("import_upload_chunk")
    with op.batch_alter_table("import_upload") as batch:
        batch.alter_column("file_name", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("job_id", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint(op.f("uq_import_upload_file_name"), ["file_name"])


def downgrade() -> None:
    connection = op.get_bind()
    uploads = connection.execute(sa.text("SELECT id, file_name FROM import_upload")).all()
    # Rebuilt (SQLite) before the chunk table exists: dropping the old table would cascade.
    with op.batch_alter_table("import_upload") as batch:
        batch.drop_constraint(op.f("uq_import_upload_file_name"), type_="unique")
        batch.alter_column("job_id", existing_type=sa.Integer(), nullable=True)
        batch.drop_column("file_name")
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
    folder = _upload_folder() if uploads else None
    for upload_id, file_name in uploads:
        assert folder is not None
        try:
            data = (folder / file_name).read_bytes()
        except FileNotFoundError:
            data = b""  # its job fails as the worker finds nothing to parse
        connection.execute(
            sa.text("INSERT INTO import_upload_chunk (upload_id, seq, data) VALUES (:u, 0, :d)"),
            {"u": upload_id, "d": data},
        )
