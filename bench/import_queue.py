"""Benchmark: 200 dumps through the queue with 2 Celery workers on Redis and PostgreSQL.

Starts the API (one uvicorn process, broker mode: it only publishes) and two ``vsm worker``
processes (prefork, one child each) on a queue of their own, against a fresh PostgreSQL schema.
Then posts 200 dumps (the two example boards, each under 100 distinct board ids, so every post
creates a board and a revision) from 8 client threads, and waits until every job is finished.

Prints boards per minute (200 / time from the first post to the last finished job) and the
import latency per job (``finished_at - created_at`` of the job: queue wait + normalize +
classify + write) at p50 and p99, plus how long the posts themselves took.

    .venv/bin/python bench/import_queue.py [--dumps 200] [--workers 2]

PostgreSQL and Redis come from ``VSM_TEST_POSTGRES_URL`` and ``VSM_TEST_REDIS_URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis
import sqlalchemy as sa
from local import api_command, create_schema, drop_schema, free_port

from service.db.engine import create_db_engine, create_session_factory
from service.db.migrate import upgrade_database
from service.usecases.keys import create_api_key

ROOT = Path(__file__).resolve().parent.parent

POSTGRES_URL = os.environ.get(
    "VSM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("VSM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
EXAMPLES = ("miro-abo-workshop.json", "mural-app-release.json")


def dumps(count: int) -> list[bytes]:
    """``count`` dumps alternating between the examples, each with its own board id."""
    bodies = []
    for n in range(count):
        data = json.loads((ROOT / "examples" / EXAMPLES[n % 2]).read_text())
        if data["provider"] == "miro":
            data["board"]["id"] = f"bench-miro-{n}"
        else:
            data["mural"]["id"] = f"bench-mural-{n}"
        bodies.append(json.dumps(data).encode())
    return bodies


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dumps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="vsm worker processes")
    parser.add_argument("--clients", type=int, default=8, help="posting threads")
    args = parser.parse_args()

    queue = f"vsm-bench-{uuid.uuid4().hex[:8]}"
    schema, url = create_schema(POSTGRES_URL)
    engine = create_db_engine(url, pool_size=2)
    processes: list[subprocess.Popen[bytes]] = []
    tmp = Path(tempfile.mkdtemp(prefix="vsm-bench-"))
    try:
        upgrade_database(engine)
        with create_session_factory(engine)() as session:
            key = create_api_key(session, "bench").secret
            session.commit()
        env = {
            **os.environ,
            "VSM_DATABASE_URL": url,
            "VSM_BROKER_URL": REDIS_URL,
            "VSM_BROKER_QUEUE": queue,
            "VSM_LOG_FORMAT": "json",
            "VSM_LOG_LEVEL": "WARNING",
            # One workspace posts every dump at once: the per-workspace cap on active imports
            # (default 20) and the per-key rate limit would answer 429 to what this measures.
            "VSM_MAX_ACTIVE_IMPORTS": str(max(args.dumps, 1)),
            "VSM_RATE_LIMIT": "",
        }
        port = free_port()
        processes.append(start(api_command(port, "--no-access-log"), env, tmp / "api.log"))
        logs = [tmp / f"worker-{n}.log" for n in range(args.workers)]
        for log in logs:
            processes.append(
                start(
                    [
                        sys.executable,
                        "-m",
                        "service.cli",
                        "worker",
                        "--concurrency=1",
                        "--loglevel=INFO",
                    ],
                    env,
                    log,
                )
            )
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(base), "the API")
        wait_for(
            lambda: all(" ready." in log.read_text(errors="replace") for log in logs), "the workers"
        )

        bodies = dumps(args.dumps)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        print(
            f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}; "
            f"{args.dumps} dumps of {statistics.mean(map(len, bodies)) / 1024:.0f} KiB, "
            f"{args.workers} workers, {args.clients} posting threads",
            flush=True,
        )
        started = time.monotonic()
        with (
            httpx.Client(base_url=base, headers=headers, timeout=60) as client,
            ThreadPoolExecutor(args.clients) as pool,
        ):
            responses = list(
                pool.map(lambda body: client.post("/v1/imports", content=body), bodies)
            )
        posted = time.monotonic() - started
        assert all(r.status_code == 202 for r in responses), {r.status_code for r in responses}

        def all_done() -> bool:
            with engine.connect() as connection:
                left = connection.execute(
                    sa.text("SELECT count(*) FROM import_job WHERE status IN ('queued', 'running')")
                ).scalar_one()
            return left == 0

        wait_for(all_done, "the imports", timeout=1800)
        elapsed = time.monotonic() - started
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT status, extract(epoch FROM finished_at - created_at),"
                    " extract(epoch FROM finished_at - started_at) FROM import_job"
                )
            ).all()
            revisions = connection.execute(sa.text("SELECT count(*) FROM revision")).scalar_one()
        statuses = {status for status, _, _ in rows}
        latencies = [float(seconds) * 1000 for _, seconds, _ in rows]
        work = [float(seconds) * 1000 for _, _, seconds in rows]
        print(f"posted {args.dumps} dumps in {posted:.1f} s ({args.dumps / posted:.0f} posts/s)")
        print(
            f"all jobs finished after {elapsed:.1f} s: statuses {sorted(statuses)}, "
            f"{revisions} revisions"
        )
        print(f"boards per minute: {args.dumps / elapsed * 60:.0f}")
        print(
            f"import latency (job created -> finished): p50 {percentile(latencies, 0.5):.0f} ms,"
            f" p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms"
        )
        print(
            f"time on a worker (started -> finished): p50 {percentile(work, 0.5):.0f} ms, "
            f"p99 {percentile(work, 0.99):.0f} ms"
        )
        return 0 if statuses == {"succeeded"} and revisions == args.dumps else 1
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        engine.dispose()
        drop_schema(POSTGRES_URL, schema)
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(queue)
        client.close()


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    sys.exit(main())
