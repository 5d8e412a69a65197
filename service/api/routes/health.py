"""``/healthz`` (the process answers) and ``/readyz`` (database and job broker reachable)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from service.api.deps import RuntimeDep
from service.api.problems import ProblemError, responses
from service.db.engine import SessionFactory

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _database_ok(factory: SessionFactory) -> bool:
    try:
        with factory() as session:
            session.execute(sa.text("SELECT 1"))
        return True
    except Exception:  # any driver error means "not reachable"
        return False


@router.get("/readyz", summary="Readiness", responses=responses(503))
async def readyz(runtime: RuntimeDep) -> dict[str, Any]:
    database = await run_in_threadpool(_database_ok, runtime.sessions)
    broker = await run_in_threadpool(runtime.dispatcher.ping)
    checks = {"database": "ok" if database else "down", "broker": "ok" if broker else "down"}
    if not (database and broker):
        failing = ", ".join(name for name, state in checks.items() if state != "ok")
        raise ProblemError("not-ready", f"Unreachable: {failing}.")
    return {"status": "ok", "checks": checks}
