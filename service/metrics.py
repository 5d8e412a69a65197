"""Prometheus figures of one process: requests, import jobs, webhook triggers, queue, memory.

``Metrics`` owns a registry of its own (no import-time global): the app factory builds one per
process and passes it to the request middleware, the embedded worker and the trigger route.
Queue depth, the oldest queued job and job counts by status are read from the database at
scrape time, so they are right whichever process (API thread, Celery worker) runs the jobs.
docs/service.md says which figure answers which question.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from service.db.tables import ImportJob, JobStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds. Reads answer in milliseconds; an import of a big board takes up to minutes.
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0)


class Metrics:
    """The process's figures and the registry ``render`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes and friends
        PlatformCollector(registry=self.registry)
        self.requests = Histogram(
            "vsm_http_request_duration_seconds",
            "Time from the request's arrival to the end of its answer, per route template.",
            ["method", "route", "status"],
            buckets=_REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.import_jobs = Histogram(
            "vsm_import_job_duration_seconds",
            "Run time of import jobs run in this process, by outcome.",
            ["outcome"],
            buckets=_JOB_BUCKETS,
            registry=self.registry,
        )
        self.triggers = Counter(
            "vsm_webhook_triggers",
            "Signed board triggers answered, by outcome (accepted, coalesced, rejected).",
            ["outcome"],
            registry=self.registry,
        )

    def watch_database(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        """Add the figures read from the job table at scrape time."""
        self.registry.register(_JobTable(engine, clock or (lambda: datetime.now(UTC))))

    def render(self) -> bytes:
        """The exposition text of every figure (Prometheus text format 0.0.4)."""
        return generate_latest(self.registry)

    def time_job(self) -> JobTimer:
        return JobTimer(self.import_jobs)


class JobTimer:
    """Times one job: ``with metrics.time_job() as timer: ...; timer.outcome = status``."""

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._started = 0.0
        self.outcome = "error"  # left so when the job raised (retried or crashed)

    def __enter__(self) -> JobTimer:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._histogram.labels(self.outcome).observe(time.perf_counter() - self._started)


_job = ImportJob.__table__  # type: ignore[attr-defined]
_BY_STATUS = sa.select(_job.c.status, sa.func.count()).group_by(_job.c.status)
_OLDEST_QUEUED = sa.select(sa.func.min(_job.c.created_at)).where(
    _job.c.status == JobStatus.QUEUED.value
)


class _JobTable(Collector):
    """Import jobs by status and the age of the oldest queued one, read when scraped."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with self._engine.connect() as connection:
            counts: dict[str, int] = {status: n for status, n in connection.execute(_BY_STATUS)}
            oldest = connection.execute(_OLDEST_QUEUED).scalar()
        jobs = GaugeMetricFamily(
            "vsm_import_jobs",
            "Import jobs in the database by status (queued = the queue depth).",
            labels=["status"],
        )
        for status in JobStatus:
            jobs.add_metric([status.value], float(counts.get(status.value, 0)))
        yield jobs
        age = 0.0
        if oldest is not None:
            age = max(0.0, (self._clock() - oldest).total_seconds())
        yield GaugeMetricFamily(
            "vsm_import_queue_oldest_age_seconds",
            "Age of the oldest queued import job (0: the queue is empty).",
            value=age,
        )
