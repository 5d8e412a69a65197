"""Settings derived from others: where uploads wait when VSM_UPLOAD_DIR is not set."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings


@pytest.mark.parametrize(
    ("database_url", "folder"),
    [
        ("sqlite:///var/valuestream.db", Path("var/uploads")),
        ("sqlite:////srv/vsm/data.db", Path("/srv/vsm/uploads")),
        ("sqlite://", Path("var/uploads")),
        ("postgresql+psycopg://u@db/vsm", Path("var/uploads")),
    ],
)
def test_uploads_wait_beside_the_sqlite_file_unless_a_folder_is_set(
    monkeypatch: pytest.MonkeyPatch, database_url: str, folder: Path
) -> None:
    monkeypatch.delenv("VSM_UPLOAD_DIR", raising=False)

    assert Settings(database_url=database_url).upload_path == folder
    assert Settings(database_url=database_url, upload_dir=Path("/mnt/shared")).upload_path == (
        Path("/mnt/shared")
    )
