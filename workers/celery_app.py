"""Celery application factory: the broker, delivery guarantees and the registered tasks."""

from __future__ import annotations

from celery import Celery

from service.db.engine import create_db_engine, create_session_factory
from service.jobqueue import IMPORT_TASK
from service.settings import Settings
from workers.live import build_miro_live, register_live_tasks
from workers.mural_live import build_mural_live, register_mural_tasks
from workers.tasks import register_tasks
from workers.webhooks import register_webhook_tasks

_BEAT_TICK_S = 30.0


def create_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings.broker_url`` with its tasks bound to the settings' database.

    Delivery is at least once: a task is acknowledged after it ran (``acks_late``) and put back
    when its worker dies (``task_reject_on_worker_lost``); Redis redelivers an unacknowledged
    task after ``broker_visibility_timeout_s``. Tasks are idempotent, so duplicates are harmless.
    """
    if not settings.broker_url:
        raise ValueError("VSM_BROKER_URL is not set: there is no broker to connect to")
    app = Celery("valuestream", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s,
            # Sweep for abandoned deliveries every few seconds: kombu's default sweep runs
            # every 10 s x 10 throttle, which would delay a crash's redelivery by minutes.
            "unacked_restore_interval": max(1, min(10, settings.broker_visibility_timeout_s // 4)),
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        task_default_queue=settings.broker_queue,
        task_routes={IMPORT_TASK: {"queue": settings.broker_queue}},
        enable_utc=True,
    )
    engine = create_db_engine(settings.database_url, pool_size=2)
    sessions = create_session_factory(engine)
    register_tasks(app, sessions, max_retries=settings.import_max_retries)
    register_webhook_tasks(app, settings, sessions)
    # Built lazily in the worker; a provider that is not configured turns its tasks into no-ops.
    # Beat looks for due boards every 30 s, or as often as a shorter poll interval needs.
    register_live_tasks(
        app,
        lambda: build_miro_live(settings, sessions, CeleryJobQueue(app))[0],
        max_retries=settings.import_max_retries,
        poll_every_s=min(_BEAT_TICK_S, settings.miro.poll_interval_s),
    )
    register_mural_tasks(
        app,
        lambda: build_mural_live(settings, sessions, CeleryJobQueue(app))[0],
        max_retries=settings.import_max_retries,
        poll_every_s=min(_BEAT_TICK_S, settings.mural.poll_interval_s),
    )
    return app


class CeleryJobQueue:
    """A ``JobQueue`` that only publishes: ``vsm worker`` processes run the jobs."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def enqueue(self, job_id: int) -> None:
        self._app.send_task(IMPORT_TASK, args=[job_id])

    def ping(self) -> bool:
        try:
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:  # any transport error means "not reachable"
            return False

    def start(self) -> None:
        """Nothing to start: connections are opened on the first publish."""

    def stop(self) -> None:
        self._app.close()
