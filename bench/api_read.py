"""Benchmark: ``GET /v1/streams/{id}`` of a 500-step stream under wrk, SQLite and PostgreSQL,
with 1 and 2 uvicorn processes.

For each database the script migrates a fresh database (a SQLite file in a temporary directory;
a PostgreSQL schema of its own, dropped at the end), imports one board whose single stream has
500 steps and 50 problems through the same use cases as the API, creates an API key, then starts
``uvicorn --factory service.api.main:app_from_env --workers N`` and runs

    wrk -t2 -c16 -d10s --latency -H 'Authorization: Bearer ...' http://127.0.0.1:PORT/v1/streams/ID

Every request is authenticated (one indexed key lookup) and reads the stored stream document
(one indexed query); the access log line per request is written as in production (to /dev/null).
Prints requests per second and the 50th/99th percentile latency per configuration.

    .venv/bin/python bench/api_read.py                     # both databases, 1 and 2 processes
    .venv/bin/python bench/api_read.py --databases sqlite --duration 5

PostgreSQL comes from ``VSM_TEST_POSTGRES_URL`` (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from local import api_command, create_schema, drop_schema, free_port

from connectors.dump import load_dump
from service.db.engine import create_db_engine, create_session_factory
from service.db.migrate import upgrade_database
from service.db.tables import RevisionStream
from service.usecases.imports import run_import_job, submit_import
from service.usecases.keys import create_api_key
from testkit.service_dumps import stream_dump

ROOT = Path(__file__).resolve().parent.parent

STEPS = 500
POSTGRES_URL = os.environ.get(
    "VSM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def seed(url: str) -> tuple[str, int, int]:
    """Migrate, import the 500-step board, create a key. Returns (key, stream id, body bytes)."""
    engine = create_db_engine(url, pool_size=1)
    upgrade_database(engine)
    sessions = create_session_factory(engine)
    dump = stream_dump(STEPS, problems=[(i, f"Problem {i} (2)") for i in range(0, STEPS, 10)])
    with sessions() as session:
        new = create_api_key(session, "bench")
        assert new.workspace.id is not None
        job, _ = submit_import(
            session, new.workspace.id, json.dumps(dump).encode(), load_dump(dump)
        )
        session.commit()
        assert job.id is not None
        done = run_import_job(session, job.id)
        assert done is not None
        assert done.status == "succeeded", done.error
        row = session.exec(sa.select(RevisionStream)).first()  # type: ignore[call-overload]
        stream = row[0]
        assert len(stream.data["steps"]) == STEPS
        size = len(json.dumps(stream.data))
    engine.dispose()
    return new.secret, stream.stream_id, size


def serve(url: str, workers: int, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VSM_DATABASE_URL": url, "VSM_LOG_FORMAT": "json"}
    env.pop("VSM_BROKER_URL", None)
    return subprocess.Popen(
        api_command(port, "--workers", str(workers), "--no-access-log", "--log-level", "warning"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_up(base: str, key: str, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (
                httpx.get(base + path, headers={"Authorization": f"Bearer {key}"}).status_code
                == 200
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not come up")


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, key: str, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {key}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": float(errors.group(1)) if errors else 0.0}


def bench_database(name: str, url: str, args: argparse.Namespace) -> list[tuple[str, int, dict]]:
    key, stream_id, size = seed(url)
    print(f"{name}: stream {stream_id} with {STEPS} steps, document {size / 1024:.0f} KiB")
    results = []
    for workers in args.workers:
        port = free_port()
        server = serve(url, workers, port)
        try:
            base = f"http://127.0.0.1:{port}"
            path = f"/v1/streams/{stream_id}"
            wait_up(base, key, path)
            run_wrk(base + path, key, 2, args.connections)  # warm-up: pools, caches
            figures = run_wrk(base + path, key, args.duration, args.connections)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
        results.append((name, workers, figures))
        print(
            f"  {workers} process(es): {figures['rps']:.0f} req/s, "
            f"p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms, "
            f"non-2xx {figures['errors']:.0f}",
            flush=True,
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    results = []
    for name in args.databases:
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                results += bench_database(name, f"sqlite:///{tmp}/bench.db", args)
            continue
        schema, url = create_schema(POSTGRES_URL)
        try:
            results += bench_database(name, url, args)
        finally:
            drop_schema(POSTGRES_URL, schema)
    print("\n| database | API processes | req/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for name, workers, figures in results:
        print(
            f"| {name} | {workers} | {figures['rps']:.0f} | {figures['p50']:.1f} "
            f"| {figures['p99']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
