"""Import use cases called directly: revisions, idempotent re-runs, failures, reclassification."""

from __future__ import annotations

import gc
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
import structlog.testing
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, func, select

from connectors.dump import load_dump
from service.db.engine import EncodedJSON, create_session_factory
from service.db.tables import (
    Board,
    ImportJob,
    ImportUpload,
    JobStatus,
    Revision,
    RevisionContent,
    RevisionStream,
    Workspace,
)
from service.domain.digitize import digitize
from service.domain.ruleset import Ruleset
from service.domain.serialize import board_from_dict, board_to_dict
from service.usecases import imports as imports_usecase
from service.usecases.errors import ConflictError
from service.usecases.imports import (
    canonical_json,
    canonical_sha256,
    fail_import_job,
    run_import_job,
    submit_import,
    submit_reclassify,
)
from service.usecases.uploads import UploadFolder
from testkit.service_dumps import stream_dump


def submit(
    session: Session, uploads: UploadFolder, workspace_id: int, dump: Any, raw: bytes | None = None
) -> int:
    data = raw if raw is not None else json.dumps(dump).encode()
    job, _ = submit_import(session, uploads, workspace_id, data, load_dump(dump))
    session.commit()
    assert job.id is not None
    return job.id


def submit_committed(sessions: Any, uploads: UploadFolder, workspace_name: str, dump: Any) -> int:
    """A new workspace with one committed import job of ``dump``; returns the job id."""
    with sessions() as session:
        workspace = Workspace(name=workspace_name)
        session.add(workspace)
        session.commit()
        assert workspace.id is not None
        return submit(session, uploads, workspace.id, dump)


def revisions(session: Session) -> list[int]:
    return list(session.exec(select(Revision.number).order_by(col(Revision.number))).all())


