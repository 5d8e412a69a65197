"""The port between entry points and workers: hand over a job id after the commit."""

from __future__ import annotations

from typing import Protocol

IMPORT_TASK = "imports.run"


class JobQueue(Protocol):
    """Where committed import jobs go: a Celery broker or the in-process worker thread."""

    def enqueue(self, job_id: int) -> None:
        """Hand job ``job_id`` to a worker. Call only after the job row is committed."""

    def ping(self) -> bool:
        """True when jobs can be handed over (broker reachable, worker thread alive)."""

    def start(self) -> None:
        """Begin consuming (embedded) or connecting (broker); safe to call once per process."""

    def stop(self) -> None:
        """Finish the job in hand and stop; queued ids stay in the database as ``queued``."""
