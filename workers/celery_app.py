"""The Celery app of a worker or beat process: ``vsm worker`` / ``vsm beat``, or
``celery -A workers.celery_app worker`` (the app is built from ``VSM_*`` on first access).

Tasks are the jobs :func:`service.bootstrap.build` registers on the process's dispatcher: the
same functions the embedded default runs on its timers.
"""

from __future__ import annotations

from celery import Celery

from service.bootstrap import worker_celery
from service.settings import Settings


def create_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings.broker_url`` with every job registered as a task."""
    return worker_celery(settings)


def __getattr__(name: str) -> Celery:
    # ``celery -A workers.celery_app`` looks up ``app``: built on that first access, from the
    # environment, never at import time.
    if name == "app":
        return worker_celery(Settings())
    raise AttributeError(name)