def test_a_job_stores_one_revision_with_the_normalized_board(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    dump = stream_dump(3)
    job = run_import_job(db_session, uploads, submit(db_session, uploads, workspace_id, dump))

    assert job is not None
    assert job.status == JobStatus.SUCCEEDED
    content = db_session.exec(select(RevisionContent)).one()
    assert board_from_dict(content.board) == load_dump(dump)
    assert content.result["schema_version"] == 1
    assert db_session.exec(select(func.count()).select_from(ImportUpload)).one() == 0
    assert list(uploads.path.iterdir()) == []  # the upload's file went with the job


def test_the_stored_board_and_result_are_their_json_text_and_the_hash_their_canonical_form(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    dump = stream_dump(3, name="Übersicht → Ist ✓")
    board = load_dump(dump)
    job = run_import_job(db_session, uploads, submit(db_session, uploads, workspace_id, dump))

    assert job is not None
    text = "CAST({} AS TEXT)" if db_session.get_bind().dialect.name == "postgresql" else "{}"
    stored_board, stored_result = db_session.execute(
        sa.text(f"SELECT {text.format('board')}, {text.format('result')} FROM revision_content")
    ).one()
    # What the JSON column made of the dicts before the texts were encoded up front.
    assert stored_board == json.dumps(board_to_dict(board))
    assert stored_result == json.dumps(digitize(board, Ruleset()))
    revision = db_session.exec(select(Revision)).one()
    canonical = canonical_json(board_to_dict(board))
    assert revision.content_hash == hashlib.sha256(canonical).hexdigest()


def test_the_canonical_hash_is_the_same_when_the_text_is_hashed_in_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = {"b": ["Übersicht", "→ ✓ 𝄞", 1.5], "a": {"z": None, "y": "ascii"}}
    monkeypatch.setattr(imports_usecase, "_HASH_SLICE", 3)

    assert canonical_sha256(value) == hashlib.sha256(canonical_json(value)).hexdigest()


def test_a_finished_job_keeps_no_encoded_document_alive(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    def encoded() -> dict[int, EncodedJSON]:
        gc.collect()
        return {id(o): o for o in gc.get_objects() if isinstance(o, EncodedJSON)}

    earlier = encoded()  # what an earlier test's exception may still hold
    run_import_job(db_session, uploads, submit(db_session, uploads, workspace_id, stream_dump(3)))

    # A big board's texts must go with the job (a statement cache holding them kept 80 MB).
    assert [o for key, o in encoded().items() if key not in earlier] == []


def test_running_a_finished_job_again_does_nothing(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    job_id = submit(db_session, uploads, workspace_id, stream_dump(3))
    run_import_job(db_session, uploads, job_id)

    again = run_import_job(db_session, uploads, job_id)

    assert again is not None
    assert again.attempts == 1
    assert revisions(db_session) == [1]


def test_a_job_left_running_by_a_crash_runs_again_into_exactly_one_revision(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    job_id = submit(db_session, uploads, workspace_id, stream_dump(3))
    crashed = db_session.get(ImportJob, job_id)
    assert crashed is not None
    crashed.status = JobStatus.RUNNING  # the worker died after marking it running
    crashed.attempts = 1
    db_session.commit()

    job = run_import_job(db_session, uploads, job_id)

    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert revisions(db_session) == [1]


def test_the_same_board_content_again_is_unchanged(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    run_import_job(db_session, uploads, submit(db_session, uploads, workspace_id, stream_dump(3)))

    job = run_import_job(
        db_session, uploads, submit(db_session, uploads, workspace_id, stream_dump(3))
    )

    assert job is not None
    assert (job.status, job.revision_number) == (JobStatus.UNCHANGED, 1)
    assert revisions(db_session) == [1]


def test_a_failed_import_keeps_the_previous_revision_and_says_why(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    run_import_job(db_session, uploads, submit(db_session, uploads, workspace_id, stream_dump(3)))
    broken = submit(db_session, uploads, workspace_id, stream_dump(4), raw=b'{"provider": "miro"')

    job = run_import_job(db_session, uploads, broken)

    assert job is not None
    assert job.status == JobStatus.FAILED
    assert "invalid JSON" in (job.error or "")
    assert revisions(db_session) == [1]
    board = db_session.exec(select(Board)).one()
    assert board.latest_revision_number == 1
    streams = db_session.exec(select(RevisionStream)).all()
    assert [s.step_count for s in streams] == [3]


def test_a_worker_that_cannot_see_the_upload_fails_the_job_and_names_the_shared_folder(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    run_import_job(db_session, uploads, submit(db_session, uploads, workspace_id, stream_dump(3)))
    job_id = submit(db_session, uploads, workspace_id, stream_dump(4))
    elsewhere = UploadFolder(uploads.path.parent / "another-host")  # a folder not shared

    with structlog.testing.capture_logs() as logged:
        job = run_import_job(db_session, uploads=elsewhere, job_id=job_id)

    assert job is not None
    assert job.status == JobStatus.FAILED
    assert "send it again" in (job.error or "")
    assert "VSM_UPLOAD_DIR" in (job.error or "")
    assert revisions(db_session) == [1]
    missing = [line for line in logged if line["event"] == "upload_file_missing"]
    assert missing == [
        {
            "event": "upload_file_missing",
            "job_id": job_id,
            "upload_dir": str(elsewhere.path),
            "log_level": "warning",
        }
    ]


def test_a_reclassification_reuses_the_stored_board(
    db_session: Session, workspace_id: int, uploads: UploadFolder
) -> None:
    run_import_job(
        db_session,
        uploads,
        submit(db_session, uploads, workspace_id, stream_dump(3, title="Ablauf")),
    )
    board = db_session.exec(select(Board)).one()

    job = submit_reclassify(db_session, board, {"streams": {"target": ["ablauf"]}})
    db_session.commit()
    assert job.id is not None
    done = run_import_job(db_session, uploads, job.id)

    assert done is not None
    assert (done.status, done.revision_number) == (JobStatus.SUCCEEDED, 2)
    latest = db_session.exec(select(RevisionStream).where(RevisionStream.revision_number == 2))
    assert [s.state for s in latest] == ["target"]


def test_a_board_without_a_revision_cannot_be_reclassified(
    db_session: Session, workspace_id: int
) -> None:
    board = Board(workspace_id=workspace_id, provider="miro", external_id="x", name="x")
    db_session.add(board)
    db_session.commit()

    with pytest.raises(ConflictError):
        submit_reclassify(db_session, board, None)


def test_a_missing_job_is_ignored(db_session: Session, uploads: UploadFolder) -> None:
    assert run_import_job(db_session, uploads, 424242) is None


def test_two_jobs_for_one_new_board_run_at_once_give_revisions_1_and_2(
    engine, uploads: UploadFolder
) -> None:
    sessions = create_session_factory(engine)
    with sessions() as session:
        workspace = Workspace(name="race")
        session.add(workspace)
        session.commit()
        assert workspace.id is not None
        job_ids = [
            submit(
                session, uploads, workspace.id, stream_dump(3, step_text=f"Schritt {{n}} {variant}")
            )
            for variant in ("a", "b")
        ]
    barrier = threading.Barrier(2)

    def run(job_id: int) -> str:
        barrier.wait()
        with sessions() as session:
            job = run_import_job(session, uploads, job_id)
            assert job is not None
            return job.status

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(run, job_ids))

    with sessions() as session:
        assert statuses == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]
        assert revisions(session) == [1, 2]
        assert len(session.exec(select(Board)).all()) == 1


def test_a_duplicate_delivery_finishing_second_leaves_the_first_runs_status(
    engine, monkeypatch: pytest.MonkeyPatch, uploads: UploadFolder
) -> None:
    sessions = create_session_factory(engine)
    job_id = submit_committed(sessions, uploads, "duplicate", stream_dump(3))
    real_digitize = imports_usecase.digitize
    calls = 0

    def digitize_while_the_other_delivery_finishes(*args: Any, **kwargs: Any) -> Any:
        # The duplicate classifies while the first delivery runs the job to the end.
        nonlocal calls
        calls += 1
        if calls == 1:
            with sessions() as other:
                first = run_import_job(other, uploads, job_id)
                assert first is not None
                assert first.status == JobStatus.SUCCEEDED
        return real_digitize(*args, **kwargs)

    monkeypatch.setattr(imports_usecase, "digitize", digitize_while_the_other_delivery_finishes)

    with sessions() as session:
        duplicate = run_import_job(session, uploads, job_id)

    with sessions() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        assert (job.status, job.revision_number) == (JobStatus.SUCCEEDED, 1)
        assert duplicate is not None
        assert duplicate.status == JobStatus.SUCCEEDED
        assert revisions(session) == [1]


def test_failing_a_job_another_session_finished_keeps_its_status(
    engine, uploads: UploadFolder
) -> None:
    sessions = create_session_factory(engine)
    job_id = submit_committed(sessions, uploads, "late-failure", stream_dump(2))
    with sessions() as stale:
        loaded = stale.get(ImportJob, job_id)  # loaded (and kept) while queued
        assert loaded is not None
        stale.commit()
        with sessions() as other:
            run_import_job(other, uploads, job_id)

        fail_import_job(stale, uploads, job_id, "late failure")

    with sessions() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        assert (job.status, job.error) == (JobStatus.SUCCEEDED, None)


@pytest.mark.parametrize(
    "error",
    [
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        ValueError("A string literal cannot contain NUL (0x00) characters."),
    ],
)
def test_a_job_whose_final_write_raises_ends_failed_with_the_reason(
    db_session: Session,
    workspace_id: int,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    uploads: UploadFolder,
) -> None:
    job_id = submit(db_session, uploads, workspace_id, stream_dump(2))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(imports_usecase, "_insert_revision", refuse)
    job = run_import_job(db_session, uploads, job_id)

    assert job is not None
    assert job.status == JobStatus.FAILED
    assert job.error is not None
    assert type(error).__name__ in job.error
    assert revisions(db_session) == []
    assert (
        db_session.exec(select(ImportUpload).where(ImportUpload.job_id == job_id)).first() is None
    )
    assert (
        run_import_job(db_session, uploads, job_id).status == JobStatus.FAILED
    )  # a re-run is harmless


def test_a_write_conflict_on_the_final_store_is_tried_again_after_a_logged_wait(
    db_session: Session, workspace_id: int, monkeypatch: pytest.MonkeyPatch, uploads: UploadFolder
) -> None:
    job_id = submit(db_session, uploads, workspace_id, stream_dump(2))
    real_insert = imports_usecase._insert_revision
    conflicts = [OperationalError("INSERT", {}, Exception("database is locked"))] * 2

    def conflicting(*args: Any, **kwargs: Any) -> Any:
        if conflicts:
            raise conflicts.pop()
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(imports_usecase, "_insert_revision", conflicting)
    with structlog.testing.capture_logs() as logs:
        job = run_import_job(db_session, uploads, job_id)

    assert job is not None
    assert job.status == JobStatus.SUCCEEDED
    assert revisions(db_session) == [1]
    waits = [line for line in logs if line["event"] == "import_job_store_conflict"]
    assert [line["attempt"] for line in waits] == [1, 2]
    assert all(0 <= line["seconds"] <= 1.0 for line in waits)


def test_a_write_conflict_that_persists_is_raised_for_the_jobs_own_retry(
    db_session: Session, workspace_id: int, monkeypatch: pytest.MonkeyPatch, uploads: UploadFolder
) -> None:
    job_id = submit(db_session, uploads, workspace_id, stream_dump(2))
    tries: list[int] = []

    def always_locked(*args: Any, **kwargs: Any) -> None:
        tries.append(1)
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(imports_usecase, "_insert_revision", always_locked)
    with pytest.raises(OperationalError):
        run_import_job(db_session, uploads, job_id)

    assert len(tries) == imports_usecase.STORE_RETRY.max_tries
    assert db_session.get(ImportJob, job_id).status == JobStatus.RUNNING  # type: ignore[union-attr]


def test_a_running_job_shows_its_phase_and_item_counts_while_it_classifies(
    db_session: Session, workspace_id: int, monkeypatch: pytest.MonkeyPatch, uploads: UploadFolder
) -> None:
    import service.usecases.imports as imports

    dump = stream_dump(3)
    job_id = submit(db_session, uploads, workspace_id, dump)
    seen: list[tuple[str | None, int | None, int | None, str]] = []
    real_digitize = imports.digitize
    factory = create_session_factory(db_session.get_bind())  # type: ignore[arg-type]

    def observed_digitize(*args: Any, **kwargs: Any) -> Any:
        with factory() as other:
            job = other.get(ImportJob, job_id)
            assert job is not None
            seen.append((job.phase, job.items_done, job.items_total, job.status))
        return real_digitize(*args, **kwargs)

    monkeypatch.setattr(imports, "digitize", observed_digitize)

    finished = run_import_job(db_session, uploads, job_id)

    items = len(load_dump(dump).items)
    assert seen == [("classifying", items, items, "running")]
    assert finished is not None
    assert (finished.phase, finished.progress) == ("done", 100)
