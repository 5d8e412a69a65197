"""Uploads kept as files: whole or not at all, deleted with their job, orphans swept."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from service.db.tables import ImportJob, ImportUpload, utcnow
from service.usecases.uploads import (
    StoredUpload,
    UploadFolder,
    attach_upload,
    delete_job_upload,
    job_upload_name,
    purge_abandoned_uploads,
)


def a_job(session: Session, workspace_id: int, upload: StoredUpload) -> int:
    job = ImportJob(workspace_id=workspace_id)
    session.add(job)
    session.flush()
    assert job.id is not None
    attach_upload(session, workspace_id, job.id, upload)
    session.commit()
    return job.id


def files(folder: UploadFolder) -> set[str]:
    return {path.name for path in folder.path.iterdir()} if folder.path.exists() else set()


def test_an_upload_written_in_pieces_is_read_back_whole_by_its_job(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    raw = bytes(range(256)) * 3
    upload = uploads.create(hashed=True)
    upload.write([raw[:7], raw[7:500]])
    upload.write([raw[500:]])
    stored = upload.finish()

    job_id = a_job(db_session, workspace_id, stored)

    name = job_upload_name(db_session, job_id)
    assert name == stored.name
    assert uploads.read(name) == raw
    assert (stored.size_bytes, stored.sha256) == (len(raw), hashlib.sha256(raw).hexdigest())


@pytest.mark.parametrize("advice", ["refused", "missing"])
def test_an_upload_is_stored_whole_where_the_kernel_takes_no_advice(
    uploads: UploadFolder, monkeypatch: pytest.MonkeyPatch, advice: str
) -> None:
    # Starting the write-back early is advice (posix_fadvise): a file system that refuses it,
    # or a platform without it, still gets the whole upload, flushed by finish.
    if advice == "missing":
        monkeypatch.delattr(os, "posix_fadvise", raising=False)
    else:

        def refuse(*args: object) -> None:
            raise OSError(22, "Invalid argument")

        monkeypatch.setattr(os, "posix_fadvise", refuse, raising=False)
    raw = b"[" + b"1," * 5000 + b"1]"
    upload = uploads.create(hashed=False)
    upload.write([raw[:4096], raw[4096:]])

    stored = upload.finish()

    assert uploads.read(stored.name) == raw


def test_a_file_gets_its_final_name_only_once_complete(uploads: UploadFolder) -> None:
    upload = uploads.create(hashed=False)
    upload.write([b'{"provider": '])

    assert [name.endswith(".part") for name in files(uploads)] == [True]
    assert uploads.read(upload.name) is None  # a reader never sees half an upload

    stored = upload.finish()

    assert files(uploads) == {stored.name}
    assert stored.sha256 is None  # not asked for (no idempotency key)


def test_an_abandoned_upload_leaves_no_file(uploads: UploadFolder) -> None:
    upload = uploads.create(hashed=True)
    upload.write([b"x" * 1000])

    upload.abandon()
    upload.abandon()  # idempotent

    assert files(uploads) == set()


def test_a_finished_job_forgets_its_upload_and_names_the_file_to_delete(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    stored = uploads.store(b"{}" * 9)
    job_id = a_job(db_session, workspace_id, stored)

    name = delete_job_upload(db_session, job_id)
    db_session.commit()

    assert name == stored.name
    assert job_upload_name(db_session, job_id) is None
    assert delete_job_upload(db_session, job_id) is None


@pytest.mark.parametrize(
    "name", ["../valuestream.db", "/etc/passwd", "x.dump", "", "0" * 32 + ".dump\n"]
)
def test_a_name_that_is_not_an_uploads_is_refused(uploads: UploadFolder, name: str) -> None:
    with pytest.raises(ValueError, match="not an upload's name"):
        uploads.read(name)
    with pytest.raises(ValueError, match="not an upload's name"):
        uploads.delete(name)


def test_the_sweep_deletes_only_old_files_no_job_refers_to(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    now = utcnow()
    two_hours_ago = (now - timedelta(hours=2)).timestamp()
    orphan = uploads.store(b"the request was refused after the file")
    claimed = uploads.store(b"queued for a long time")
    a_job(db_session, workspace_id, claimed)
    broken_off = uploads.create(hashed=False)
    broken_off.write([b"the connection dropped"])
    young = uploads.store(b"its job is being committed right now")
    (uploads.path / "notes.txt").write_text("an operator's file")
    for path in uploads.path.iterdir():
        if path.name != young.name:
            os.utime(path, (two_hours_ago, two_hours_ago))

    purged = purge_abandoned_uploads(db_session, uploads, now=now)

    assert purged == 2
    assert files(uploads) == {claimed.name, young.name, "notes.txt"}
    assert orphan.name not in files(uploads)
    assert db_session.exec(select(ImportUpload.file_name)).all() == [claimed.name]


def test_the_sweep_of_a_folder_not_made_yet_finds_nothing(
    db_session: Session, tmp_path: Path
) -> None:
    folder = UploadFolder(tmp_path / "never-written")

    assert purge_abandoned_uploads(db_session, folder, now=utcnow()) == 0
