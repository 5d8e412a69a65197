"""``/v1/imports``: upload a Miro or Mural dump; follow its job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from service.api.deps import (
    DispatcherDep,
    PageDep,
    RuntimeDep,
    SessionDep,
    WorkspaceDep,
    keyset_page,
)
from service.api.problems import ProblemError, responses
from service.api.schemas import ImportJobPublic, Page
from service.api.uploads import stream_upload
from service.db.engine import begin_write
from service.db.tables import ImportJob, Revision, RevisionContent
from service.domain.progress import describe_job
from service.usecases.errors import IdempotencyKeyReused, TooManyActiveError
from service.usecases.imports import check_active_imports, hand_over, submit_upload

router = APIRouter(prefix="/imports", tags=["imports"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "A Miro or Mural dump (see docs/service.md): the JSON document itself, or a "
            "multipart form with the dump in the `file` part. At most `VSM_MAX_UPLOAD_BYTES` "
            "(256 MiB unless set)."
        ),
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


def job_public(job: ImportJob) -> ImportJobPublic:
    text = describe_job(job.status, job.phase, job.items_done, job.items_total)
    return ImportJobPublic.model_validate(
        {**job.model_dump(), "revision": job.revision_number, "progress_text": text},
        from_attributes=False,
    )


@router.post(
    "",
    status_code=202,
    response_model=ImportJobPublic,
    summary="Import a dump",
    description=(
        "Stores the dump as it arrives and queues an import job (202). The job parses, "
        "normalizes and classifies the board into a new revision, or reports `unchanged` when "
        "the content and rules equal the latest revision; a dump that is not valid JSON or not "
        "a Miro or Mural dump fails the job with the reason (`error`), the board's revisions "
        "untouched. With `Idempotency-Key`, a repeated request returns the first job instead "
        "of queuing another."
    ),
    responses=responses(400, 401, 413, 415, 422, 429, 503),
    openapi_extra=_UPLOAD_BODY,
)
async def create_import(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    dispatcher: DispatcherDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> ImportJobPublic:
    settings = runtime.settings

    def too_many(exc: TooManyActiveError) -> ProblemError:
        return ProblemError(
            "too-many-requests",
            f"{exc}; try again when one has finished.",
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    def room_for_one() -> None:
        try:
            check_active_imports(session, workspace_id, settings.max_active_imports)
        finally:
            session.rollback()

    try:  # before the transfer: a full workspace is refused without storing the bytes
        await run_in_threadpool(room_for_one)
    except TooManyActiveError as exc:
        raise too_many(exc) from None
    upload = await stream_upload(
        request,
        runtime.uploads,
        settings.max_upload_bytes,
        hashed=idempotency_key is not None,  # the hash only tells a replay from a reuse
        file_field="file",
    )

    def submit() -> tuple[ImportJob, bool]:
        # The job row (the outbox record) and the row naming its upload commit together.
        begin_write(session)
        job, created = submit_upload(
            session,
            workspace_id,
            upload,
            idempotency_key=idempotency_key,
            max_active=settings.max_active_imports,
        )
        session.commit()
        return job, created

    try:
        job, created = await run_in_threadpool(submit)
    except BaseException as exc:
        session.rollback()
        await run_in_threadpool(runtime.uploads.delete, upload.name)
        if isinstance(exc, IdempotencyKeyReused):
            raise ProblemError("idempotency-key-reused", str(exc)) from None
        if isinstance(exc, TooManyActiveError):
            raise too_many(exc) from None
        raise
    if created:
        assert job.id is not None
        hand_over(dispatcher, job.id)  # stored either way: the sweep retries a failed publish
    else:  # an idempotent replay: the first request's upload is the job's
        await run_in_threadpool(runtime.uploads.delete, upload.name)
    response.headers["Location"] = f"/v1/imports/{job.id}"
    return job_public(job)


@router.get(
    "",
    response_model=Page[ImportJobPublic],
    summary="List import jobs, newest first",
    responses=responses(400, 401, 422),
)
def list_imports(
    workspace_id: WorkspaceDep, session: SessionDep, page: PageDep
) -> Page[ImportJobPublic]:
    query = select(ImportJob).where(ImportJob.workspace_id == workspace_id)
    jobs, following = keyset_page(session, query, col(ImportJob.id), page, newest_first=True)
    return Page(items=[job_public(job) for job in jobs], limit=page.limit, next_cursor=following)


@router.get(
    "/{job_id}",
    response_model=ImportJobPublic,
    summary="Status and progress of an import job",
    responses=responses(401, 404),
)
def get_import(job_id: int, workspace_id: WorkspaceDep, session: SessionDep) -> ImportJobPublic:
    job = session.get(ImportJob, job_id)
    if job is None or job.workspace_id != workspace_id:
        raise ProblemError("not-found", f"No import job {job_id}.")
    public = job_public(job)
    if job.board_id is not None and job.revision_number is not None:
        result = session.exec(
            select(RevisionContent.result)
            .join(Revision, col(Revision.id) == col(RevisionContent.revision_id))
            .where(Revision.board_id == job.board_id, Revision.number == job.revision_number)
        ).first()
        public.account = (result or {}).get("account")
    return public
