"""Prometheus figures of one process: requests, import jobs, provider calls, webhook
triggers, queue, memory.

``Metrics`` owns a registry of its own (no import-time global): the composition root builds one
per process and passes it to the request middleware, the jobs, the providers' HTTP clients and
budgets, and the trigger route. Queue depth, the oldest queued job and job counts by status are
read from the database at scrape time, so they are right whichever process runs the jobs.

Celery workers run jobs in forked child processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (before
the process starts) every child writes its figures to files there, and ``vsm worker`` serves
their sum on ``VSM_WORKER_METRICS_PORT`` (:func:`worker_registry`). docs/service.md says which
figure answers which question.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from connectors.http import RateBudget, RateSnapshot
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
        self.provider_calls = Counter(
            "vsm_provider_calls",
            "HTTP calls answered by a provider's API, by provider and status (2xx, 3xx, 4xx, "
            "429, 5xx).",
            ["provider", "status"],
            registry=self.registry,
        )
        self.provider_waits = Counter(
            "vsm_provider_rate_limit_waits",
            "Calls our rate pacing held back until the provider's window had room, by provider.",
            ["provider"],
            registry=self.registry,
        )
        self.provider_wait_seconds = Counter(
            "vsm_provider_rate_limit_wait_seconds",
            "Seconds calls were held back by rate pacing, by provider.",
            ["provider"],
            registry=self.registry,
        )
        self.job_memory = Gauge(
            "vsm_job_process_peak_memory_bytes",
            "Peak resident memory of the process that ran the last import job (per process).",
            registry=self.registry,
            multiprocess_mode="max",
        )

    def watch_database(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        """Add the figures read from the job table at scrape time."""
        self.registry.register(_JobTable(engine, clock or (lambda: datetime.now(UTC))))

    def render(self) -> bytes:
        """The exposition text of every figure (Prometheus text format 0.0.4)."""
        return generate_latest(self.registry)

    def time_job(self) -> JobTimer:
        return JobTimer(self.import_jobs, self.job_memory)

    def http_hooks(self, provider: str) -> dict[str, list[Callable[..., object]]]:
        """``event_hooks`` for a provider's ``httpx.AsyncClient``: every answer counted."""

        async def count(response: httpx.Response) -> None:
            self.provider_calls.labels(provider, status_class(response.status_code)).inc()

        return {"response": [count]}

    def counting(
        self, factory: Callable[[], httpx.AsyncClient], hosts: Mapping[str, str]
    ) -> Callable[[], httpx.AsyncClient]:
        """``factory`` whose clients count every answer for the provider of its host
        (``hosts``: host -> provider name; other hosts as ``other``). The process shares one
        provider client, so the host tells the providers apart."""

        async def count(response: httpx.Response) -> None:
            provider = hosts.get(response.request.url.host, "other")
            self.provider_calls.labels(provider, status_class(response.status_code)).inc()

        def make() -> httpx.AsyncClient:
            client = factory()
            hooks = client.event_hooks
            client.event_hooks = {
                "request": list(hooks["request"]),
                "response": [*hooks["response"], count],
            }
            return client

        return make

    def metered(self, provider: str, budget: RateBudget) -> RateBudget:
        """``budget`` with its pacing waits counted for ``provider``."""
        return MeteredBudget(budget, self, provider)


def status_class(status: int) -> str:
    """The ``status`` label of a provider call: 429 on its own, else the class (``4xx``)."""
    return "429" if status == 429 else f"{status // 100}xx"


class MeteredBudget:
    """A :class:`connectors.http.RateBudget` that counts the waits it hands out."""

    def __init__(self, inner: RateBudget, metrics: Metrics, provider: str) -> None:
        self._inner = inner
        self._waits = metrics.provider_waits.labels(provider)
        self._seconds = metrics.provider_wait_seconds.labels(provider)

    async def reserve(self, cost: int, now: float) -> float:
        wait = await self._inner.reserve(cost, now)
        if wait > 0:
            self._waits.inc()
            self._seconds.inc(wait)
        return wait

    async def observe(self, snapshot: RateSnapshot, now: float) -> None:
        await self._inner.observe(snapshot, now)


class JobTimer:
    """Times one job: ``with metrics.time_job() as timer: ...; timer.outcome = status``."""

    def __init__(self, histogram: Histogram, memory: Gauge) -> None:
        self._histogram = histogram
        self._memory = memory
        self._started = 0.0
        self.outcome = "error"  # left so when the job raised (retried or crashed)

    def __enter__(self) -> JobTimer:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._histogram.labels(self.outcome).observe(time.perf_counter() - self._started)
        # ru_maxrss is in kilobytes on Linux: the process's peak, big boards included
        self._memory.set(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def multiprocess_dir() -> Path | None:
    """The folder of ``PROMETHEUS_MULTIPROC_DIR`` when this process records its figures there
    (the variable must be set before the process starts)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(folder) if folder else None


def worker_registry(folder: Path) -> CollectorRegistry:
    """A registry summing the figures every process wrote to ``folder`` (Celery's children)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    return registry


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
